// The NAT on the packet-rate rig against nftables with connection tracking, same run, arms
// alternating, source NAT and destination NAT, each for established flows (16,384 flows that every
// frame of a run revisits: each frame is a lookup of an existing mapping) and for new flows (every
// frame of a run opens a connection nobody has seen: rule match, port allocation, two session
// entries and a conntrack entry per frame).
//
// Arms: Linux IPv4 forwarding with an nftables `snat` in postrouting or `dnat` in prerouting
// (conntrack on); the plexus router (XDP) with a NAT instance on its outside port's egress (SNAT)
// or on its inside port's ingress (DNAT); and, for scale, both without NAT. Each run configures its
// DUT afresh (fresh tables; the DUT's conntrack entries of earlier runs expire in between: the UDP
// timeout is 1 s in the DUT namespace), every frame is counted at the sink. New-flow runs are
// 150,000 frames, below the conntrack table's 262,144 entries (this kernel's nf_conntrack_max,
// global: not changed here), and the NAT gets the same capacity. The generator varies sources
// fastest, then ports, then destinations: new-flow traffic is chosen so that no two connections of
// a run need the same translated reply tuple (no port search, no clash in either arm).
import { join } from "node:path";
import { buildNfPackage } from "../src/build/build-nf.js";
import { projectRoot } from "../src/build/compile-bpf.js";
import { withNetns } from "../src/testbed/netns.js";
import { alternate, type Arm, type ArmResult, type Comparison } from "./harness.js";
import {
  dutHypervisor,
  FAR_V4,
  RigAccountingError,
  describeRun,
  installFarRoutes,
  withRig,
  type ArmOptions,
  type DutConfig,
  type DutContext,
  type Rig,
  type RunReport,
} from "./rig/index.js";

const ROUNDS = 3;
/** Frames an established-flows DUT sees before its measured run: every flow twice. */
const WARM_FRAMES = 32_768;
const CAPACITY = 262144;
const NEW_FRAMES = 150_000;
type Kind = "snat" | "dnat";
/** SNAT: 16 ports x 1,024 destinations; DNAT: 16 sources x 1,024 ports to one address. */
const ESTABLISHED: Record<Kind, ArmOptions> = {
  snat: { size: 64, flows: { srcPorts: 16, dstAddrs: 1024 } },
  dnat: { size: 64, flows: { srcAddrs: 16, srcPorts: 1024 } },
};
/**
 * No frame of a run repeats a flow. SNAT: 50,000 ports x 3 destinations from one inside host (the
 * outside address keeps each port); DNAT: 200 sources x 750 ports to one address.
 */
const NEW: Record<Kind, ArmOptions> = {
  snat: { size: 64, frames: NEW_FRAMES, flows: { srcPorts: 50_000, dstAddrs: 3 } },
  dnat: { size: 64, frames: NEW_FRAMES, flows: { srcAddrs: 200, srcPorts: 750 } },
};
const OUTSIDE = "198.18.2.254";
/** Where DNAT sends everything addressed to the far prefix (routed on via the sink like the rest). */
const BACKEND = "198.19.255.254";

async function linuxForwarding(dut: DutContext, nat?: Kind): Promise<void> {
  await dut.sysctl({
    "net.ipv4.ip_forward": 1,
    "net.netfilter.nf_conntrack_udp_timeout": 1,
    "net.netfilter.nf_conntrack_udp_timeout_stream": 1,
  });
  await installFarRoutes(dut, 1);
  if (!nat) return;
  dut.defer(() =>
    dut.exec("nft", ["delete", "table", "ip", "pxbench"], { allowFailure: true }).then(() => undefined),
  );
  await dut.exec("nft", ["-f", "-"], {
    input: [
      "table ip pxbench {",
      ...(nat === "snat"
        ? [
            "  chain post {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            `    oifname "${dut.right.ifname}" ip saddr 198.18.1.0/24 snat to ${OUTSIDE}`,
            "  }",
          ]
        : [
            "  chain pre {",
            "    type nat hook prerouting priority dstnat; policy accept;",
            `    iifname "${dut.left.ifname}" ip daddr ${FAR_V4.prefix} dnat to ${BACKEND}`,
            "  }",
          ]),
      "}",
    ].join("\n"),
  });
}

const nftables = (nat?: Kind): DutConfig => ({
  name: nat ? `Linux forwarding + nftables ${nat.toUpperCase()} (conntrack)` : "Linux forwarding",
  layer: 3,
  setup: (dut) => linuxForwarding(dut, nat),
});

/** The plexus router between the DUT's interfaces, with a NAT where the translation belongs. */
const plexus = (nat?: Kind): DutConfig => ({
  name: nat ? `plexus router + nat ${nat.toUpperCase()} (xdp)` : "plexus router (xdp)",
  layer: 3,
  async setup(dut) {
    const hv = await dutHypervisor(dut);
    await withNetns(dut.ns, async () => {
      await hv.createInstance({
        name: "r1",
        type: "router",
        mode: "xdp",
        ports: [
          { name: "p0", peer: dut.left.ifname, config: { ipv4: ["198.18.1.254/24"], mac: dut.left.mac } },
          { name: "p1", peer: dut.right.ifname, config: { ipv4: ["198.18.2.254/24"], mac: dut.right.mac } },
        ],
      });
      await hv.tableAdd("r1", "neigh", { address: dut.sink.ipv4, mac: dut.sink.mac, port: "p1" });
      await hv.tableAdd("r1", "route", { prefix: FAR_V4.prefix, via: dut.sink.ipv4 });
      if (!nat) return;
      await hv.createInstance({
        name: "nat1",
        type: "nat",
        mode: "xdp",
        config: { maxConnections: CAPACITY },
      });
      if (nat === "snat") {
        await hv.attach("nat1", "r1:p1", "egress");
        await hv.tableAdd("nat1", "rules", { id: 10, type: "snat", src: "198.18.1.0/24", to: OUTSIDE });
      } else {
        await hv.attach("nat1", "r1:p0", "ingress");
        await hv.tableAdd("nat1", "rules", { id: 10, type: "dnat", dst: FAR_V4.prefix, to: BACKEND });
      }
    });
  },
});

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

/**
 * An arm whose freshly configured DUT first sees every flow (a run that is not recorded), so that
 * the measured run is made of established flows only, whatever its length.
 */
function warmArm(rig: Rig, config: DutConfig, opts: ArmOptions): Arm {
  const name = opts.name ?? config.name;
  return {
    name,
    run: () =>
      rig.withDut({ ...config, name }, async () => {
        await rig.measure({ ...opts, frames: WARM_FRAMES }, { record: false });
        const failed: RunReport[] = [];
        for (;;) {
          const r = await rig.measure(opts);
          if (r.ok) return r.pps;
          failed.push(r);
          rig.anomalies.push(describeRun(r));
          if (failed.length >= 3)
            throw new RigAccountingError(`${name}: 3 runs in a row did not add up`, failed);
        }
      }),
  };
}

async function measure(rig: Rig): Promise<Comparison[]> {
  const est = (c: DutConfig, k: Kind) =>
    warmArm(rig, c, { ...ESTABLISHED[k], name: `${c.name}, established flows` });
  const fresh = (c: DutConfig, k: Kind) => rig.arm(c, { ...NEW[k], name: `${c.name}, new flows` });
  await alternate(
    [
      est(nftables("snat"), "snat"),
      est(plexus("snat"), "snat"),
      est(nftables("dnat"), "dnat"),
      est(plexus("dnat"), "dnat"),
      est(nftables(), "snat"),
      est(plexus(), "snat"),
      fresh(nftables("snat"), "snat"),
      fresh(plexus("snat"), "snat"),
      fresh(nftables("dnat"), "dnat"),
      fresh(plexus("dnat"), "dnat"),
    ],
    ROUNDS,
  );
  const notes = [
    `64-byte UDP frames; established: 16,384 flows revisited (every flow seen before the measured run); new: ${NEW_FRAMES.toLocaleString("en")} frames per run, each a new connection; ${ROUNDS} alternating rounds, every frame counted at the sink`,
    "target: >= 2x nftables with conntrack (issue 5), in Mpps per CPU-second (the pipeline's own CPU time; wall-clock Mpps on this shared machine also count time other tasks took)",
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  const out: Comparison[] = [];
  for (const [metric, label] of [
    ["ppsPerCpu", "Mpps per CPU-second"],
    ["pps", "Mpps"],
  ] as const) {
    for (const k of ["snat", "dnat"] as const) {
      const n = (s: string) => [`${nftables(k).name}, ${s}`, `${plexus(k).name}, ${s}`];
      const K = k.toUpperCase();
      const scale =
        k === "snat" ? [`${nftables().name}, established flows`, `${plexus().name}, established flows`] : [];
      for (const [what, arms] of [
        ["established flows", [...n("established flows"), ...scale]],
        ["new flows", n("new flows")],
      ] as const) {
        const c = group(rig, `${K}, ${what} (${label})`, arms, metric, out.length ? [] : notes);
        if (metric === "ppsPerCpu") c.target = { arm: arms[1], atLeast: 2 };
        out.push(c);
      }
    }
  }
  return out;
}

export async function run(): Promise<Comparison[]> {
  for (const nf of ["router", "nat"]) await buildNfPackage(join(projectRoot, "nf", nf));
  const cpu = process.env.PLEXUS_RIG_CPU;
  return withRig(measure, {
    cpu: cpu === "none" ? undefined : cpu && cpu !== "auto" ? Number(cpu) : "auto",
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
}
