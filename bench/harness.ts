// Benchmark method shared by every benchmark: arms of one comparison run alternately in the same
// process or rig, several rounds, and each arm is reported by its median. Shared machines are
// noisy; ratios of medians from interleaved runs are what we trust, never absolute timings.

export interface Arm {
  name: string;
  /** Runs the arm once and returns its rate (operations per second, packets per second...). */
  run: () => Promise<number> | number;
}

export interface ArmResult {
  name: string;
  median: number;
  samples: number[];
}

export interface Comparison {
  /** What is compared, e.g. "map lookup". */
  title: string;
  unit: string;
  arms: ArmResult[];
  /** Name of the arm the others are divided by. */
  baseline: string;
  /** Optional target ratio for the first arm against the baseline, e.g. 2 for ">= 2x". */
  target?: { arm: string; atLeast?: number; atMost?: number };
  notes?: string[];
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs every arm `rounds` times, alternating arms (ABAB..., order reversed every round). */
export async function alternate(arms: readonly Arm[], rounds: number): Promise<ArmResult[]> {
  const samples = arms.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const order = arms.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) samples[i].push(await arms[i].run());
  }
  return arms.map((a, i) => ({ name: a.name, median: median(samples[i]), samples: samples[i] }));
}

/** Rate of `fn` in operations per second, running it `ops` times. */
export function opsPerSecond(ops: number, fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0);
  return (ops * 1e9) / ns;
}

export const ratio = (c: Comparison, arm: string): number => {
  const a = c.arms.find((x) => x.name === arm);
  const b = c.arms.find((x) => x.name === c.baseline);
  if (!a || !b) throw new Error(`no arm ${arm} or baseline ${c.baseline} in ${c.title}`);
  return a.median / b.median;
};

const fmt = (x: number): string =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(2);

/** A Markdown table of comparisons: arm, median, ratio to the baseline, target. */
export function markdownTable(comparisons: readonly Comparison[]): string {
  const lines = ["| benchmark | arm | median | ratio to baseline | target |", "|---|---|---|---|---|"];
  for (const c of comparisons) {
    for (const a of c.arms) {
      const r = ratio(c, a.name);
      const t = c.target && c.target.arm === a.name ? targetText(c, r) : "";
      lines.push(`| ${c.title} | ${a.name} | ${fmt(a.median)} ${c.unit} | ${r.toFixed(2)}x | ${t} |`);
    }
  }
  return lines.join("\n");
}

function targetText(c: Comparison, r: number): string {
  const t = c.target;
  if (!t) return "";
  if (t.atLeast !== undefined) return `>= ${+t.atLeast.toFixed(2)}x: ${r >= t.atLeast ? "met" : "NOT met"}`;
  if (t.atMost !== undefined) return `<= ${+t.atMost.toFixed(2)}x: ${r <= t.atMost ? "met" : "NOT met"}`;
  return "";
}

/** A benchmark module exports `run` returning its comparisons. */
export type BenchModule = { run: () => Promise<Comparison[]> };
