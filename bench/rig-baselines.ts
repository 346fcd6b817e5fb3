// The packet-rate rig's baselines and ceilings, measured in one run on one rig with the arms
// alternating: the Linux bridge, Linux IPv4 forwarding with 1 and 10,000 routes, a bare
// bpf_fib_lookup() XDP forwarder, a bare TC redirect and a bare XDP redirect between the DUT's two
// interfaces (the ceiling of anything on this rig), plus IPv6 forwarding. 64-byte frames from the
// live-frames generator; every run is checked frame for frame at the sink, and a run that does not
// add up is listed in the notes and never enters a median.
//
// Each comparison is reported twice from the same runs: delivered Mpps (wall clock), and Mpps per
// CPU-second of the pipeline (generator, DUT and sink all run on the calling thread's CPU), which
// other tasks on a shared machine do not drag down. Each run is pinned to the CPU with the least
// other network traffic (PLEXUS_RIG_CPU=N pins to CPU N, =none does not pin).
import { alternate, type ArmResult, type Comparison } from "./harness.js";
import {
  linuxBridge,
  linuxForwarding,
  tcRedirect,
  withRig,
  xdpFibForwarder,
  xdpRedirect,
  type ArmOptions,
  type CpuChoice,
  type Rig,
  type RunReport,
} from "./rig/index.js";

const ROUNDS = 5;
const ROUTES = 10_000;
/** 16 source ports x 1,024 destinations: the 10,000-route FIB is hit on 256 different /30s. */
const TRAFFIC: ArmOptions = { size: 64, flows: { srcPorts: 16, dstAddrs: 1024 } };
const V6: ArmOptions = { ...TRAFFIC, ipv6: true };

const GROUPS: { title: string; arms: string[] }[] = [
  {
    title: "veth rig: L2, Linux bridge baseline",
    arms: [linuxBridge.name, tcRedirect().name, xdpRedirect().name],
  },
  {
    title: "veth rig: IPv4 forwarding, Linux baseline",
    arms: [
      linuxForwarding(1).name,
      linuxForwarding(ROUTES).name,
      xdpFibForwarder(1).name,
      xdpRedirect().name,
    ],
  },
  {
    title: "veth rig: IPv6 forwarding, Linux baseline",
    arms: ["Linux IPv6 forwarding, 1 route", "XDP bpf_fib_lookup forwarder, IPv6, 1 route"],
  },
];

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Where each arm's work ran, how much it waited for a CPU held by other tasks, what it deferred. */
function placement(reports: readonly RunReport[]): string[] {
  const byArm = new Map<string, RunReport[]>();
  for (const r of reports) byArm.set(r.arm, [...(byArm.get(r.arm) ?? []), r]);
  return [...byArm].map(([arm, rs]) => {
    const cpus = (pick: (r: RunReport) => Record<string, number>) =>
      [...new Set(rs.flatMap((r) => Object.keys(pick(r))))].sort().join("+");
    const wait = sum(rs.map((r) => r.cpu.waitSeconds)) / sum(rs.map((r) => r.seconds));
    const deferred = Math.max(...rs.map((r) => r.cpu.deferred));
    const noise = rs.flatMap((r) =>
      r.placed?.otherNetRxPerSecond === undefined ? [] : [r.placed.otherNetRxPerSecond],
    );
    return (
      `${arm}: generator (and inline, in softirq, the DUT) on ${cpus((r) => r.cpus.generator)}, sink on ${cpus((r) => r.cpus.sink)}; ` +
      `waited for a CPU ${(100 * wait).toFixed(0)}% of the time; at most ${(100 * deferred).toFixed(1)}% of the work deferred to ksoftirqd` +
      (noise.length
        ? `; other traffic on the chosen CPU up to ${Math.max(...noise).toFixed(0)} NET_RX softirqs/s`
        : "")
    );
  });
}

async function measure(rig: Rig): Promise<Comparison[]> {
  await alternate(
    [
      rig.arm(linuxBridge, TRAFFIC),
      rig.arm(tcRedirect(), TRAFFIC),
      rig.arm(xdpRedirect(), TRAFFIC),
      rig.arm(linuxForwarding(1), TRAFFIC),
      rig.arm(linuxForwarding(ROUTES), TRAFFIC),
      rig.arm(xdpFibForwarder(1), TRAFFIC),
      rig.arm(linuxForwarding(1), { ...V6, name: "Linux IPv6 forwarding, 1 route" }),
      rig.arm(xdpFibForwarder(1), { ...V6, name: "XDP bpf_fib_lookup forwarder, IPv6, 1 route" }),
    ],
    ROUNDS,
  );
  const runs = rig.reports.filter((r) => r.ok);
  const frames = runs.map((r) => r.frames);
  const notes = [
    `64-byte frames, 16,384 flows (16 source ports x 1,024 destinations); ${ROUNDS} alternating rounds, ` +
      `${runs.length} runs of ${Math.min(...frames).toLocaleString("en")} to ${Math.max(...frames).toLocaleString("en")} frames, every frame counted at the sink`,
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
    ...placement(rig.reports),
  ];
  const out: Comparison[] = [];
  for (const [metric, label] of [
    ["pps", "Mpps"],
    ["ppsPerCpu", "Mpps per CPU-second"],
  ] as const) {
    const medians = rig.medians(metric);
    for (const [i, g] of GROUPS.entries())
      out.push({
        title: `${g.title} (${label})`,
        unit: metric === "pps" ? "pps" : "pps/CPU-s",
        arms: g.arms.map((n) => medians.get(n) as ArmResult),
        baseline: g.arms[0],
        notes: metric === "pps" && i === 0 ? notes : [],
      });
  }
  return out;
}

/** PLEXUS_RIG_CPU: a CPU number, "auto" (the default: the CPU with the least other traffic) or "none". */
function cpuChoice(): CpuChoice | undefined {
  const v = process.env.PLEXUS_RIG_CPU ?? "auto";
  if (v === "none") return undefined;
  if (v === "auto") return "auto";
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`PLEXUS_RIG_CPU=${v}: a CPU number, "auto" or "none"`);
  return n;
}

export async function run(): Promise<Comparison[]> {
  return withRig(measure, { cpu: cpuChoice(), log: (line) => process.stderr.write(`  ${line}\n`) });
}
