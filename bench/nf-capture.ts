// Packet capture on the packet-rate rig, same run, arms alternating: what a capture costs the path
// it watches, and how much of a full-rate stream it records, against tcpdump on the same
// interface. The DUT forwards with the plexus wire NF (port a = the generator's side, b = the
// sink's) under a real plexusd; captures are the real path: a capture instance at w0:a ingress,
// its ring read by the daemon, streamed over HTTP to `plexus capture -w /dev/null`. tcpdump is
// `tcpdump -i LEFT -Q in -w /dev/null` with the same filter, snap length and ring size (4 MiB).
//
// - filter selecting nothing ("udp port 53"; the rig sends UDP to port 9): the cost of filtering
//   every packet on the path (TC; tcpdump's AF_PACKET tap only sees packets the stack receives, so
//   it has no XDP arm), and in XDP;
// - filter selecting every frame ("udp", -s 64): forwarding rate, and frames recorded per second
//   (the tool's own "packets captured" over the run time; what it could not keep it reports as
//   dropped by kernel);
// - the framework's trace hooks (nf/include/plexus.h, per-packet trace) on a path that does not
//   trace: the wire instance running the same C built with the header before they existed.
// 64-byte frames; every frame is counted at the sink (a capture never drops what it watches).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildNfPackage } from "../src/build/build-nf.js";
import { compileBpf, projectRoot } from "../src/build/compile-bpf.js";
import { onExit } from "../src/testbed/on-exit.js";
import { median, type ArmResult, type Comparison } from "./harness.js";
import {
  BenchDaemon,
  describeRun,
  withRig,
  type DutConfig,
  type MeasureOptions,
  type Rig,
  type RunReport,
} from "./rig/index.js";

const ROUNDS = 3;
const TRAFFIC: MeasureOptions = { size: 64, flows: { srcPorts: 16, dstAddrs: 1024 } };
const FRAMES = { tc: 1_000_000, xdp: 1_500_000 };
const NOTHING = "udp port 53";
const EVERYTHING = "udp";
const SNAPLEN = 64;
/** The commit before the per-packet trace was added to plexus.h. */
const HEADER_BEFORE_TRACE = "ff34a22^";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a capture tool said when it stopped (tcpdump's three counters; plexus capture prints the same). */
interface Counted {
  captured: number;
  seen: number;
  dropped: number;
}

function counters(stderr: string): Counted | undefined {
  const m =
    /(\d+) packets? captured\n(\d+) packets? received by filter\n(\d+) packets? dropped by kernel/.exec(
      stderr,
    );
  return m ? { captured: Number(m[1]), seen: Number(m[2]), dropped: Number(m[3]) } : undefined;
}

/** Starts a capture tool; resolves when `ready(stderr)` says it captures. Stopped with SIGINT. */
async function startTool(cmd: string, args: string[], ready: (stderr: string) => Promise<boolean>) {
  const proc = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  onExit(() => proc.kill("SIGKILL"));
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  for (let i = 0; !(await ready(stderr)); i++) {
    if (proc.exitCode !== null || i > 400)
      throw new Error(`${cmd} ${args.join(" ")} did not start: ${stderr}`);
    await sleep(50);
  }
  return {
    stderr: () => stderr,
    async stop(): Promise<Counted | undefined> {
      proc.kill("SIGINT");
      await exited;
      return counters(stderr);
    },
  };
}

type Kind = "plain" | "plexus" | "tcpdump" | "old-header";

interface CaptureArm {
  name: string;
  hook: "tc" | "xdp";
  kind: Kind;
  filter?: string;
  /** Set by the last run's teardown. */
  counted?: Counted;
}

function dutFor(arm: CaptureArm, daemon: BenchDaemon, oldWire: Record<"tc" | "xdp", string>): DutConfig {
  return {
    name: arm.name,
    layer: 2,
    async setup(dut) {
      const api = daemon.api;
      arm.counted = undefined;
      await api.post("/v1/instances", {
        name: "w0",
        type: "wire",
        mode: arm.hook,
        ports: [
          { name: "a", peer: dut.left.ifname },
          { name: "b", peer: dut.right.ifname },
        ],
      });
      dut.defer(() => api.delete("/v1/instances/w0").then(() => undefined));
      if (arm.kind === "old-header")
        await api.call("POST", "/v1/instances/w0/upgrade/object", {
          raw: readFileSync(oldWire[arm.hook]),
          contentType: "application/octet-stream",
        });
      if (arm.kind === "plexus") {
        const tool = await startTool(
          process.execPath,
          [
            join(projectRoot, "bin", "plexus.js"),
            "--socket",
            daemon.socket,
            "capture",
            "w0:a",
            "-Q",
            "in",
            "-s",
            String(SNAPLEN),
            "-w",
            "/dev/null",
            arm.filter ?? "",
          ],
          async () => (await api.get<unknown[]>("/v1/captures")).length === 1,
        );
        dut.defer(async () => {
          arm.counted = await tool.stop();
        });
      }
      if (arm.kind === "tcpdump") {
        const tool = await startTool(
          "ip",
          [
            "netns",
            "exec",
            dut.ns,
            "tcpdump",
            "-i",
            dut.left.ifname,
            "-Q",
            "in",
            "-n",
            "-s",
            String(SNAPLEN),
            "-B",
            "4096",
            "-w",
            "/dev/null",
            arm.filter ?? "",
          ],
          async (stderr) => /listening on/.test(stderr),
        );
        dut.defer(async () => {
          arm.counted = await tool.stop();
        });
      }
    },
  };
}

/** The wire NF built with the framework header as it was before the per-packet trace. */
async function oldWireObjects(): Promise<Record<"tc" | "xdp", string>> {
  const dir = join(projectRoot, ".cache", "bench-capture-old-header");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "plexus.h"),
    execFileSync("git", ["show", `${HEADER_BEFORE_TRACE}:nf/include/plexus.h`], { cwd: projectRoot }),
  );
  const src = join(projectRoot, "nf", "wire", "dataplane.c");
  return {
    tc: await compileBpf(src, { includeDirs: [dir], defines: { PX_HOOK_TC: 1 } }),
    xdp: await compileBpf(src, { includeDirs: [dir], defines: { PX_HOOK_XDP: 1 } }),
  };
}

async function measure(rig: Rig): Promise<Comparison[]> {
  const oldWire = await oldWireObjects();
  const daemon = await BenchDaemon.start(rig.dut.ns);
  const arms: CaptureArm[] = [
    { name: "plexus wire (tc)", hook: "tc", kind: "plain" },
    {
      name: "plexus wire (tc) + plexus capture, selects nothing",
      hook: "tc",
      kind: "plexus",
      filter: NOTHING,
    },
    { name: "plexus wire (tc) + tcpdump, selects nothing", hook: "tc", kind: "tcpdump", filter: NOTHING },
    {
      name: "plexus wire (tc) + plexus capture, every frame",
      hook: "tc",
      kind: "plexus",
      filter: EVERYTHING,
    },
    { name: "plexus wire (tc) + tcpdump, every frame", hook: "tc", kind: "tcpdump", filter: EVERYTHING },
    { name: "plexus wire (xdp)", hook: "xdp", kind: "plain" },
    { name: "plexus wire (xdp), header before the trace hooks", hook: "xdp", kind: "old-header" },
    {
      name: "plexus wire (xdp) + plexus capture, selects nothing",
      hook: "xdp",
      kind: "plexus",
      filter: NOTHING,
    },
    {
      name: "plexus wire (xdp) + plexus capture, every frame",
      hook: "xdp",
      kind: "plexus",
      filter: EVERYTHING,
    },
  ];
  const recorded = new Map<string, number[]>();
  const kept = new Map<string, number[]>();
  const anomalies: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...arms].reverse() : arms;
      for (const arm of order) {
        let report: RunReport | undefined;
        for (let attempt = 0; attempt < 3 && !report?.ok; attempt++) {
          report = await rig.withDut(dutFor(arm, daemon, oldWire), () =>
            rig.measure({ ...TRAFFIC, frames: FRAMES[arm.hook] }),
          );
          if (!report.ok) anomalies.push(describeRun(report));
        }
        if (!report?.ok || arm.kind === "plain" || arm.kind === "old-header") continue;
        const c = arm.counted;
        if (!c) {
          anomalies.push(`${arm.name}: the capture tool printed no counters`);
          continue;
        }
        recorded.set(arm.name, [...(recorded.get(arm.name) ?? []), c.captured / report.seconds]);
        kept.set(arm.name, [...(kept.get(arm.name) ?? []), c.seen ? c.captured / c.seen : 0]);
      }
    }
  } finally {
    await daemon.stop();
  }

  const result = (name: string, samples: number[]): ArmResult => ({ name, median: median(samples), samples });
  const pps = rig.medians("pps");
  const perCpu = rig.medians("ppsPerCpu");
  const armsOf = (m: Map<string, ArmResult>, names: string[]) =>
    names.map((n) => m.get(n) ?? { name: n, median: 0, samples: [] });
  const [tc, tcNothing, tcdNothing, tcAll, tcdAll, xdp, xdpOld, xdpNothing, xdpAll] = arms.map((a) => a.name);
  const keptNote = [tcAll, tcdAll, xdpAll].map(
    (n) =>
      `${n}: ${(100 * median(kept.get(n) ?? [0])).toFixed(1)}% of the frames its filter saw were recorded (median)`,
  );
  const notes = [
    `64-byte frames, 16,384 flows; ${FRAMES.tc.toLocaleString("en")} (tc) / ${FRAMES.xdp.toLocaleString("en")} (xdp) frames per run; ${ROUNDS} alternating rounds; every frame counted at the sink`,
    "captures: plexus capture at w0:a -Q in through plexusd to `plexus capture -w /dev/null`; tcpdump -i LEFT -Q in -B 4096 -w /dev/null; both -s 64. The capture tools run beside the rig's pipeline (the other CPU); Mpps per CPU-second counts the pipeline's CPU only",
    ...keptNote,
    ...(anomalies.length
      ? anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  const out: Comparison[] = [];
  for (const [m, label, unit] of [
    [pps, "Mpps", "pps"],
    [perCpu, "Mpps per CPU-second", "pps/CPU-s"],
  ] as const) {
    out.push(
      {
        title: `capture, filter selecting nothing, tc (${label})`,
        unit,
        arms: armsOf(m, [tcdNothing, tcNothing, tc]),
        baseline: tcdNothing,
        notes: label === "Mpps" ? notes : [],
      },
      {
        title: `capture of every frame, tc (${label})`,
        unit,
        arms: armsOf(m, [tcdAll, tcAll]),
        baseline: tcdAll,
      },
      {
        title: `capture, xdp (${label})`,
        unit,
        arms: armsOf(m, [xdp, xdpNothing, xdpAll, xdpOld]),
        baseline: xdp,
      },
    );
  }
  out.push({
    title: "capture of every frame: frames recorded per second",
    unit: "frames/s",
    arms: [tcdAll, tcAll, xdpAll].map((n) => result(n, recorded.get(n) ?? [0])),
    baseline: tcdAll,
  });
  return out;
}

export async function run(): Promise<Comparison[]> {
  for (const nf of ["wire", "capture"]) await buildNfPackage(join(projectRoot, "nf", nf));
  const cpu = process.env.PLEXUS_RIG_CPU;
  return withRig(measure, {
    cpu: cpu === "none" ? undefined : cpu && cpu !== "auto" ? Number(cpu) : "auto",
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
}
