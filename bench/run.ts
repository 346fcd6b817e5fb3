// npm run bench: runs every benchmark module, prints one table, and writes bench-results/
// results.json and results.md with the machine they ran on. `npm run bench -- maps` runs the
// modules whose name contains "maps".
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../src/build/compile-bpf.js";
import { markdownTable, ratio } from "./harness.js";
import type { BenchModule, Comparison } from "./harness.js";

const MODULES: Record<string, () => Promise<BenchModule>> = {
  "bpf-load": () => import("./bpf-load.js"),
  "bpf-maps": () => import("./bpf-maps.js"),
  "bpf-ringbuf": () => import("./bpf-ringbuf.js"),
  "hv-control": () => import("./hv-control.js"),
  "nf-capture": () => import("./nf-capture.js"),
  "nf-nat": () => import("./nf-nat.js"),
  "rig-baselines": () => import("./rig-baselines.js"),
  "vm-engines": () => import("./vm-engines.js"),
  "vm-pcap": () => import("./vm-pcap.js"),
};

const filters = process.argv.slice(2);
const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cpus: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  date: new Date().toISOString(),
};

const results: { module: string; comparisons: Comparison[] }[] = [];
for (const [name, load] of Object.entries(MODULES)) {
  if (filters.length && !filters.some((f) => name.includes(f))) continue;
  process.stderr.write(`bench: ${name}...\n`);
  const comparisons = await (await load()).run();
  results.push({ module: name, comparisons });
  process.stdout.write(`\n${markdownTable(comparisons)}\n`);
}

const all = results.flatMap((r) => r.comparisons);
const md = [
  "# plexus benchmark results",
  "",
  `Machine: ${machine.cpu}, ${machine.cpus} CPUs, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, ${machine.date}.`,
  "Each figure is the median of alternating runs of the arms in the same process or rig; ratios are to the baseline arm.",
  "",
  markdownTable(all),
  "",
  ...all.flatMap((c) => (c.notes ?? []).map((n) => `- ${c.title}: ${n}`)),
  "",
].join("\n");
const dir = join(projectRoot, "bench-results");
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, "results.json"),
  JSON.stringify(
    {
      machine,
      results: results.map((r) => ({
        ...r,
        comparisons: r.comparisons.map((c) => ({
          ...c,
          ratios: Object.fromEntries(c.arms.map((a) => [a.name, ratio(c, a.name)])),
        })),
      })),
    },
    null,
    2,
  ),
);
writeFileSync(join(dir, "results.md"), md);
process.stderr.write(`bench: wrote ${join(dir, "results.md")} and results.json\n`);
