// The NAT on the packet-rate rig against nftables with connection tracking, same run, arms
// alternating: source NAT of traffic routed from the generator's subnet towards the far prefix, for
// established flows (16,384 flows that every frame of a run revisits: each frame is a lookup of an
// existing mapping) and for new flows (every frame of a run opens a connection nobody has seen:
// rule match, port allocation, two session entries and a conntrack entry per frame).
//
// Arms: Linux IPv4 forwarding with an nftables `snat` in postrouting (conntrack on); the plexus
// router (XDP) with a NAT instance on its outside port's egress; and, for scale, both without NAT.
// Each run configures its DUT afresh (fresh tables; the DUT's conntrack entries of earlier runs
// expire in between: the UDP timeout is 1 s in the DUT namespace), every frame is counted at the
// sink. New-flow runs are 150,000 frames, below the conntrack table's 262,144 entries (this
// kernel's nf_conntrack_max, global: not changed here), and the NAT gets the same capacity.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hypervisor } from "../src/core/hypervisor.js";
import { buildNfPackage } from "../src/build/build-nf.js";
import { projectRoot } from "../src/build/compile-bpf.js";
import { mountBpffs } from "../src/testbed/bpffs.js";
import { withNetns } from "../src/testbed/netns.js";
import { alternate, type ArmResult, type Comparison } from "./harness.js";
import {
  FAR_V4,
  installFarRoutes,
  withRig,
  type ArmOptions,
  type DutConfig,
  type DutContext,
  type Rig,
} from "./rig/index.js";

const ROUNDS = 5;
const CAPACITY = 262144;
const NEW_FRAMES = 150_000;
const ESTABLISHED: ArmOptions = { size: 64, flows: { srcPorts: 16, dstAddrs: 1024 } };
/** 200 sources x 50,000 ports x 100 destinations: no frame of a run repeats a flow. */
const NEW: ArmOptions = {
  size: 64,
  frames: NEW_FRAMES,
  flows: { srcAddrs: 200, srcPorts: 50_000, dstAddrs: 100 },
};
const OUTSIDE = "198.18.2.254";

async function linuxForwarding(dut: DutContext, nat: boolean): Promise<void> {
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
      "  chain post {",
      "    type nat hook postrouting priority srcnat; policy accept;",
      `    oifname "${dut.right.ifname}" ip saddr 198.18.1.0/24 snat to ${OUTSIDE}`,
      "  }",
      "}",
    ].join("\n"),
  });
}

const nftables = (nat: boolean): DutConfig => ({
  name: nat ? "Linux forwarding + nftables SNAT (conntrack)" : "Linux forwarding",
  layer: 3,
  setup: (dut) => linuxForwarding(dut, nat),
});

/** The plexus router between the DUT's interfaces, with a NAT on the outside port's egress. */
const plexus = (nat: boolean): DutConfig => ({
  name: nat ? "plexus router + nat (xdp)" : "plexus router (xdp)",
  layer: 3,
  async setup(dut) {
    const fs = mountBpffs();
    dut.defer(() => fs.cleanup());
    const stateDir = mkdtempSync(join(tmpdir(), "px-bench-nat-"));
    dut.defer(() => rmSync(stateDir, { recursive: true, force: true }));
    const hv = await withNetns(dut.ns, () => Hypervisor.start({ stateDir, bpffs: fs.path }));
    dut.defer(() => withNetns(dut.ns, () => hv.destroy()));
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
      await hv.attach("nat1", "r1:p1", "egress");
      await hv.tableAdd("nat1", "rules", { id: 10, type: "snat", src: "198.18.1.0/24", to: OUTSIDE });
    });
  },
});

function group(
  rig: Rig,
  title: string,
  arms: string[],
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
  await alternate(
    [
      est(nftables(true)),
      est(plexus(true)),
      est(nftables(false)),
      est(plexus(false)),
      fresh(nftables(true)),
      fresh(plexus(true)),
    ],
    ROUNDS,
  );
  const notes = [
    `64-byte UDP frames; established: 16,384 flows revisited; new: ${NEW_FRAMES.toLocaleString("en")} frames per run, each a new connection; ${ROUNDS} alternating rounds, every frame counted at the sink`,
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  const out: Comparison[] = [];
  for (const [metric, label] of [
    ["pps", "Mpps"],
    ["ppsPerCpu", "Mpps per CPU-second"],
  ] as const) {
    const n = (s: string) => [`${nftables(true).name}, ${s}`, `${plexus(true).name}, ${s}`];
    out.push(
      group(
        rig,
        `NAT, established flows (${label})`,
        [
          ...n("established flows"),
          `${nftables(false).name}, established flows`,
          `${plexus(false).name}, established flows`,
        ],
        metric,
        metric === "pps" ? notes : [],
      ),
      group(rig, `NAT, new flows (${label})`, n("new flows"), metric, []),
    );
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
