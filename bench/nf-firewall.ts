// The firewall: what classification costs as rule sets grow, how it forwards against nftables at
// the netdev ingress hook, and how fast a rule set goes in.
//
// 1. Classification alone (BPF_PROG_TEST_RUN with repeat, XDP object, one 64-byte UDP frame): the
//    firewall with 10, 100, 1,000 and 10,000 rules, arms alternating. The frame passes every rule
//    but the last, which accepts it (the default policy drops): what a linear scan would pay in
//    full. Target: 10,000 rules cost close to 10 (the bit-vector search: per-field lookups, one AND
//    of the bitmaps, the first set bit).
// 2. On the packet-rate rig (bench/rig), 64-byte UDP frames gen -> DUT -> sink, 1, 100, 1,000 and
//    10,000 rules, the same rules everywhere: n - 1 that the traffic does not match (source /32 and
//    UDP port: drop) and a last one that takes it. nftables: a netdev ingress chain on the DUT's
//    left interface whose last rule is `fwd to` the right one (the cheapest path nftables has),
//    the n - 1 rules as a linear chain or as one set lookup (`ip saddr . udp dport @blocked`).
//    plexus: a wire between the two interfaces with a firewall on its ingress, conntrack off (the
//    netdev hook is stateless), in xdp and tc modes. Baselines without rules: nftables `fwd` alone
//    and the plexus wire alone. Targets (issue 5): >= 2x nftables at 10 rules (measured here at
//    the nearest sizes, 1 and 100) and >= 5x at 10,000, in Mpps per CPU-second of the pipeline.
// 3. Install time: a whole rule set of 1,000 and 10,000 rules loaded by `nft -f FILE` (chain and
//    set, a fresh table each run) and by the hypervisor (one bulk table add: parse, validate,
//    compile, install the new generation, switch, save the state), in a throw-away namespace.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNfPackage } from "../src/build/build-nf.js";
import { projectRoot } from "../src/build/compile-bpf.js";
import { Hypervisor } from "../src/core/hypervisor.js";
import { mountBpffs } from "../src/testbed/bpffs.js";
import { createNetns, createVeth, deleteNetns, exec, withNetns } from "../src/testbed/netns.js";
import { openFirewall, type FwHarness } from "../tests/nf/firewall/harness.js";
import { frame } from "../tests/nf/firewall/frames.js";
import { alternate, type ArmResult, type Comparison } from "./harness.js";
import { dutHypervisor, withRig, type DutConfig, type DutContext, type Rig } from "./rig/index.js";

const MICRO_SIZES = [10, 100, 1_000, 10_000];
const RIG_SIZES = [1, 100, 1_000, 10_000];
const INSTALL_SIZES = [1_000, 10_000];
const ROUNDS = 3;
const MICRO_REPEAT = 200_000;
/** The rig's traffic: 16 source ports from 198.18.1.1 to UDP port 9 (bench/rig). */
const FLOWS = { srcPorts: 16 };

/** The i-th rule the traffic does not match: a /32 source in 10/8 and a UDP port. */
const miss = (i: number) => ({
  src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  dport: 1000 + (i % 5000),
});

/** n firewall rules: n - 1 misses (drop), then one that accepts the traffic. */
function firewallRules(n: number): Record<string, unknown>[] {
  const rules: Record<string, unknown>[] = [];
  for (let i = 0; i < n - 1; i++) rules.push({ id: i + 1, action: "drop", proto: "udp", ...miss(i) });
  rules.push({ id: n, action: "accept", proto: "udp", src: "198.18.0.0/15", dport: 9 });
  return rules;
}

/** The same rules for nftables, as a netdev ingress chain on `left` that forwards to `right`. */
function nftRuleset(n: number, form: "chain" | "set", left: string, right: string): string {
  const lines = ["table netdev pxfw {"];
  const misses = Array.from({ length: n - 1 }, (_, i) => miss(i));
  if (form === "set") {
    lines.push("  set blocked {", "    type ipv4_addr . inet_service;");
    if (misses.length)
      lines.push(`    elements = { ${misses.map((m) => `${m.src} . ${m.dport}`).join(", ")} }`);
    lines.push("  }");
  }
  lines.push(`  chain in {`, `    type filter hook ingress device "${left}" priority 0; policy drop;`);
  if (form === "set") lines.push("    ip saddr . udp dport @blocked drop");
  else for (const m of misses) lines.push(`    ip saddr ${m.src} udp dport ${m.dport} drop`);
  lines.push(`    ip saddr 198.18.0.0/15 udp dport 9 fwd to "${right}"`, "  }", "}");
  return lines.join("\n") + "\n";
}

// ---- 1. classification alone ----

async function micro(): Promise<Comparison> {
  const mounts: ReturnType<typeof mountBpffs>[] = [];
  const harnesses: FwHarness[] = [];
  const pkt = frame({ src: "198.18.1.1", dst: "198.18.2.1", proto: "udp", sport: 10000, dport: 9 });
  try {
    for (const n of MICRO_SIZES) {
      const fs = mountBpffs();
      mounts.push(fs);
      const h = await openFirewall("xdp", fs.path, { policy: "drop", conntrack: false });
      harnesses.push(h);
      await h.fw.addRules(firewallRules(n));
      if (h.run(pkt).verdict !== "pass") throw new Error(`firewall with ${n} rules did not accept the frame`);
    }
    const arms = MICRO_SIZES.map((n, i) => ({
      name: `${n.toLocaleString("en")} rules`,
      run: () => 1e9 / harnesses[i].t.program.testRun({ data: pkt, repeat: MICRO_REPEAT }).durationNs,
    }));
    const results = await alternate(arms, 5);
    return {
      title: "firewall classification, BPF_PROG_TEST_RUN (packets/s)",
      unit: "pps",
      arms: results,
      baseline: arms[0].name,
      target: { arm: arms.at(-1)?.name ?? "", atLeast: 0.7 },
      notes: [
        `XDP object, one 64-byte UDP frame accepted by the last rule, ${MICRO_REPEAT.toLocaleString("en")} repeats per sample, 5 alternating rounds; target: 10,000 rules within 30% of 10 rules`,
      ],
    };
  } finally {
    for (const h of harnesses) h.close();
    for (const m of mounts) m.cleanup();
  }
}

// ---- 2. on the rig ----

const nftArm = (n: number, form: "chain" | "set" | "fwd"): DutConfig => ({
  name:
    form === "fwd"
      ? "nftables netdev fwd, no rules"
      : `nftables netdev ${form}, ${n.toLocaleString("en")} rules`,
  layer: 2,
  async setup(dut) {
    const text =
      form === "fwd"
        ? nftRuleset(1, "chain", dut.left.ifname, dut.right.ifname)
        : nftRuleset(n, form, dut.left.ifname, dut.right.ifname);
    dut.defer(() =>
      dut.exec("nft", ["delete", "table", "netdev", "pxfw"], { allowFailure: true }).then(() => undefined),
    );
    await dut.exec("nft", ["-f", "-"], { input: text, timeoutMs: 300_000 });
  },
});

/** The plexus wire between the DUT's interfaces, with a firewall of n rules on its ingress. */
const plexusArm = (n: number, mode: "xdp" | "tc"): DutConfig => ({
  name: n
    ? `plexus firewall (${mode}), ${n.toLocaleString("en")} rules`
    : `plexus wire (${mode}), no firewall`,
  layer: 2,
  async setup(dut: DutContext) {
    const hv = await dutHypervisor(dut);
    await withNetns(dut.ns, async () => {
      await hv.createInstance({
        name: "w",
        type: "wire",
        mode,
        ports: [
          { name: "a", peer: dut.left.ifname },
          { name: "b", peer: dut.right.ifname },
        ],
      });
      if (!n) return;
      await hv.createInstance({
        name: "fw",
        type: "firewall",
        mode,
        config: { policy: "drop", conntrack: false },
      });
      await hv.attach("fw", "w:a");
      await hv.tableAddMany("fw", "rules", firewallRules(n));
    });
  },
});

function rigComparisons(rig: Rig): Comparison[] {
  const out: Comparison[] = [];
  const notes = [
    `64-byte UDP frames, ${ROUNDS} alternating rounds, every frame counted at the sink; the traffic passes n - 1 rules and is taken by the last (policy drop); firewall conntrack off (netdev ingress is stateless)`,
    "ratios in Mpps per CPU-second (the pipeline's own CPU time; wall-clock Mpps on this shared machine also count time other tasks took)",
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  for (const [metric, label] of [
    ["ppsPerCpu", "Mpps per CPU-second"],
    ["pps", "Mpps"],
  ] as const) {
    const medians = rig.medians(metric);
    const arm = (name: string): ArmResult => medians.get(name) ?? { name, median: 0, samples: [] };
    for (const n of RIG_SIZES) {
      const names = [
        nftArm(n, "chain").name,
        nftArm(n, "set").name,
        plexusArm(n, "xdp").name,
        plexusArm(n, "tc").name,
      ];
      const c: Comparison = {
        title: `firewall vs nftables, ${n.toLocaleString("en")} rules (${label})`,
        unit: metric === "pps" ? "pps" : "pps/CPU-s",
        arms: names.map(arm),
        baseline: names[0],
        notes: out.length ? [] : notes,
      };
      if (metric === "ppsPerCpu" && n <= 100) c.target = { arm: names[2], atLeast: 2 };
      if (metric === "ppsPerCpu" && n === 10_000) c.target = { arm: names[2], atLeast: 5 };
      out.push(c);
    }
    const base = [nftArm(0, "fwd").name, plexusArm(0, "xdp").name, plexusArm(0, "tc").name];
    out.push({
      title: `forwarding without rules (${label})`,
      unit: metric === "pps" ? "pps" : "pps/CPU-s",
      arms: base.map(arm),
      baseline: base[0],
    });
  }
  return out;
}

async function onRig(): Promise<Comparison[]> {
  const cpu = process.env.PLEXUS_RIG_CPU;
  return withRig(
    async (rig) => {
      const arms = [
        rig.arm(nftArm(0, "fwd"), { flows: FLOWS }),
        rig.arm(plexusArm(0, "xdp"), { flows: FLOWS }),
      ];
      arms.push(rig.arm(plexusArm(0, "tc"), { flows: FLOWS }));
      for (const n of RIG_SIZES)
        arms.push(
          // A 10,000-rule chain forwards a few thousand frames a second: a fixed, small run.
          rig.arm(nftArm(n, "chain"), { flows: FLOWS, ...(n >= 1_000 ? { frames: 20_000 } : {}) }),
          rig.arm(nftArm(n, "set"), { flows: FLOWS }),
          rig.arm(plexusArm(n, "xdp"), { flows: FLOWS }),
          rig.arm(plexusArm(n, "tc"), { flows: FLOWS }),
        );
      await alternate(arms, ROUNDS);
      return rigComparisons(rig);
    },
    {
      cpu: cpu === "none" ? undefined : cpu && cpu !== "auto" ? Number(cpu) : "auto",
      log: (line) => process.stderr.write(`  ${line}\n`),
    },
  );
}

// ---- 3. install time ----

async function install(): Promise<Comparison[]> {
  const ns = await createNetns("fwi");
  const scratch = mkdtempSync(join(tmpdir(), "px-bench-fwi-"));
  const fs = mountBpffs();
  let hv: Hypervisor | undefined;
  try {
    await createVeth({ ns, ifname: "pxa" }, { ns, ifname: "pxb" });
    await exec(ns, "ip", ["link", "set", "pxa", "up"]);
    await exec(ns, "ip", ["link", "set", "pxb", "up"]);
    hv = await withNetns(ns, () => Hypervisor.start({ stateDir: join(scratch, "state"), bpffs: fs.path }));
    const h = hv;
    await withNetns(ns, () =>
      h.createInstance({
        name: "w",
        type: "wire",
        mode: "xdp",
        ports: [
          { name: "a", peer: "pxa" },
          { name: "b", peer: "pxb" },
        ],
      }),
    );
    const out: Comparison[] = [];
    for (const n of INSTALL_SIZES) {
      const files = {
        chain: join(scratch, `chain-${n}.nft`),
        set: join(scratch, `set-${n}.nft`),
      };
      writeFileSync(files.chain, nftRuleset(n, "chain", "pxa", "pxb"));
      writeFileSync(files.set, nftRuleset(n, "set", "pxa", "pxb"));
      const rules = firewallRules(n);
      const nft = (form: "chain" | "set") => ({
        name: `nft -f (${form})`,
        async run() {
          await exec(ns, "nft", ["delete", "table", "netdev", "pxfw"], { allowFailure: true });
          const t = performance.now();
          await exec(ns, "nft", ["-f", files[form]], { timeoutMs: 300_000 });
          return n / ((performance.now() - t) / 1000);
        },
      });
      const plexus = {
        name: "plexus firewall (bulk rules add)",
        run: () =>
          withNetns(ns, async () => {
            await h.createInstance({ name: "fw", type: "firewall", mode: "xdp", config: { policy: "drop" } });
            await h.attach("fw", "w:a");
            const t = performance.now();
            await h.tableAddMany("fw", "rules", rules);
            const rate = n / ((performance.now() - t) / 1000);
            await h.deleteInstance("fw");
            return rate;
          }),
      };
      const arms = [nft("chain"), nft("set"), plexus];
      out.push({
        title: `rule-set install, ${n.toLocaleString("en")} rules (rules/s)`,
        unit: "rules/s",
        arms: await alternate(arms, ROUNDS),
        baseline: arms[0].name,
        notes: out.length
          ? []
          : [
              "time until the whole rule set is in force: nft -f FILE (a process: parse, netlink transaction) against one bulk add through the hypervisor (validate, compile, install the new generation, switch, save the state)",
            ],
      });
      await exec(ns, "nft", ["delete", "table", "netdev", "pxfw"], { allowFailure: true });
    }
    return out;
  } finally {
    try {
      if (hv) await withNetns(ns, () => hv!.destroy());
    } finally {
      fs.cleanup();
      deleteNetns(ns);
      rmSync(scratch, { recursive: true, force: true });
    }
  }
}

export async function run(): Promise<Comparison[]> {
  for (const nf of ["wire", "firewall"]) await buildNfPackage(join(projectRoot, "nf", nf));
  const parts = (process.env.PLEXUS_BENCH_FW ?? "micro,rig,install").split(",");
  const out: Comparison[] = [];
  if (parts.includes("micro")) out.push(await micro());
  if (parts.includes("install")) out.push(...(await install()));
  if (parts.includes("rig")) out.push(...(await onRig()));
  return out;
}
