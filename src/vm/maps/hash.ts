// Hash maps in the linear memory: HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH, HASH_OF_MAPS and
// DEVMAP_HASH. Buckets of singly linked elements, all elements preallocated (as the kernel does by
// default) and recycled through a free list, so value pointers stay valid after a delete.
// Element: next (u32, index + 1), hash (u32), LRU reference bit (u32), pad, key (8-aligned),
// then one value per CPU, 8-aligned. The JIT's lookup walks the same structure.
import { MapType, UpdateFlags } from "../../bpf/constants.js";
import { E2BIG, EEXIST, EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import type { Region } from "../regions.js";
import { VmMap, round8 } from "./base.js";
import type { MapHost, VmMapOptions } from "./base.js";
import { MapHeader } from "./header.js";
import { hashBytes } from "./hash-fn.js";

export const ELEM_NEXT = 0;
export const ELEM_HASH = 4;
export const ELEM_REF = 8;
export const ELEM_KEY = 16;

const PER_CPU = new Set<number>([MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]);
const LRU = new Set<number>([MapType.LRU_HASH, MapType.LRU_PERCPU_HASH]);

const pow2 = (n: number): number => {
  let p = 1;
  while (p < n) p *= 2;
  return p;
};

export class HashMap extends VmMap {
  readonly buckets: number;
  readonly mask: number;
  readonly elems: number;
  readonly elemSize: number;
  readonly valueOffset: number;
  readonly stride: number;
  readonly lru: boolean;
  readonly region: Region | undefined;
  /** Validates ids stored in HASH_OF_MAPS. */
  validate: ((value: number) => boolean) | undefined;
  /** Elements handed out at least once (1..#fresh). */
  #fresh = 0;

  constructor(host: MapHost, o: VmMapOptions) {
    super(host, o, PER_CPU.has(o.type));
    const mem = host.mem;
    this.lru = LRU.has(o.type);
    this.stride = round8(o.valueSize);
    this.valueOffset = ELEM_KEY + round8(o.keySize);
    this.elemSize = this.valueOffset + this.stride * (this.perCpu ? host.cpus : 1);
    const nb = pow2(Math.max(1, o.maxEntries));
    this.mask = nb - 1;
    this.buckets = mem.alloc(nb * 4, 8);
    this.elems = mem.alloc(this.elemSize * o.maxEntries, 8);
    this.setHeader(MapHeader.DATA, this.buckets);
    this.setHeader(MapHeader.MASK, this.mask);
    this.setHeader(MapHeader.ELEMS, this.elems);
    this.setHeader(MapHeader.ELEM_SIZE, this.elemSize);
    this.setHeader(MapHeader.VALUE_OFFSET, this.valueOffset);
    this.setHeader(MapHeader.COUNT, 0);
    this.setHeader(MapHeader.HAND, 0);
    // The free list holds deleted elements; the ones never used are handed out after them (by
    // #fresh), so a large, mostly empty map costs no page of memory it does not use.
    this.setHeader(MapHeader.FREE, 0);
    const values = o.type !== MapType.HASH_OF_MAPS;
    this.region = values
      ? host.regions.add({
          kind: "map-value",
          name: `values of map '${o.name ?? ""}'`,
          lo: this.elems + this.valueOffset,
          hi: this.elems + this.elemSize * o.maxEntries,
          stride: this.elemSize,
          span: this.stride * ((this.perCpu ? host.cpus : 1) - 1) + o.valueSize,
          writable: o.type !== MapType.DEVMAP_HASH,
        })
      : undefined;
  }

  elemAddr(e: number): number {
    return this.elems + (e - 1) * this.elemSize;
  }

  get count(): number {
    return this.getHeader(MapHeader.COUNT);
  }

  #keyEquals(elem: number, keyAddr: number): boolean {
    const u8 = this.mem.u8;
    const k = elem + ELEM_KEY;
    for (let i = 0; i < this.keySize; i++) if (u8[k + i] !== u8[keyAddr + i]) return false;
    return true;
  }

  /** The element holding the key (index + 1), or 0; `prev` gets the previous element in its chain. */
  #lookup(keyAddr: number, h: number, out?: { prev: number }): number {
    const u32 = this.mem.u32;
    let prev = 0;
    for (let e = u32[(this.buckets >> 2) + (h & this.mask)]; e !== 0;) {
      const a = this.elemAddr(e);
      if (u32[(a + ELEM_HASH) >> 2] === h && this.#keyEquals(a, keyAddr)) {
        if (out) out.prev = prev;
        return e;
      }
      prev = e;
      e = u32[(a + ELEM_NEXT) >> 2];
    }
    return 0;
  }

  find(keyAddr: number): number {
    const e = this.#lookup(keyAddr, hashBytes(this.mem.u8, keyAddr, this.keySize));
    if (!e) return 0;
    const a = this.elemAddr(e);
    if (this.lru) this.mem.u32[(a + ELEM_REF) >> 2] = 1;
    return a + this.valueOffset;
  }

  override lookupForProgram(keyAddr: number): number {
    const v = this.find(keyAddr);
    if (v === 0) return 0;
    if (this.type === MapType.HASH_OF_MAPS) return this.innerMapHeader?.(this.mem.dv.getUint32(v, true)) ?? 0;
    return this.perCpu ? v + this.cpu * this.stride : v;
  }

  /** Map id -> header address, for HASH_OF_MAPS lookups from programs. */
  innerMapHeader: ((id: number) => number) | undefined;

  #allocElem(): number {
    const u32 = this.mem.u32;
    let e = this.getHeader(MapHeader.FREE);
    if (e) {
      this.setHeader(MapHeader.FREE, u32[(this.elemAddr(e) + ELEM_NEXT) >> 2]);
      return e;
    }
    if (this.#fresh < this.maxEntries) return ++this.#fresh;
    if (!this.lru) return 0;
    // Full LRU map: a clock sweep evicts the first element not referenced since the last pass.
    let hand = this.getHeader(MapHeader.HAND);
    for (let n = 0; n < 2 * this.maxEntries + 1; n++) {
      hand = (hand % this.maxEntries) + 1;
      const a = this.elemAddr(hand);
      if (u32[(a + ELEM_REF) >> 2]) {
        u32[(a + ELEM_REF) >> 2] = 0;
        continue;
      }
      e = hand;
      break;
    }
    this.setHeader(MapHeader.HAND, hand);
    if (!e) return 0;
    this.#unlink(e);
    this.setHeader(MapHeader.COUNT, this.count - 1);
    return e;
  }

  /** Removes element e from its bucket chain. */
  #unlink(e: number): void {
    const u32 = this.mem.u32;
    const a = this.elemAddr(e);
    const b = (this.buckets >> 2) + (u32[(a + ELEM_HASH) >> 2] & this.mask);
    let prev = 0;
    for (let x = u32[b]; x !== 0; x = u32[(this.elemAddr(x) + ELEM_NEXT) >> 2]) {
      if (x === e) {
        const next = u32[(a + ELEM_NEXT) >> 2];
        if (prev) u32[(this.elemAddr(prev) + ELEM_NEXT) >> 2] = next;
        else u32[b] = next;
        return;
      }
      prev = x;
    }
  }

  updateAt(keyAddr: number, valueAddr: number, flags: number, allCpus: boolean): number {
    if ((flags & ~UpdateFlags.F_LOCK) > UpdateFlags.EXIST) return -EINVAL;
    if (!allCpus && (this.type === MapType.HASH_OF_MAPS || this.type === MapType.DEVMAP_HASH)) return -EINVAL;
    if (this.validate && !this.validate(this.mem.dv.getUint32(valueAddr, true))) return -EINVAL;
    const mem = this.mem;
    const u8 = mem.u8;
    const h = hashBytes(u8, keyAddr, this.keySize);
    let e = this.#lookup(keyAddr, h);
    if (e && flags & UpdateFlags.NOEXIST) return -EEXIST;
    if (!e && flags & UpdateFlags.EXIST) return -ENOENT;
    let fresh = false;
    if (!e) {
      e = this.#allocElem();
      if (!e) return -E2BIG;
      fresh = true;
    }
    const a = this.elemAddr(e);
    const v = a + this.valueOffset;
    if (fresh) {
      u8.copyWithin(a + ELEM_KEY, keyAddr, keyAddr + this.keySize);
      mem.u32[(a + ELEM_HASH) >> 2] = h;
      mem.u32[(a + ELEM_REF) >> 2] = 0;
      if (this.perCpu && !allCpus) u8.fill(0, v, v + this.stride * this.host.cpus);
    }
    if (!this.perCpu) u8.copyWithin(v, valueAddr, valueAddr + this.valueSize);
    else if (allCpus) u8.copyWithin(v, valueAddr, valueAddr + this.stride * this.host.cpus);
    else u8.copyWithin(v + this.cpu * this.stride, valueAddr, valueAddr + this.valueSize);
    if (fresh) {
      const b = (this.buckets >> 2) + (h & this.mask);
      mem.u32[(a + ELEM_NEXT) >> 2] = mem.u32[b];
      mem.u32[b] = e;
      this.setHeader(MapHeader.COUNT, this.count + 1);
    }
    return 0;
  }

  deleteAt(keyAddr: number): number {
    const e = this.#lookup(keyAddr, hashBytes(this.mem.u8, keyAddr, this.keySize));
    if (!e) return -ENOENT;
    this.#unlink(e);
    this.mem.u32[(this.elemAddr(e) + ELEM_NEXT) >> 2] = this.getHeader(MapHeader.FREE);
    this.setHeader(MapHeader.FREE, e);
    this.setHeader(MapHeader.COUNT, this.count - 1);
    return 0;
  }

  nextKeyAt(keyAddr: number, outAddr: number): number {
    if (this.count === 0) return -ENOENT; // no bucket walk over an empty map
    const u32 = this.mem.u32;
    let bucket = 0;
    let e = 0;
    if (keyAddr !== 0) {
      const h = hashBytes(this.mem.u8, keyAddr, this.keySize);
      const cur = this.#lookup(keyAddr, h);
      if (cur) {
        e = u32[(this.elemAddr(cur) + ELEM_NEXT) >> 2];
        bucket = (h & this.mask) + 1;
      }
    }
    // A key that is not there restarts from the first key, as in the kernel.
    for (; e === 0 && bucket <= this.mask; bucket++) e = u32[(this.buckets >> 2) + bucket];
    if (e === 0) return -ENOENT;
    const a = this.elemAddr(e);
    this.mem.u8.copyWithin(outAddr, a + ELEM_KEY, a + ELEM_KEY + this.keySize);
    return 0;
  }
}
