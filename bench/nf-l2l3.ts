// The bridge and the router on the packet-rate rig, under a real plexusd driven through its API,
// against what Linux does on the same rig in the same run (arms alternating, medians):
//
// - L2: plexus bridge in xdp and tc mode vs the Linux bridge (bridge-nf-call-* off), with a bare
//   XDP redirect between the same two interfaces as the rig's ceiling;
// - IPv4: plexus router (xdp, tc) vs Linux forwarding with 1 route, and with 10,000 routes each;
//   a bare bpf_fib_lookup() XDP forwarder as the reference of what an XDP router can reach;
// - IPv6: plexus router (xdp) vs Linux IPv6 forwarding, 1 route.
//
// 64-byte frames, 16,384 flows (16 source ports x 1,024 destinations, so the 10,000-route FIBs
// are hit on 256 different /30s); every run is checked frame for frame at the sink. Targets from
// the issue: bridge >= 2x (xdp) and >= 1x (tc) the Linux bridge; router >= 1.5x (xdp) Linux
// forwarding with 1 and with 10,000 routes. Figures per wall-clock second and per CPU-second of
// the pipeline (which other tasks on a shared machine do not drag down).
import { alternate, type ArmResult, type Comparison } from "./harness.js";
import {
  BenchDaemon,
  FAR_V4,
  FAR_V6,
  linuxBridge,
  linuxForwarding,
  moreSpecific,
  withRig,
  xdpFibForwarder,
  xdpRedirect,
  type ArmOptions,
  type DutConfig,
  type Rig,
} from "./rig/index.js";

const ROUNDS = 5;
const ROUTES = 10_000;
const TRAFFIC: ArmOptions = { size: 64, flows: { srcPorts: 16, dstAddrs: 1024 } };
const V6: ArmOptions = { ...TRAFFIC, ipv6: true };

type Mode = "xdp" | "tc";

function plexusBridge(daemon: BenchDaemon, mode: Mode): DutConfig {
  return {
    name: `plexus bridge (${mode})`,
    layer: 2,
    async setup(dut) {
      const api = daemon.api;
      await api.post("/v1/instances", {
        name: "br0",
        type: "bridge",
        mode,
        ports: [
          { name: "left", peer: dut.left.ifname },
          { name: "right", peer: dut.right.ifname },
        ],
      });
      dut.defer(() => api.delete("/v1/instances/br0").then(() => undefined));
      // As the Linux bridge arm: the sink's MAC is known (a static entry), so nothing floods.
      await api.post("/v1/instances/br0/tables/fdb", { mac: dut.sink.mac, port: "right" });
    },
  };
}

/** The router between the DUT's interfaces with `routes` routes per family, as the Linux arms. */
function plexusRouter(daemon: BenchDaemon, mode: Mode, routes: number): DutConfig {
  return {
    name: `plexus router (${mode}), ${routes.toLocaleString("en")} route${routes === 1 ? "" : "s"}`,
    layer: 3,
    async setup(dut) {
      const api = daemon.api;
      // The ports take the DUT interfaces' own MACs and addresses: the generator sends to them.
      const port = (name: string, e: typeof dut.left) => ({
        name,
        peer: e.ifname,
        config: { mac: e.mac, ipv4: [`${e.ipv4}/${e.prefix4}`], ipv6: [`${e.ipv6}/${e.prefix6}`] },
      });
      await api.post("/v1/instances", {
        name: "r1",
        type: "router",
        mode,
        ports: [port("left", dut.left), port("right", dut.right)],
      });
      dut.defer(() => api.delete("/v1/instances/r1").then(() => undefined));
      // The sink is a permanent neighbour, as it is for the Linux arms.
      for (const address of [dut.sink.ipv4, dut.sink.ipv6])
        await api.post("/v1/instances/r1/tables/neigh", { address, mac: dut.sink.mac, port: "right" });
      const table = [
        { prefix: FAR_V4.prefix as string, via: dut.sink.ipv4 },
        { prefix: FAR_V6.prefix as string, via: dut.sink.ipv6 },
      ];
      for (let i = 0; i < routes - 1; i++) {
        const r = moreSpecific(i);
        table.push({ prefix: r.v4, via: dut.sink.ipv4 }, { prefix: r.v6, via: dut.sink.ipv6 });
      }
      await api.post("/v1/instances/r1/tables/route/bulk", table);
    },
  };
}

interface Group {
  title: string;
  baseline: string;
  arms: string[];
  target: { arm: string; atLeast: number };
}

async function measure(rig: Rig): Promise<Comparison[]> {
  const daemon = await BenchDaemon.start(rig.dut.ns);
  const bridgeXdp = plexusBridge(daemon, "xdp");
  const bridgeTc = plexusBridge(daemon, "tc");
  const r1 = plexusRouter(daemon, "xdp", 1);
  const r1tc = plexusRouter(daemon, "tc", 1);
  const r10k = plexusRouter(daemon, "xdp", ROUTES);
  const r6 = "plexus router (xdp), IPv6, 1 route";
  const lin1 = linuxForwarding(1);
  const lin10k = linuxForwarding(ROUTES);
  const lin6 = "Linux IPv6 forwarding, 1 route";
  const fib = xdpFibForwarder(1);
  try {
    await alternate(
      [
        rig.arm(linuxBridge, TRAFFIC),
        rig.arm(bridgeXdp, TRAFFIC),
        rig.arm(bridgeTc, TRAFFIC),
        rig.arm(xdpRedirect(), TRAFFIC),
        rig.arm(lin1, TRAFFIC),
        rig.arm(r1, TRAFFIC),
        rig.arm(r1tc, TRAFFIC),
        rig.arm(fib, TRAFFIC),
        rig.arm(lin10k, TRAFFIC),
        rig.arm(r10k, TRAFFIC),
        rig.arm(lin1, { ...V6, name: lin6 }),
        rig.arm(r1, { ...V6, name: r6 }),
      ],
      ROUNDS,
    );
  } finally {
    await daemon.stop();
  }
  const groups: Group[] = [
    {
      title: "bridge (xdp) vs the Linux bridge",
      baseline: linuxBridge.name,
      arms: [bridgeXdp.name, xdpRedirect().name, linuxBridge.name],
      target: { arm: bridgeXdp.name, atLeast: 2 },
    },
    {
      title: "bridge (tc) vs the Linux bridge",
      baseline: linuxBridge.name,
      arms: [bridgeTc.name, linuxBridge.name],
      target: { arm: bridgeTc.name, atLeast: 1 },
    },
    {
      title: "router vs Linux forwarding, IPv4, 1 route",
      baseline: lin1.name,
      arms: [r1.name, r1tc.name, fib.name, lin1.name],
      target: { arm: r1.name, atLeast: 1.5 },
    },
    {
      title: "router vs Linux forwarding, IPv4, 10,000 routes",
      baseline: lin10k.name,
      arms: [r10k.name, lin10k.name],
      target: { arm: r10k.name, atLeast: 1.5 },
    },
    {
      title: "router vs Linux forwarding, IPv6, 1 route",
      baseline: lin6,
      arms: [r6, lin6],
      target: { arm: r6, atLeast: 1.5 },
    },
  ];
  const runs = rig.reports.filter((r) => r.ok);
  const notes = [
    `64-byte frames, 16,384 flows; ${ROUNDS} alternating rounds, ${runs.length} runs, every frame counted at the sink`,
    "plexus arms: instances created through plexusd's API in the DUT namespace for each run and deleted after it",
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  const out: Comparison[] = [];
  for (const [metric, label, unit] of [
    ["ppsPerCpu", "Mpps per CPU-second", "pps/CPU-s"],
    ["pps", "Mpps", "pps"],
  ] as const) {
    const m = rig.medians(metric);
    const arm = (n: string): ArmResult => m.get(n) ?? { name: n, median: 0, samples: [] };
    for (const [i, g] of groups.entries())
      out.push({
        title: `${g.title} (${label})`,
        unit,
        arms: g.arms.map(arm),
        baseline: g.baseline,
        target: g.target,
        notes: metric === "ppsPerCpu" && i === 0 ? notes : [],
      });
  }
  return out;
}

export async function run(): Promise<Comparison[]> {
  return withRig(measure, { cpu: "auto", log: (line) => process.stderr.write(`  ${line}\n`) });
}
