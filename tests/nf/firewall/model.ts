// Two models of classification for tests: the rules read literally, one after the other (what a
// user means), and the compiled tables searched the way fw_classify.h does (what the data plane
// computes). The compiler is right when both pick the same rule for every packet.
import { contains, parseIp, type Family } from "../../../nf/firewall/cp/addr.js";
import { Field, metaKey } from "../../../nf/firewall/cp/abi.js";
import { classRules, type CompiledRules, type PrefixTable } from "../../../nf/firewall/cp/compile.js";
import type { RangeSpec, Rule } from "../../../nf/firewall/cp/rules.js";

export interface Packet {
  family: Family;
  src: string;
  dst: string;
  proto: number;
  /** The L4 header is there (ports, ICMP type and code, TCP flags are meaningful). */
  l4: boolean;
  /** Ports, or ICMP type and code. */
  sport: number;
  dport: number;
  flags: number;
  state: number;
  ifindex: number;
}

const inRanges = (s: RangeSpec, v: number) => s.ranges.some(([lo, hi]) => v >= lo && v <= hi) !== s.negate;

/** Whether `r` matches `p`, read literally (`ifindex` resolves interface names). */
export function ruleMatches(r: Rule, p: Packet, ifindex: (name: string) => number | undefined): boolean {
  if (!r.families.includes(p.family)) return false;
  for (const f of ["src", "dst"] as const) {
    const s = r[f];
    if (!s) continue;
    const ip = parseIp(p[f]);
    if (!ip) return false;
    const here = { family: ip.family, addr: ip.addr, len: ip.family === 4 ? 32 : 128 };
    const hit = s.list.some((q) => q.family === p.family && contains(q, here));
    if (hit === s.negate) return false;
  }
  if (r.proto && r.proto.values.includes(p.proto) === r.proto.negate) return false;
  const l4spec = r.sport || r.dport || r.icmpType || r.icmpCode || r.tcpFlags;
  if (l4spec && !p.l4) return false;
  const sp = r.sport ?? r.icmpType;
  const dp = r.dport ?? r.icmpCode;
  if (sp && !inRanges(sp, p.sport)) return false;
  if (dp && !inRanges(dp, p.dport)) return false;
  if (r.tcpFlags && (p.flags & r.tcpFlags.mask) !== r.tcpFlags.value) return false;
  if (r.states !== undefined && !(r.states & (1 << p.state))) return false;
  if (r.iif) {
    const hit = r.iif.names.some((n) => ifindex(n) === p.ifindex);
    if (hit === r.iif.negate) return false;
  }
  return true;
}

/** Indexes (in id order) of the rules that decide and count `p`, read literally. */
export function linearMatch(
  rules: readonly Rule[],
  p: Packet,
  ifindex: (n: string) => number | undefined,
): number[] {
  const sorted = [...rules].sort((a, b) => a.id - b.id);
  const out: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (!ruleMatches(sorted[i], p, ifindex)) continue;
    out.push(i);
    if (sorted[i].action !== "count") break;
  }
  return out;
}

function prefixClass(t: PrefixTable, addr: Buffer, family: Family): number {
  const entries = new Map(t.entries.map((e) => [`${e.len}/${e.addr.toString("hex")}`, e.cls]));
  for (const len of t.lens) {
    const masked = Buffer.from(addr);
    for (let i = 0; i < masked.length; i++) {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      masked[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    }
    const c = entries.get(`${len}/${masked.toString("hex")}`);
    if (c !== undefined) return c;
  }
  void family;
  return t.dflt;
}

const classSets = new WeakMap<CompiledRules, Map<number, Set<number>>>();

function rulesOf(c: CompiledRules, cls: number): Set<number> {
  let m = classSets.get(c);
  if (!m) classSets.set(c, (m = new Map()));
  let s = m.get(cls);
  if (!s) m.set(cls, (s = new Set(cls === 0 ? c.rules.map((_, i) => i) : classRules(c, cls))));
  return s;
}

/** The same through the compiled tables, as the data plane searches them. */
export function compiledMatch(c: CompiledRules, p: Packet): number[] {
  const used = (f: number) => (c.used & (1 << f)) !== 0;
  const cls: number[] = [];
  const v6 = p.family === 6;
  cls.push(used(Field.META) ? c.meta[metaKey(v6, p.l4, p.state, p.proto)] : 0);
  for (const [i, f] of [
    [0, "src"],
    [1, "dst"],
  ] as const) {
    const field = i === 0 ? Field.SRC : Field.DST;
    const ip = parseIp(p[f]);
    if (!used(field) || !ip) cls.push(0);
    else cls.push(prefixClass(v6 ? c.pfx[i].v6 : c.pfx[i].v4, ip.addr, p.family));
  }
  cls.push(used(Field.SPORT) ? c.sport[p.l4 ? p.sport : 0] : 0);
  cls.push(used(Field.DPORT) ? c.dport[p.l4 ? p.dport : 0] : 0);
  cls.push(used(Field.FLAGS) ? c.tcpFlags[p.flags] : 0);
  cls.push(used(Field.IIF) ? (c.iif.entries.get(p.ifindex) ?? c.iif.dflt) : 0);
  const sets = cls.map((k) => rulesOf(c, k));
  const hits = c.rules.map((_, i) => i).filter((i) => sets.every((s) => s.has(i)));
  const out: number[] = [];
  for (const i of hits) {
    out.push(i);
    if (c.rules[i].action !== "count") break;
  }
  return out;
}
