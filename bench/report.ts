// The benchmark report: one JSON file, one Markdown page and one SVG chart of the ratios. Results
// are kept per module with the machine and date they were measured on, so running a subset
// (`npm run bench -- nf-nat`) refreshes those modules and keeps the others' last figures.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { markdownTable, ratio } from "./harness.js";
import type { Comparison } from "./harness.js";

export interface Machine {
  cpu: string;
  cpus: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  date: string;
}

export interface ModuleResult {
  module: string;
  machine: Machine;
  comparisons: (Comparison & { ratios?: Record<string, number> })[];
}

export interface Report {
  modules: ModuleResult[];
}

export function thisMachine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Reads the report in `dir`; a missing or unreadable one (an older format) starts empty. */
export function readReport(dir: string): Report {
  const file = join(dir, "results.json");
  if (!existsSync(file)) return { modules: [] };
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as Partial<Report>;
    return Array.isArray(r.modules) ? { modules: r.modules } : { modules: [] };
  } catch {
    return { modules: [] };
  }
}

/** Replaces the modules measured now, keeps the others, in a stable (name) order. */
export function merge(report: Report, fresh: readonly ModuleResult[]): Report {
  const byName = new Map(report.modules.map((m) => [m.module, m]));
  for (const m of fresh) byName.set(m.module, m);
  return { modules: [...byName.values()].sort((a, b) => a.module.localeCompare(b.module)) };
}

const withRatios = (c: Comparison): ModuleResult["comparisons"][number] => ({
  ...c,
  ratios: Object.fromEntries(c.arms.map((a) => [a.name, ratio(c, a.name)])),
});

export function moduleResult(
  module: string,
  comparisons: readonly Comparison[],
  machine: Machine,
): ModuleResult {
  return { module, machine, comparisons: comparisons.map(withRatios) };
}

const machineLine = (m: Machine): string =>
  `${m.cpu}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, ${m.date.slice(0, 16).replace("T", " ")} UTC`;

export function renderMarkdown(report: Report): string {
  const out = [
    "# plexus benchmark results",
    "",
    "Written by `npm run bench`. Each figure is the median of runs of the arms alternated in the same",
    "process or rig; ratios are to the baseline arm of each comparison. The machines are shared and",
    "noisy, so only same-run ratios are compared, never absolute figures across runs.",
    "",
    "![ratios to baseline](chart.svg)",
    "",
  ];
  for (const m of report.modules) {
    out.push(
      `## ${m.module}`,
      "",
      `Measured on: ${machineLine(m.machine)}.`,
      "",
      markdownTable(m.comparisons),
      "",
    );
    const notes = m.comparisons.flatMap((c) => (c.notes ?? []).map((n) => `- ${c.title}: ${n}`));
    if (notes.length) out.push(...notes, "");
  }
  return out.join("\n");
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * A horizontal bar chart of every non-baseline arm's ratio, on a log scale so that 0.2x and 30x
 * both read; the 1x line is the baseline, a tick marks the target where one is set.
 */
export function renderChart(report: Report): string {
  interface Row {
    header?: string;
    label: string;
    ratio: number;
    target?: number;
    met?: boolean;
  }
  const rows: Row[] = [];
  for (const m of report.modules)
    for (const c of m.comparisons) {
      const bars: Row[] = [];
      for (const a of c.arms) {
        if (a.name === c.baseline) continue;
        const r = ratio(c, a.name);
        if (!Number.isFinite(r) || r <= 0) continue;
        const t = c.target?.arm === a.name ? (c.target.atLeast ?? c.target.atMost) : undefined;
        const met =
          t === undefined
            ? undefined
            : c.target?.atLeast !== undefined
              ? r >= t
              : r <= (c.target?.atMost ?? r);
        bars.push({ label: a.name, ratio: r, target: t, met });
      }
      // One header row per comparison (its title and baseline), then one bar per other arm.
      if (bars.length)
        rows.push({ header: `${c.title} — baseline: ${c.baseline}`, label: "", ratio: 1 }, ...bars);
    }
  const fit = (text: string, chars: number) => (text.length > chars ? `${text.slice(0, chars - 1)}…` : text);
  const labelW = 480;
  const plotW = 420;
  const rowH = 17;
  const top = 30;
  const height = top + rows.length * rowH + 30;
  const bars = rows.filter((r) => !r.header);
  const lo = Math.min(0.1, ...bars.map((b) => b.ratio / 1.2));
  const hi = Math.max(10, ...bars.map((b) => Math.max(b.ratio, b.target ?? 0) * 1.2));
  const x = (v: number): number => labelW + (plotW * Math.log(v / lo)) / Math.log(hi / lo);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 80}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="18" font-size="13" font-weight="bold">plexus benchmarks: ratio to baseline (log scale; green: target met, red: missed, grey: no target; tick: target)</text>`,
  ];
  for (const tick of [0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000].filter((t) => t >= lo && t <= hi)) {
    const tx = x(tick).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${height - 24}" stroke="${tick === 1 ? "#333" : "#ddd"}"/>`,
      `<text x="${tx}" y="${height - 10}" text-anchor="middle">${tick}x</text>`,
    );
  }
  rows.forEach((b, i) => {
    const y = top + i * rowH;
    if (b.header) {
      parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${esc(fit(b.header, 150))}</text>`);
      return;
    }
    const x0 = x(Math.min(1, b.ratio));
    const x1 = x(Math.max(1, b.ratio));
    const fill = b.met === undefined ? "#9aa5b1" : b.met ? "#2f9e44" : "#e03131";
    parts.push(
      `<text x="${labelW - 6}" y="${y + 12}" text-anchor="end">${esc(fit(b.label, 78))}</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowH - 6}" fill="${fill}"/>`,
      `<text x="${(x(Math.max(1, b.ratio)) + 4).toFixed(1)}" y="${y + 12}">${b.ratio.toFixed(2)}x</text>`,
    );
    if (b.target !== undefined) {
      const tx = x(b.target).toFixed(1);
      parts.push(
        `<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowH - 1}" stroke="black" stroke-width="2"/>`,
      );
    }
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}

export function writeReport(dir: string, report: Report): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(dir, "README.md"), renderMarkdown(report));
  writeFileSync(join(dir, "chart.svg"), renderChart(report));
}
