// npm run bench: runs every benchmark module, prints its table, and updates the report in
// docs/benchmarks/ (results.json, README.md with the machine, chart.svg; see report.ts).
// `npm run bench -- maps` runs the modules whose name contains "maps" and keeps the other
// modules' last figures. PLEXUS_BENCH_OUT=DIR writes the report elsewhere.
import { join } from "node:path";
import { projectRoot } from "../src/build/compile-bpf.js";
import { markdownTable } from "./harness.js";
import type { BenchModule } from "./harness.js";
import { merge, moduleResult, readReport, thisMachine, writeReport } from "./report.js";
import type { ModuleResult } from "./report.js";

const MODULES: Record<string, () => Promise<BenchModule>> = {
  "bpf-load": () => import("./bpf-load.js"),
  "bpf-maps": () => import("./bpf-maps.js"),
  "bpf-ringbuf": () => import("./bpf-ringbuf.js"),
  "hv-control": () => import("./hv-control.js"),
  "nf-capture": () => import("./nf-capture.js"),
  "nf-ddos": () => import("./nf-ddos.js"),
  "nf-firewall": () => import("./nf-firewall.js"),
  "nf-l2l3": () => import("./nf-l2l3.js"),
  "nf-loadbalancer": () => import("./nf-loadbalancer.js"),
  "nf-nat": () => import("./nf-nat.js"),
  "obs-overhead": () => import("./obs-overhead.js"),
  "rig-baselines": () => import("./rig-baselines.js"),
  "vm-engines": () => import("./vm-engines.js"),
  "vm-pcap": () => import("./vm-pcap.js"),
};

const filters = process.argv.slice(2);
const unknown = filters.filter((f) => !Object.keys(MODULES).some((n) => n.includes(f)));
if (unknown.length) {
  process.stderr.write(
    `bench: no module matches ${unknown.join(", ")}; modules: ${Object.keys(MODULES).join(", ")}\n`,
  );
  process.exit(2);
}
const dir = process.env.PLEXUS_BENCH_OUT ?? join(projectRoot, "docs", "benchmarks");

const fresh: ModuleResult[] = [];
for (const [name, load] of Object.entries(MODULES)) {
  if (filters.length && !filters.some((f) => name.includes(f))) continue;
  process.stderr.write(`bench: ${name}...\n`);
  const comparisons = await (await load()).run();
  fresh.push(moduleResult(name, comparisons, thisMachine()));
  process.stdout.write(`\n${markdownTable(comparisons)}\n`);
  // Written after every module, so a long run that is cut short keeps what it measured.
  writeReport(dir, merge(readReport(dir), fresh));
}
process.stderr.write(`bench: wrote ${join(dir, "README.md")}, results.json and chart.svg\n`);
