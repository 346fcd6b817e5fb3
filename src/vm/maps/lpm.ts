// LPM_TRIE: longest-prefix match on keys { u32 prefixlen; u8 data[] }. The prefixes live in
// JavaScript maps, one per prefix length in use, so a lookup tries only the lengths present,
// longest first; values live in the linear memory, where programs read and write them.
import { UpdateFlags } from "../../bpf/constants.js";
import { EEXIST, EINVAL, ENOENT, ENOSPC } from "../../bpf/sys/errno.js";
import type { Region } from "../regions.js";
import { VmMap, round8 } from "./base.js";
import type { MapHost, VmMapOptions } from "./base.js";
import { MapHeader } from "./header.js";

/** The open-addressing table the JIT's lpmFind() probes (keys of at most 4 bytes). */
export const LPM_EMPTY = 0xffffffff;
export const LPM_TOMBSTONE = 0xfffffffe;
export const LPM_ENTRY = 16;

/** Hash of a masked prefix and its length: the same in lpm.ts and the runtime module. */
export function lpmHash(key: number, len: number): number {
  let h = Math.imul(key ^ Math.imul(len + 1, 0x9e3779b9 | 0), 0x85ebca6b | 0);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Entry {
  prefixLen: number;
  /** The key's data as it was given. */
  data: Buffer;
  slot: number;
}

export class LpmTrieMap extends VmMap {
  readonly dataSize: number;
  readonly maxPrefix: number;
  readonly values: number;
  readonly stride: number;
  readonly region: Region;
  readonly #byLen = new Map<number, Map<string | number, Entry>>();
  /** Prefix lengths in use, longest first. */
  #lens: number[] = [];
  /** Value slots freed by deletes; slots from #fresh up were never used. */
  readonly #free: number[] = [];
  #fresh = 0;
  #count = 0;
  /** Keys of at most 4 bytes are numbers; #masks[len] keeps the first len bits of 32. */
  readonly #small: boolean;
  readonly #masks: Uint32Array;
  /** Small keys: the table in the linear memory, its capacity and entries in use (with tombstones). */
  #table = 0;
  #cap = 0;
  #used = 0;
  /** Small keys: u32 count then one byte per length in use, longest first. */
  #lensArr = 0;

  constructor(host: MapHost, o: VmMapOptions) {
    super(host, o);
    this.dataSize = o.keySize - 4;
    this.maxPrefix = this.dataSize * 8;
    this.stride = round8(o.valueSize);
    this.values = host.mem.alloc(this.stride * o.maxEntries, 8);
    this.#small = this.dataSize <= 4;
    this.#masks = Uint32Array.from({ length: 33 }, (_, l) => (l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0));
    if (this.#small) {
      this.#lensArr = host.mem.alloc(40, 8);
      this.setHeader(MapHeader.ELEMS, this.#lensArr);
      this.setHeader(MapHeader.VALUE_OFFSET, this.values);
      this.#rehash();
    }
    this.region = host.regions.add({
      kind: "map-value",
      name: `values of map '${o.name ?? ""}'`,
      lo: this.values,
      hi: this.values + this.stride * o.maxEntries,
      stride: this.stride,
      span: o.valueSize,
      writable: true,
    });
  }

  /**
   * The first `len` bits of the key data at addr, as a JavaScript map key: a 32-bit number for
   * keys of up to 4 bytes (IPv4: the common case, kept monomorphic and fast), else a string.
   */
  #prefix(addr: number, len: number): string | number {
    const u8 = this.mem.u8;
    if (this.#small) {
      let v = 0;
      for (let i = 0; i < 4; i++) v = (v << 8) | (i < this.dataSize ? u8[addr + i] : 0);
      return (v & this.#masks[len]) >>> 0;
    }
    const full = len >> 3;
    let s = "";
    for (let i = 0; i < full; i++) s += String.fromCharCode(u8[addr + i]);
    const rest = len & 7;
    if (rest) s += String.fromCharCode(u8[addr + full] & (0xff << (8 - rest)) & 0xff);
    return s;
  }

  // ---- the table of small keys ------------------------------------------------------------------

  #syncLens(): void {
    const u8 = this.mem.u8;
    this.mem.u32[this.#lensArr >> 2] = this.#lens.length;
    this.#lens.forEach((l, i) => (u8[this.#lensArr + 4 + i] = l));
  }

  /**
   * Allocates a table sized for the prefixes in use (it grows with them: tries of a million
   * entries are common, and mostly empty) and re-inserts every prefix (tombstones go away).
   */
  #rehash(): void {
    let cap = 16;
    while (cap < 4 * this.#count) cap *= 2;
    if (!this.#table || this.#cap !== cap) {
      this.#table = this.mem.alloc(cap * LPM_ENTRY, 8);
      this.#cap = cap;
    }
    const u32 = this.mem.u32;
    for (let i = 0; i < cap; i++) u32[((this.#table + i * LPM_ENTRY) >> 2) + 1] = LPM_EMPTY;
    this.#used = 0;
    this.setHeader(MapHeader.DATA, this.#table);
    this.setHeader(MapHeader.MASK, cap - 1);
    for (const [len, m] of this.#byLen) for (const [key, e] of m) this.#tablePut(key as number, len, e.slot);
  }

  #tablePut(key: number, len: number, slot: number): void {
    const u32 = this.mem.u32;
    const mask = this.#cap - 1;
    for (let i = lpmHash(key, len) & mask; ; i = (i + 1) & mask) {
      const w = (this.#table + i * LPM_ENTRY) >> 2;
      if (u32[w + 1] === LPM_EMPTY || u32[w + 1] === LPM_TOMBSTONE) {
        if (u32[w + 1] === LPM_EMPTY) this.#used++;
        u32[w] = key;
        u32[w + 1] = len;
        u32[w + 2] = slot;
        break;
      }
    }
    if (this.#used > (this.#cap * 3) / 4) this.#rehash();
  }

  #tableDelete(key: number, len: number): void {
    const u32 = this.mem.u32;
    const mask = this.#cap - 1;
    for (let i = lpmHash(key, len) & mask; ; i = (i + 1) & mask) {
      const w = (this.#table + i * LPM_ENTRY) >> 2;
      if (u32[w + 1] === LPM_EMPTY) return;
      if (u32[w + 1] === len && u32[w] === key) {
        u32[w + 1] = LPM_TOMBSTONE;
        return;
      }
    }
  }

  /** Whether the JIT may look this map up in WebAssembly (keys of at most 4 bytes). */
  get wasmLookup(): boolean {
    return this.#small;
  }

  #exact(keyAddr: number): Entry | undefined {
    const len = this.mem.dv.getUint32(keyAddr, true);
    if (len > this.maxPrefix) return undefined;
    return this.#byLen.get(len)?.get(this.#prefix(keyAddr + 4, len));
  }

  find(keyAddr: number): number {
    const len = Math.min(this.mem.dv.getUint32(keyAddr, true), this.maxPrefix);
    const lens = this.#lens;
    for (let i = 0; i < lens.length; i++) {
      const l = lens[i];
      if (l > len) continue;
      const e = (this.#byLen.get(l) as Map<string | number, Entry>).get(this.#prefix(keyAddr + 4, l));
      if (e) return this.values + e.slot * this.stride;
    }
    return 0;
  }

  updateAt(keyAddr: number, valueAddr: number, flags: number, _allCpus: boolean): number {
    if (flags > UpdateFlags.EXIST) return -EINVAL;
    const len = this.mem.dv.getUint32(keyAddr, true);
    if (len > this.maxPrefix) return -EINVAL;
    let e = this.#exact(keyAddr);
    if (e && flags === UpdateFlags.NOEXIST) return -EEXIST;
    if (!e && flags === UpdateFlags.EXIST) return -ENOENT;
    if (!e) {
      if (this.#count >= this.maxEntries) return -ENOSPC;
      const slot = this.#free.pop() ?? this.#fresh++;
      e = { prefixLen: len, data: Buffer.alloc(0), slot };
      let m = this.#byLen.get(len);
      if (!m) {
        m = new Map();
        this.#byLen.set(len, m);
        this.#lens = [...this.#byLen.keys()].sort((a, b) => b - a);
      }
      const key = this.#prefix(keyAddr + 4, len);
      m.set(key, e);
      this.#count++;
      if (this.#small) {
        this.#tablePut(key as number, len, slot);
        this.#syncLens();
      }
    }
    e.data = this.mem.read(keyAddr + 4, this.dataSize);
    const at = this.values + e.slot * this.stride;
    this.mem.u8.copyWithin(at, valueAddr, valueAddr + this.valueSize);
    return 0;
  }

  deleteAt(keyAddr: number): number {
    const len = this.mem.dv.getUint32(keyAddr, true);
    if (len > this.maxPrefix) return -EINVAL;
    const m = this.#byLen.get(len);
    const k = this.#prefix(keyAddr + 4, len);
    const e = m?.get(k);
    if (!m || !e) return -ENOENT;
    m.delete(k);
    if (m.size === 0) {
      this.#byLen.delete(len);
      this.#lens = [...this.#byLen.keys()].sort((a, b) => b - a);
    }
    if (this.#small) {
      this.#tableDelete(k as number, len);
      this.#syncLens();
    }
    this.#free.push(e.slot);
    this.#count--;
    return 0;
  }

  /** Keys ordered by prefix length (longest first), then by data. */
  #ordered(): Entry[] {
    const all: Entry[] = [];
    for (const l of this.#lens)
      all.push(...[...(this.#byLen.get(l) as Map<string | number, Entry>).values()]);
    return all.sort((a, b) => b.prefixLen - a.prefixLen || Buffer.compare(a.data, b.data));
  }

  nextKeyAt(keyAddr: number, outAddr: number): number {
    const order = this.#ordered();
    let i = 0;
    if (keyAddr !== 0) {
      const cur = this.#exact(keyAddr);
      i = cur ? order.indexOf(cur) + 1 : 0;
    }
    const e = order[i];
    if (!e) return -ENOENT;
    this.mem.dv.setUint32(outAddr, e.prefixLen, true);
    this.mem.u8.set(e.data, outAddr + 4);
    return 0;
  }
}
