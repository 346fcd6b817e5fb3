// Type lookups by name straight from the raw BTF records and string table, decoding only the
// types that match. Types are bucketed by the first bytes of their name (cheap to build over the
// kernel's 100k+ types: no full name is read); a lookup compares whole names in its bucket.
// Besides exact names it finds "essential" names, as libbpf's CO-RE candidate search compares
// them (bpf_core_essential_name_len: the name without its last `___flavor` suffix).
import type { BtfTypeSection } from "./parse.js";
import type { BtfStrings } from "./strings.js";

const UNDERSCORE = 0x5f;
/** Name bytes that make the bucket key. */
const KEY_BYTES = 4;
const encoder = new TextEncoder();

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

/** The up to KEY_BYTES first bytes of bytes[at..at+len), packed. */
function keyOf(bytes: Uint8Array, at: number, len: number): number {
  let k = 0;
  for (let i = 0; i < KEY_BYTES && i < len; i++) k = (k << 8) | bytes[at + i];
  return k;
}

export class RawNameIndex {
  /** Bucket -> first own type index (id - firstTypeId) of its chain, -1 when empty. */
  private readonly heads: Int32Array;
  /** Own type index -> next own type index of its bucket (ascending ids), -1 at the end. */
  private readonly next: Int32Array;
  private readonly shift: number;

  constructor(private readonly sec: BtfTypeSection) {
    const { words, offsets, strings } = sec;
    const n = offsets.length;
    let bits = 4;
    while (1 << bits < n) bits++;
    const shift = 32 - bits;
    this.shift = shift;
    const heads = new Int32Array(1 << bits).fill(-1);
    const next = new Int32Array(n);
    // From the last type down, so that every chain runs in ascending id order.
    for (let i = n - 1; i >= 0; i--) {
      const nameOff = words[offsets[i]];
      if (nameOff === 0) continue;
      const table = strings.tableOf(nameOff) as BtfStrings;
      const bytes = table.bytes;
      const at = nameOff - table.start;
      let k = 0;
      for (let j = 0, c = bytes[at]; j < KEY_BYTES && c !== 0; c = bytes[at + ++j]) k = (k << 8) | c;
      if (k === 0) continue; // the empty name
      const b = Math.imul(k, 0x9e3779b1) >>> shift;
      next[i] = heads[b];
      heads[b] = i;
    }
    this.heads = heads;
    this.next = next;
  }

  /**
   * Ids (ascending) of own types named `name` (`exact`), or whose essential name is `name`'s
   * essential name.
   */
  lookup(name: string, exact: boolean): number[] {
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
    for (const b of buckets)
      for (let i = this.heads[b]; i >= 0; i = this.next[i])
        if (this.matches(i, q, qLen, exact)) out.push(this.sec.firstTypeId + i);
    return buckets.length > 1 ? out.sort((a, b) => a - b) : out;
  }

  private bucket(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
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
