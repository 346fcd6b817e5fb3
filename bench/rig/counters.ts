// Interface counters around a run (ethtool -S of the veths plus the kernel's link statistics), so
// that frames missing at the sink are attributed to the hop that lost them instead of guessed at.
import { exec } from "../../src/testbed/netns.js";

export interface IfaceRef {
  /** What this interface is in the rig ("gen", "dut left", ...). */
  role: string;
  ns: string;
  ifname: string;
}

/** Counter name -> value, for one interface. */
export type IfaceCounters = Record<string, number>;

/** Role -> counters. */
export type RigCounters = Record<string, IfaceCounters>;

async function read(ref: IfaceRef): Promise<IfaceCounters> {
  const [ethtool, link] = await Promise.all([
    exec(ref.ns, "ethtool", ["-S", ref.ifname]),
    exec(ref.ns, "ip", ["-s", "-j", "link", "show", "dev", ref.ifname]),
  ]);
  const out: IfaceCounters = {};
  for (const m of ethtool.stdout.matchAll(/^\s+(\w+): (\d+)$/gm)) out[m[1]] = Number(m[2]);
  const [info] = JSON.parse(link.stdout) as {
    stats64: { rx: Record<string, number>; tx: Record<string, number> };
  }[];
  for (const dir of ["rx", "tx"] as const)
    for (const [k, v] of Object.entries(info.stats64[dir])) out[`${dir}_${k}`] = v;
  delete out.peer_ifindex;
  return out;
}

export async function snapshot(ifaces: readonly IfaceRef[]): Promise<RigCounters> {
  const all = await Promise.all(ifaces.map(read));
  return Object.fromEntries(ifaces.map((f, i) => [f.role, all[i]]));
}

/** after - before, keeping only the counters that moved. */
export function delta(before: RigCounters, after: RigCounters): RigCounters {
  const out: RigCounters = {};
  for (const [role, counters] of Object.entries(after)) {
    const moved: IfaceCounters = {};
    for (const [k, v] of Object.entries(counters)) {
      const d = v - (before[role]?.[k] ?? 0);
      if (d !== 0) moved[k] = d;
    }
    out[role] = moved;
  }
  return out;
}

/** The counters that say a frame was lost ("drops", "errors", "dropped"), as "role: name +n" lines. */
export function lossCounters(d: RigCounters, expected: ReadonlySet<string> = new Set()): string[] {
  const lines: string[] = [];
  for (const [role, counters] of Object.entries(d))
    for (const [k, v] of Object.entries(counters))
      if (/drop|err/.test(k) && !expected.has(`${role}:${k}`)) lines.push(`${role}: ${k} +${v}`);
  return lines;
}
