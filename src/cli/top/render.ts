// One frame of `plexus top`: instances sorted by packet rate, each followed by its ports (also by
// rate), with rates, totals and drops; drops highlighted in red when colour is on, marked with "!"
// when it is not. Pure: a StatsJson in, lines out.
import type { StatsJson } from "../../api/routes/stats.js";

export interface RenderOptions {
  /** ANSI colour and bold (off with NO_COLOR or when stdout is not a terminal). */
  color: boolean;
  /** Terminal width; lines are cut there (0: no limit). */
  width?: number;
}

type Instance = StatsJson["instances"][number];
type Rate = Instance["rxRate"];

const ESC = "\x1b[";
const paint = (on: boolean, code: string, s: string) => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

/** 1234567 -> "1.23M": three significant digits, SI prefixes. */
export function si(n: number): string {
  const a = Math.abs(n);
  for (const [f, p] of [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ] as const)
    if (a >= f) return `${(n / f).toPrecision(3)}${p}`;
  return a >= 100 || a === 0 || Number.isInteger(n) ? String(Math.round(n)) : n.toPrecision(2);
}

const bits = (bytesPerSecond: number) => `${si(bytesPerSecond * 8)}b/s`;
const pps = (r: Rate) => r.packets;

interface Row {
  cells: string[];
  /** Drops happening now (rate) or ever (total). */
  dropping: boolean;
  dropped: boolean;
  instance: boolean;
}

const HEAD = [
  "NAME",
  "TYPE",
  "MODE",
  "RX PPS",
  "TX PPS",
  "RX BIT/S",
  "TX BIT/S",
  "DROP/S",
  "RX PKTS",
  "TX PKTS",
  "DROPS",
];

function instanceDrops(i: Instance): number {
  return Object.values(i.drops).reduce((s, n) => s + n, 0);
}

export function renderTop(s: StatsJson, opts: RenderOptions): string[] {
  const { color } = opts;
  const rows: Row[] = [];
  const byRate = <T extends { rxRate: Rate; txRate: Rate; name: string }>(a: T, b: T) =>
    pps(b.rxRate) + pps(b.txRate) - (pps(a.rxRate) + pps(a.txRate)) || a.name.localeCompare(b.name);
  for (const i of [...s.instances].sort(byRate)) {
    const dropRate = i.rxRate.drops + i.txRate.drops;
    const drops = instanceDrops(i);
    rows.push({
      instance: true,
      dropping: dropRate > 0,
      dropped: drops > 0,
      cells: [
        i.name,
        i.type,
        i.mode,
        si(i.rxRate.packets),
        si(i.txRate.packets),
        bits(i.rxRate.bytes),
        bits(i.txRate.bytes),
        si(dropRate),
        si(i.rx.packets),
        si(i.tx.packets),
        si(drops),
      ],
    });
    for (const p of [...i.ports].sort(byRate)) {
      const pDropRate = p.rxRate.drops + p.txRate.drops;
      const pDrops = p.rx.drops + p.tx.drops;
      rows.push({
        instance: false,
        dropping: pDropRate > 0,
        dropped: pDrops > 0,
        cells: [
          `  ${p.name}`,
          p.peer ? `-> ${p.peer}` : "(no peer)",
          "",
          si(p.rxRate.packets),
          si(p.txRate.packets),
          bits(p.rxRate.bytes),
          bits(p.txRate.bytes),
          si(pDropRate),
          si(p.rx.packets),
          si(p.tx.packets),
          si(pDrops),
        ],
      });
    }
  }
  const widths = HEAD.map((h, c) => Math.max(h.length, ...rows.map((r) => r.cells[c].length)));
  // Names and peers left-aligned, numbers right-aligned.
  const line = (cells: readonly string[]) =>
    cells.map((x, c) => (c < 3 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join("  ");
  const cut = (l: string) => (opts.width && l.length > opts.width ? l.slice(0, opts.width) : l);

  const total = s.instances.reduce((t, i) => t + i.rxRate.packets, 0);
  const header = [
    `plexus top  ${s.time.replace("T", " ").replace(/\.\d+Z$/, "Z")}  ${s.instances.length} instance${s.instances.length === 1 ? "" : "s"}  ${si(total)} pps in  rates over ${(s.intervalMs / 1000).toFixed(1)} s`,
    programLine(s),
  ];
  const out = [...header.map(cut), "", paint(color, "1", cut(line(HEAD)))];
  for (const r of rows) {
    // Without colour, a "!" at the end of the line marks drops happening now.
    const text = cut(line(r.cells) + (!color && r.dropping ? "  !" : ""));
    if (r.dropping) out.push(paint(color, "1;31", text));
    else if (r.dropped) out.push(paint(color, "33", text));
    else out.push(r.instance ? paint(color, "1", text) : text);
  }
  if (!s.instances.length) out.push("no instances (create one with: plexus create TYPE NAME)");
  const reasons = s.instances.flatMap((i) =>
    Object.entries(i.drops).map(([reason, n]) => `${i.name}:${reason}=${si(n)}`),
  );
  if (reasons.length) out.push("", cut(`drops by reason: ${reasons.join("  ")}`));
  return out;
}

/** The data plane's program statistics: runs per second and time per run of the entry stubs. */
function programLine(s: StatsJson): string {
  if (!s.programStats) return "program statistics: off";
  const stubs = s.programs.filter((p) => p.instance === undefined && p.runs > 0);
  const runs = stubs.reduce((t, p) => t + p.runs, 0);
  const ns = stubs.reduce((t, p) => t + p.runTimeNs, 0);
  const rate = stubs.reduce((t, p) => t + p.runsPerSecond, 0);
  return `data plane: ${si(rate)} runs/s, ${runs ? Math.round(ns / runs) : 0} ns/run on average (entry stubs and the instances they call)`;
}
