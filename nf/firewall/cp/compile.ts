// Compiles an ordered rule set into the data plane's lookup tables (see fw_abi.h): for every field,
// the values packets can have fall into classes, each the set of rules that match such a value
// (a bit per rule, in order); classes with the same set are one class. Port fields are split into
// elementary intervals by the rules' range boundaries, prefixes become the longest-prefix classes
// of a trie walked from short to long prefixes, and small domains (family, protocol, connection
// state, TCP flags) are enumerated. Pure: no kernel, no I/O.
import { contains, type Family, type Prefix } from "./addr.js";
import {
  Action,
  BLOCK_RULES,
  BLOCKS,
  CT_STATE_NAMES,
  Field,
  GEN_BLOCKS,
  GEN_CLASSES,
  GEN_IIF,
  GEN_PFX4,
  GEN_PFX6,
  GenFlag,
  MAX_COUNT_CHAIN,
  MAX_RULES,
  META_KEYS,
  Reject,
} from "./abi.js";
import { REJECT_WITH, type RangeSpec, type Rule } from "./rules.js";

export class CompileError extends Error {
  override name = "CompileError";
}

const WORDS_PER_BLOCK = BLOCK_RULES / 32;

/** A set of rule indexes as 32-bit words. */
type Bits = Uint32Array;

const setBit = (b: Bits, i: number) => (b[i >>> 5] |= 1 << (i & 31));
const clearBit = (b: Bits, i: number) => (b[i >>> 5] &= ~(1 << (i & 31)));
const hasBit = (b: Bits, i: number) => (b[i >>> 5] & (1 << (i & 31))) !== 0;

export interface ClassRecord {
  /** Bit b of the summary (lo: blocks 0-31, hi: 32-63): block b has rules of the class. */
  lo: number;
  hi: number;
  /** Local index of its first non-empty block. */
  base: number;
}

/** A random word per rule: a set's hash is the XOR of its rules' words, updated bit by bit. */
const ZOBRIST = (() => {
  const z = new Uint32Array(MAX_RULES);
  let x = 0x9e3779b9;
  for (let i = 0; i < MAX_RULES; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    z[i] = x >>> 0;
  }
  return z;
})();

export function setHash(bits: Bits): number {
  let h = 0;
  for (let w = 0; w < bits.length; w++) {
    let v = bits[w];
    while (v) {
      const t = v & -v;
      h ^= ZOBRIST[w * 32 + 31 - Math.clz32(t)];
      v ^= t;
    }
  }
  return h >>> 0;
}

const toggle = (h: number, i: number): number => (h ^ ZOBRIST[i]) >>> 0;

/** Classes and their blocks, deduplicated by content. Class 0 is every rule (blocks 0..63). */
export class ClassPool {
  readonly classes: ClassRecord[] = [];
  /** 8 words per block. */
  blocks = new Uint32Array(BLOCKS * WORDS_PER_BLOCK * 4);
  nblocks = 0;
  private readonly byHash = new Map<number, number[]>();

  constructor(readonly nwords: number) {
    this.blocks.fill(0xffffffff, 0, BLOCKS * WORDS_PER_BLOCK);
    this.nblocks = BLOCKS;
    this.classes.push({ lo: 0xffffffff, hi: 0xffffffff, base: 0 });
  }

  /** Whether class `cls` holds exactly the rules of `bits`. */
  private equals(cls: number, bits: Bits): boolean {
    const rec = this.classes[cls];
    let k = rec.base;
    for (let b = 0, from = 0; from < bits.length; b++, from += WORDS_PER_BLOCK) {
      const to = Math.min(from + WORDS_PER_BLOCK, bits.length);
      const has = b < 32 ? (rec.lo >>> b) & 1 : (rec.hi >>> (b - 32)) & 1;
      if (has) {
        const at = k * WORDS_PER_BLOCK - from;
        for (let i = from; i < to; i++) if (this.blocks[at + i] !== bits[i]) return false;
        k++;
      } else for (let i = from; i < to; i++) if (bits[i]) return false;
    }
    return true;
  }

  /** The class of `bits` (a new one unless an equal set has one); `hash` is setHash(bits). */
  add(bits: Bits, hash = setHash(bits)): number {
    const bucket = this.byHash.get(hash);
    if (bucket) for (const cls of bucket) if (this.equals(cls, bits)) return cls;
    if (this.classes.length >= GEN_CLASSES)
      throw new CompileError(
        `the rule set needs more than ${GEN_CLASSES.toLocaleString("en")} distinct classes of values: use fewer distinct addresses and ports, or fewer rules`,
      );
    let lo = 0;
    let hi = 0;
    const base = this.nblocks;
    for (let b = 0, from = 0; from < bits.length; b++, from += WORDS_PER_BLOCK) {
      const to = Math.min(from + WORDS_PER_BLOCK, bits.length);
      let any = 0;
      for (let i = from; i < to; i++) any |= bits[i];
      if (!any) continue;
      if (b < 32) lo |= 1 << b;
      else hi |= 1 << (b - 32);
      if (this.nblocks >= GEN_BLOCKS)
        throw new CompileError(
          `the rule set needs more than ${GEN_BLOCKS.toLocaleString("en")} rule blocks: use fewer distinct addresses and ports, or fewer rules`,
        );
      if ((this.nblocks + 1) * WORDS_PER_BLOCK > this.blocks.length) {
        const grown = new Uint32Array(this.blocks.length * 2);
        grown.set(this.blocks);
        this.blocks = grown;
      }
      this.blocks.set(bits.subarray(from, to), this.nblocks * WORDS_PER_BLOCK);
      this.nblocks++;
    }
    const cls = this.classes.length;
    this.classes.push({ lo: lo >>> 0, hi: hi >>> 0, base });
    if (bucket) bucket.push(cls);
    else this.byHash.set(hash, [cls]);
    return cls;
  }
}

export interface PrefixEntry {
  len: number;
  addr: Buffer;
  cls: number;
}

export interface PrefixTable {
  entries: PrefixEntry[];
  /** Lengths to try, longest first. */
  lens: number[];
  /** Class of an address no entry holds. */
  dflt: number;
}

export interface CompiledRules {
  rules: Rule[];
  /** 1 << Field for every field some rule looks at. */
  used: number;
  flags: number;
  /** Local class indexes (class 0: every rule). */
  meta: Uint32Array;
  sport: Uint32Array;
  dport: Uint32Array;
  tcpFlags: Uint32Array;
  iif: { entries: Map<number, number>; dflt: number };
  /** [src, dst]. */
  pfx: { v4: PrefixTable; v6: PrefixTable }[];
  pool: ClassPool;
  actions: { action: number; reject: number }[];
  /** Interfaces rules name that do not exist now (such iif elements match nothing). */
  missingInterfaces: string[];
}

export interface CompileOptions {
  /** ifindex of an interface in the daemon's namespace, or undefined. */
  ifindex(name: string): number | undefined;
}

const ACTION_CODES = { accept: Action.ACCEPT, drop: Action.DROP, reject: Action.REJECT, count: Action.COUNT };

/** Compiles rules (any order: sorted by id here) into lookup tables. */
export function compileRules(input: readonly Rule[], opts: CompileOptions): CompiledRules {
  const rules = [...input].sort((a, b) => a.id - b.id);
  const n = rules.length;
  if (n > MAX_RULES)
    throw new CompileError(
      `${n.toLocaleString("en")} rules are more than the ${MAX_RULES.toLocaleString("en")} a firewall holds`,
    );
  for (let i = 1; i < n; i++)
    if (rules[i].id === rules[i - 1].id) throw new CompileError(`two rules have id ${rules[i].id}`);
  const counting = rules.filter((r) => r.action === "count");
  if (counting.length > MAX_COUNT_CHAIN - 1)
    throw new CompileError(
      `${counting.length} count rules (ids ${counting
        .slice(0, 10)
        .map((r) => r.id)
        .join(
          ", ",
        )}${counting.length > 10 ? ", ..." : ""}) are more than the ${MAX_COUNT_CHAIN - 1} a rule set may have: every rule counts its packets anyway`,
    );
  const nwords = Math.max(1, Math.ceil(n / 32));
  const pool = new ClassPool(nwords);
  const empty = () => new Uint32Array(nwords);
  const bitsOf = (pred: (r: Rule, i: number) => boolean): Bits => {
    const b = empty();
    rules.forEach((r, i) => pred(r, i) && setBit(b, i));
    return b;
  };
  let used = 0;

  // ---- meta: family, L4 header present, connection state, protocol ----
  const metaSig = (r: Rule) =>
    JSON.stringify([
      r.families,
      r.proto ?? null,
      r.states ?? null,
      Boolean(r.sport || r.dport || r.icmpType || r.icmpCode || r.tcpFlags),
    ]);
  const groups = new Map<string, { rule: Rule; bits: Bits }>();
  rules.forEach((r, i) => {
    const s = metaSig(r);
    let g = groups.get(s);
    if (!g) groups.set(s, (g = { rule: r, bits: empty() }));
    setBit(g.bits, i);
  });
  const meta = new Uint32Array(META_KEYS);
  const metaWild = (r: Rule) =>
    r.families.length === 2 &&
    !r.proto &&
    r.states === undefined &&
    !(r.sport || r.dport || r.icmpType || r.icmpCode || r.tcpFlags);
  if (rules.some((r) => !metaWild(r))) {
    used |= 1 << Field.META;
    const list = [...groups.values()];
    const bySig = new Map<string, number>();
    for (let key = 0; key < META_KEYS; key++) {
      const fam: Family = key & 4096 ? 6 : 4;
      const l4 = (key & 2048) !== 0;
      const state = (key >> 8) & 7;
      const proto = key & 255;
      const hit: number[] = [];
      list.forEach((g, gi) => {
        const r = g.rule;
        if (!r.families.includes(fam)) return;
        if (r.proto && r.proto.values.includes(proto) === r.proto.negate) return;
        if (r.states !== undefined && (state >= CT_STATE_NAMES.length || !(r.states & (1 << state)))) return;
        if (!l4 && (r.sport || r.dport || r.icmpType || r.icmpCode || r.tcpFlags)) return;
        hit.push(gi);
      });
      const sig = hit.join(",");
      let cls = bySig.get(sig);
      if (cls === undefined) {
        const b = empty();
        for (const gi of hit) for (let w = 0; w < nwords; w++) b[w] |= list[gi].bits[w];
        cls = pool.add(b);
        bySig.set(sig, cls);
      }
      meta[key] = cls;
    }
  }

  // ---- ports (or ICMP type and code): elementary intervals ----
  const sweep = (field: number, specOf: (r: Rule) => RangeSpec | undefined): Uint32Array => {
    const out = new Uint32Array(65536);
    const specs = rules.map(specOf);
    if (specs.every((s) => !s)) return out;
    used |= 1 << field;
    const events = new Map<number, { rule: number; delta: number }[]>();
    const at = (pos: number) => {
      let l = events.get(pos);
      if (!l) events.set(pos, (l = []));
      return l;
    };
    const cur = empty();
    specs.forEach((s, i) => {
      if (!s || s.negate) setBit(cur, i); // wildcards, and negated specs until a range covers
      if (!s) return;
      for (const [lo, hi] of s.ranges) {
        at(lo).push({ rule: i, delta: 1 });
        if (hi < 65535) at(hi + 1).push({ rule: i, delta: -1 });
      }
    });
    const count = new Int32Array(n);
    const positions = [...events.keys()].sort((a, b) => a - b);
    let hash = setHash(cur);
    let pos = 0;
    for (const p of positions) {
      if (p > pos) out.fill(pool.add(cur, hash), pos, p);
      for (const e of events.get(p) ?? []) {
        count[e.rule] += e.delta;
        const want = count[e.rule] > 0 !== specs[e.rule]?.negate;
        if (want !== hasBit(cur, e.rule)) {
          if (want) setBit(cur, e.rule);
          else clearBit(cur, e.rule);
          hash = toggle(hash, e.rule);
        }
      }
      pos = p;
    }
    out.fill(pool.add(cur, hash), pos, 65536);
    return out;
  };
  const sport = sweep(Field.SPORT, (r) => r.sport ?? r.icmpType);
  const dport = sweep(Field.DPORT, (r) => r.dport ?? r.icmpCode);

  // ---- TCP flags ----
  const tcpFlags = new Uint32Array(256);
  if (rules.some((r) => r.tcpFlags)) {
    used |= 1 << Field.FLAGS;
    const bySig = new Map<string, number>();
    for (let v = 0; v < 256; v++) {
      const b = bitsOf((r) => !r.tcpFlags || (v & r.tcpFlags.mask) === r.tcpFlags.value);
      const sig = b.join(",");
      let cls = bySig.get(sig);
      if (cls === undefined) bySig.set(sig, (cls = pool.add(b)));
      tcpFlags[v] = cls;
    }
  }

  // ---- ingress interface ----
  const missing = new Set<string>();
  const iif = { entries: new Map<number, number>(), dflt: 0 };
  if (rules.some((r) => r.iif)) {
    used |= 1 << Field.IIF;
    const indexes = rules.map((r) => {
      const set = new Set<number>();
      for (const name of r.iif?.names ?? []) {
        const i = opts.ifindex(name);
        if (i === undefined) missing.add(name);
        else set.add(i);
      }
      return set;
    });
    const all = new Set(indexes.flatMap((s) => [...s]));
    if (all.size > GEN_IIF)
      throw new CompileError(
        `rules name ${all.size} interfaces, more than the ${GEN_IIF} a firewall tells apart`,
      );
    iif.dflt = pool.add(bitsOf((r) => !r.iif || r.iif.negate));
    for (const ifindex of all)
      iif.entries.set(
        ifindex,
        pool.add(bitsOf((r, i) => !r.iif || indexes[i].has(ifindex) !== r.iif.negate)),
      );
  }

  // ---- prefixes ----
  const prefixTable = (field: "src" | "dst", fam: Family): PrefixTable => {
    const wild = empty();
    const negs = empty();
    /** Map key of a prefix: a number for IPv4 (length and address), hex text for IPv6. */
    const keyOf = (len: number, addr: Uint8Array): string | number =>
      fam === 4
        ? len * 0x100000000 + (((addr[0] << 24) | (addr[1] << 16) | (addr[2] << 8) | addr[3]) >>> 0)
        : `${len}/${Buffer.from(addr).toString("hex")}`;
    const byKey = new Map<string | number, { p: Prefix; pos: number[]; neg: number[] }>();
    rules.forEach((r, i) => {
      if (!r.families.includes(fam)) return;
      const s = r[field];
      if (!s) return void setBit(wild, i);
      const mine = s.list.filter((p) => p.family === fam);
      if (mine.some((p) => p.len === 0)) {
        if (!s.negate) setBit(wild, i); // positive /0: every address; negated /0: none
        return;
      }
      if (s.negate) setBit(negs, i);
      for (const p of mine) {
        const k = keyOf(p.len, p.addr);
        let e = byKey.get(k);
        if (!e) byKey.set(k, (e = { p, pos: [], neg: [] }));
        (s.negate ? e.neg : e.pos).push(i);
      }
    });
    const dfltBits = empty();
    for (let w = 0; w < nwords; w++) dfltBits[w] = wild[w] | negs[w];
    const dfltHash = setHash(dfltBits);
    const dflt = pool.add(dfltBits, dfltHash);
    const table: PrefixTable = { entries: [], lens: [], dflt };
    if (!byKey.size) return table;
    // Address order, shorter first on ties: a prefix comes right before the prefixes inside it, so
    // a stack of the prefixes around the current one gives its parent.
    const sorted = [...byKey.values()].sort(
      (a, b) => Buffer.compare(a.p.addr, b.p.addr) || a.p.len - b.p.len,
    );
    const stack: { p: Prefix; bits: Bits; hash: number; cls: number }[] = [];
    const flipped: number[] = [];
    sorted.forEach((e, k) => {
      while (stack.length && !contains(stack[stack.length - 1].p, e.p)) stack.pop();
      const parent = stack[stack.length - 1];
      // Prefixes with more specific ones inside get their own copy; the others (most /32s) borrow
      // their parent's set and put it back.
      const inner = k + 1 < sorted.length && contains(e.p, sorted[k + 1].p);
      const from = parent?.bits ?? dfltBits;
      const bits = inner ? from.slice() : from;
      let hash = parent?.hash ?? dfltHash;
      flipped.length = 0;
      for (const i of e.pos)
        if (!hasBit(bits, i)) {
          setBit(bits, i);
          hash = toggle(hash, i);
          flipped.push(i);
        }
      for (const i of e.neg)
        if (hasBit(bits, i)) {
          clearBit(bits, i);
          hash = toggle(hash, i);
          flipped.push(i);
        }
      const cls = pool.add(bits, hash);
      if (inner) stack.push({ p: e.p, bits, hash, cls });
      else for (const i of flipped) bits[i >>> 5] ^= 1 << (i & 31);
      // An entry with its parent's class changes nothing: the lookup falls through to the parent.
      if (cls !== (parent?.cls ?? dflt)) table.entries.push({ len: e.p.len, addr: e.p.addr, cls });
    });
    table.lens = [...new Set(table.entries.map((x) => x.len))].sort((a, b) => b - a);
    return table;
  };
  const pfx: CompiledRules["pfx"] = [];
  for (const field of ["src", "dst"] as const) {
    if (rules.some((r) => r[field])) used |= 1 << (field === "src" ? Field.SRC : Field.DST);
    pfx.push({ v4: prefixTable(field, 4), v6: prefixTable(field, 6) });
  }
  const v4 = pfx[0].v4.entries.length + pfx[1].v4.entries.length;
  const v6 = pfx[0].v6.entries.length + pfx[1].v6.entries.length;
  if (v4 > GEN_PFX4)
    throw new CompileError(
      `the rule set needs ${v4.toLocaleString("en")} IPv4 prefix entries, more than ${GEN_PFX4.toLocaleString("en")}`,
    );
  if (v6 > GEN_PFX6)
    throw new CompileError(
      `the rule set needs ${v6.toLocaleString("en")} IPv6 prefix entries, more than ${GEN_PFX6.toLocaleString("en")}`,
    );

  return {
    rules,
    used,
    flags: counting.length ? GenFlag.COUNT_RULES : 0,
    meta,
    sport,
    dport,
    tcpFlags,
    iif,
    pfx,
    pool,
    actions: rules.map((r) => ({
      action: ACTION_CODES[r.action],
      reject: r.rejectWith ? REJECT_WITH[r.rejectWith] : Reject.AUTO,
    })),
    missingInterfaces: [...missing].sort(),
  };
}

/** Rule indexes of class `cls` (for tests and diagnostics). */
export function classRules(c: CompiledRules, cls: number): number[] {
  const rec = c.pool.classes[cls];
  const out: number[] = [];
  let k = rec.base;
  for (let b = 0; b < BLOCKS; b++) {
    if (!((b < 32 ? rec.lo >>> b : rec.hi >>> (b - 32)) & 1)) continue;
    for (let j = 0; j < BLOCK_RULES; j++) {
      const idx = b * BLOCK_RULES + j;
      if (idx < c.rules.length && hasBit(c.pool.blocks.subarray(k * WORDS_PER_BLOCK), j)) out.push(idx);
    }
    k++;
  }
  return out;
}
