// The load balancer on the packet-rate rig against nftables DNAT with connection tracking, same
// run, arms alternating, for established flows (16,384 flows that every frame of a run revisits:
// each frame is one connection-table lookup and a rewrite) and for new flows (every frame of a run
// opens a connection nobody has seen: Maglev pick and two connection entries per frame).
//
// Arms: Linux IPv4 forwarding with an nftables `dnat` in prerouting that spreads connections over
// four backends by a hash of the tuple (`jhash ... mod 4 map`, conntrack on), and the plexus load
// balancer (XDP, DNAT mode) with a UDP service on the same VIP and the same four backends. The
// backends are addresses of the far prefix, routed via the sink (which counts every frame; it never
// answers, so only the client direction is measured). Each run configures its DUT afresh (fresh
// tables; conntrack's UDP timeout is 1 s in the DUT namespace, so earlier runs' entries are gone).
// New-flow runs are 150,000 frames, below the conntrack table's 262,144 entries (this kernel's
// nf_conntrack_max); the load balancer's connection table has the same capacity (524,288 entries,
// two per DNAT connection). With a table a quarter that size, evictions in the LRU made a new
// connection about 15% dearer.
import { join } from "node:path";
import { buildNfPackage } from "../src/build/build-nf.js";
import { projectRoot } from "../src/build/compile-bpf.js";
import { withNetns } from "../src/testbed/netns.js";
import { alternate, type ArmResult, type Comparison } from "./harness.js";
import {
  dutHypervisor,
  FAR_V4,
  RIG_DPORT,
  installFarRoutes,
  withRig,
  type ArmOptions,
  type DutConfig,
  type Rig,
} from "./rig/index.js";

const ROUNDS = 5;
const NEW_FRAMES = 150_000;
const VIP = FAR_V4.first;
const BACKENDS = ["198.19.255.1", "198.19.255.2", "198.19.255.3", "198.19.255.4"];
/** 16 sources x 1,024 ports to the VIP. */
const ESTABLISHED: ArmOptions = { size: 64, flows: { srcAddrs: 16, srcPorts: 1024 } };
/** 200 sources x 750 ports: no frame of a run repeats a flow. */
const NEW: ArmOptions = { size: 64, frames: NEW_FRAMES, flows: { srcAddrs: 200, srcPorts: 750 } };

const nftables: DutConfig = {
  name: "Linux forwarding + nftables DNAT jhash to 4 backends (conntrack)",
  layer: 3,
  async setup(dut) {
    await dut.sysctl({
      "net.ipv4.ip_forward": 1,
      "net.netfilter.nf_conntrack_udp_timeout": 1,
      "net.netfilter.nf_conntrack_udp_timeout_stream": 1,
    });
    await installFarRoutes(dut, 1);
    dut.defer(() =>
      dut.exec("nft", ["delete", "table", "ip", "pxbench"], { allowFailure: true }).then(() => undefined),
    );
    const map = BACKENDS.map((b, i) => `${i} : ${b}`).join(", ");
    await dut.exec("nft", ["-f", "-"], {
      input: [
        "table ip pxbench {",
        "  chain pre {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        `    iifname "${dut.left.ifname}" ip daddr ${VIP} udp dport ${RIG_DPORT} dnat to jhash ip saddr . udp sport mod ${BACKENDS.length} map { ${map} }`,
        "  }",
        "}",
      ].join("\n"),
    });
  },
};

const plexus: DutConfig = {
  name: "plexus loadbalancer DNAT (xdp)",
  layer: 3,
  async setup(dut) {
    const hv = await dutHypervisor(dut);
    await withNetns(dut.ns, async () => {
      await hv.createInstance({
        name: "lb",
        type: "loadbalancer",
        mode: "xdp",
        ports: [
          { name: "in", peer: dut.left.ifname },
          { name: "out", peer: dut.right.ifname },
        ],
      });
      await hv.tableAdd("lb", "services", { name: "bench", vip: VIP, proto: "udp", port: RIG_DPORT });
      await hv.tableAddMany(
        "lb",
        "backends",
        BACKENDS.map((b) => ({ service: "bench", backend: b, mac: dut.sink.mac, via: "out" })),
      );
    });
  },
};

function group(
  rig: Rig,
  title: string,
  arms: readonly string[],
  metric: "pps" | "ppsPerCpu",
  notes: string[],
): Comparison {
  const medians = rig.medians(metric);
  return {
    title,
    unit: metric === "pps" ? "pps" : "pps/CPU-s",
    arms: arms.map((n) => medians.get(n) ?? { name: n, median: 0, samples: [] }) as ArmResult[],
    baseline: arms[0],
    notes,
  };
}

async function measure(rig: Rig): Promise<Comparison[]> {
  const est = (c: DutConfig) => rig.arm(c, { ...ESTABLISHED, name: `${c.name}, established flows` });
  const fresh = (c: DutConfig) => rig.arm(c, { ...NEW, name: `${c.name}, new flows` });
  await alternate([est(nftables), est(plexus), fresh(nftables), fresh(plexus)], ROUNDS);
  const notes = [
    `64-byte UDP frames to one VIP, 4 backends; established: 16,384 flows revisited; new: ${NEW_FRAMES.toLocaleString("en")} frames per run, each a new connection; ${ROUNDS} alternating rounds, every frame counted at the sink`,
    "target: >= 2x nftables DNAT with conntrack (issue 5), in Mpps per CPU-second (the pipeline's own CPU time; wall-clock Mpps on this shared machine also count time other tasks took)",
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  const out: Comparison[] = [];
  for (const [metric, label] of [
    ["ppsPerCpu", "Mpps per CPU-second"],
    ["pps", "Mpps"],
  ] as const) {
    for (const what of ["established flows", "new flows"] as const) {
      const arms = [`${nftables.name}, ${what}`, `${plexus.name}, ${what}`];
      const c = group(rig, `Load balancer, ${what} (${label})`, arms, metric, out.length ? [] : notes);
      if (metric === "ppsPerCpu") c.target = { arm: arms[1], atLeast: 2 };
      out.push(c);
    }
  }
  return out;
}

export async function run(): Promise<Comparison[]> {
  await buildNfPackage(join(projectRoot, "nf", "loadbalancer"));
  const cpu = process.env.PLEXUS_RIG_CPU;
  return withRig(measure, {
    cpu: cpu === "none" ? undefined : cpu && cpu !== "auto" ? Number(cpu) : "auto",
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
}
