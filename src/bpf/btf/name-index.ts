// Type lookups by name straight from the raw BTF records and string table, decoding only the
// types that match. Types are chained in buckets keyed by the first bytes of their name (cheap
// to build over the kernel's 100k+ types, and built by parse's pass over the records: no full
// name is read); a lookup compares whole names in its bucket. Besides exact names it finds
// "essential" names, as libbpf's CO-RE candidate search compares them
// (bpf_core_essential_name_len: the name without its last `___flavor` suffix).
import type { BtfTypeSection } from "./parse.js";
import type { BtfStrings } from "./strings.js";

const UNDERSCORE = 0x5f;
/** Name bytes that make the bucket key. */
const KEY_BYTES = 4;
/** Multiplier that spreads keys over buckets (Fibonacci hashing). */
export const NAME_HASH = 0x9e3779b1;
const encoder = new TextEncoder();

/**
 * Own types chained by name key: bucket -> head, type index -> next (descending ids, -1 ends).
 * Functions (four in five named kernel types) have chains of their own, built on the first
 * lookup that wants them: CO-RE's candidates never are functions.
 */
export interface NameChains {
  /** Every named type but functions. */
  readonly heads: Int32Array;
  /** Functions, once a lookup wanted them. */
  funcHeads?: Int32Array;
  /** By own type index (id - firstTypeId), for both; set by the pass that fills `heads`. */
  next: Int32Array;
  /** Bucket of a key: Math.imul(key, NAME_HASH) >>> shift. */
  readonly shift: number;
}

/** BTF_KIND_FUNC. */
export const FUNC_KIND = 12;

/** Empty chains for a type section of `typeLen` bytes. */
export function newNameChains(typeLen: number): NameChains {
  // Kernel records average about 24 bytes; a bucket per two of them is plenty.
  let bits = 4;
  while (1 << bits < typeLen / 48) bits++;
  return { heads: new Int32Array(1 << bits).fill(-1), next: new Int32Array(0), shift: 32 - bits };
}

/** Key of `len` bytes at bytes[at...]: the first KEY_BYTES of them, packed. parse inlines this. */
function keyOf(bytes: Uint8Array, at: number, len: number): number {
  let k = 0;
  for (let i = 0; i < KEY_BYTES && i < len; i++) k = (k << 8) | bytes[at + i];
  return k;
}

/** Key of the name at string offset `off` (0 for the empty name). */
export function nameKey(strings: BtfStrings, off: number): number {
  const table = strings.tableOf(off) as BtfStrings;
  const at = off - table.start;
  const end = table.bytes.indexOf(0, at);
  return keyOf(table.bytes, at, (end < 0 ? table.bytes.length : end) - at);
}

/** Length of the essential part of the NUL-terminated name at bytes[at..end). */
export function essentialLength(bytes: Uint8Array, at: number, end: number): number {
  for (let i = end - 5; i >= at; i--)
    if (
      bytes[i] !== UNDERSCORE &&
      bytes[i + 1] === UNDERSCORE &&
      bytes[i + 2] === UNDERSCORE &&
      bytes[i + 3] === UNDERSCORE &&
      bytes[i + 4] !== UNDERSCORE
    )
      return i + 1 - at;
  return end - at;
}

export class RawNameIndex {
  private readonly chains: NameChains;

  constructor(private readonly sec: BtfTypeSection) {
    if (!sec.names) throw new Error("RawNameIndex needs a lazily parsed type section");
    this.chains = sec.names;
  }

  /**
   * Ids (ascending) of own types named `name` (`exact`), or whose essential name is `name`'s
   * essential name; functions only with `funcs`.
   */
  lookup(name: string, exact: boolean, funcs: boolean): number[] {
    const q = encoder.encode(name);
    const qLen = exact ? q.length : essentialLength(q, 0, q.length);
    if (qLen === 0) return [];
    const buckets = [this.bucket(keyOf(q, 0, qLen))];
    // A flavored name of a short essential name starts with its `___`: another bucket.
    if (!exact && qLen < KEY_BYTES) {
      const flavored = new Uint8Array(KEY_BYTES).fill(UNDERSCORE);
      flavored.set(q.subarray(0, qLen));
      const b = this.bucket(keyOf(flavored, 0, KEY_BYTES));
      if (b !== buckets[0]) buckets.push(b);
    }
    const out: number[] = [];
    const { next } = this.chains;
    const heads = funcs ? [this.chains.heads, this.funcHeads()] : [this.chains.heads];
    for (const h of heads)
      for (const b of buckets)
        for (let i = h[b]; i >= 0; i = next[i])
          if (this.matches(i, q, qLen, exact)) out.push(this.sec.firstTypeId + i);
    return out.sort((a, b) => a - b);
  }

  /** The functions' chains, built on first use (a pass over the records, reading function names). */
  private funcHeads(): Int32Array {
    if (this.chains.funcHeads) return this.chains.funcHeads;
    const { words, offsets, strings } = this.sec;
    const { next, shift } = this.chains;
    const heads = new Int32Array(this.chains.heads.length).fill(-1);
    for (let i = offsets.length - 1; i >= 0; i--) {
      const at = offsets[i];
      if (
        ((words[at + 1] >>> 24) & 0x1f) !== FUNC_KIND ||
        words[at] === 0 ||
        strings.tableOf(words[at]) === undefined
      )
        continue;
      const key = nameKey(strings, words[at]);
      if (key === 0) continue;
      const b = Math.imul(key, NAME_HASH) >>> shift;
      next[i] = heads[b];
      heads[b] = i;
    }
    this.chains.funcHeads = heads;
    return heads;
  }

  private bucket(key: number): number {
    return Math.imul(key, NAME_HASH) >>> this.chains.shift;
  }

  private matches(i: number, q: Uint8Array, qLen: number, exact: boolean): boolean {
    const { words, offsets, strings } = this.sec;
    const nameOff = words[offsets[i]];
    const table = strings.tableOf(nameOff) as BtfStrings;
    const bytes = table.bytes;
    const at = nameOff - table.start;
    for (let k = 0; k < qLen; k++) if (bytes[at + k] !== q[k]) return false;
    if (exact) return bytes[at + qLen] === 0;
    // `foo___v2` is no candidate for `foo___v2___x`: its own essential name is `foo`.
    return essentialLength(bytes, at, bytes.indexOf(0, at + qLen)) === qLen;
  }
}
