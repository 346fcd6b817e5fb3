// LPM_TRIE: longest-prefix match on keys { u32 prefixlen; u8 data[] }. The prefixes live in
// JavaScript maps, one per prefix length in use, so a lookup tries only the lengths present,
// longest first; values live in the linear memory, where programs read and write them.
import { UpdateFlags } from "../../bpf/constants.js";
import { EEXIST, EINVAL, ENOENT, ENOSPC } from "../../bpf/sys/errno.js";
import type { Region } from "../regions.js";
import { VmMap, round8 } from "./base.js";
import type { MapHost, VmMapOptions } from "./base.js";

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
  readonly #byLen = new Map<number, Map<string, Entry>>();
  /** Prefix lengths in use, longest first. */
  #lens: number[] = [];
  readonly #free: number[] = [];
  #count = 0;

  constructor(host: MapHost, o: VmMapOptions) {
    super(host, o);
    this.dataSize = o.keySize - 4;
    this.maxPrefix = this.dataSize * 8;
    this.stride = round8(o.valueSize);
    this.values = host.mem.alloc(this.stride * o.maxEntries, 8);
    for (let i = o.maxEntries - 1; i >= 0; i--) this.#free.push(i);
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

  /** The first `len` bits of the key data at addr, as a string usable as a JavaScript map key. */
  #prefix(addr: number, len: number): string {
    const u8 = this.mem.u8;
    const full = len >> 3;
    let s = "";
    for (let i = 0; i < full; i++) s += String.fromCharCode(u8[addr + i]);
    const rest = len & 7;
    if (rest) s += String.fromCharCode(u8[addr + full] & (0xff << (8 - rest)) & 0xff);
    return s;
  }

  #exact(keyAddr: number): Entry | undefined {
    const len = this.mem.dv.getUint32(keyAddr, true);
    if (len > this.maxPrefix) return undefined;
    return this.#byLen.get(len)?.get(this.#prefix(keyAddr + 4, len));
  }

  find(keyAddr: number): number {
    const len = Math.min(this.mem.dv.getUint32(keyAddr, true), this.maxPrefix);
    for (const l of this.#lens) {
      if (l > len) continue;
      const e = this.#byLen.get(l)?.get(this.#prefix(keyAddr + 4, l));
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
      const slot = this.#free.pop() as number;
      e = { prefixLen: len, data: Buffer.alloc(0), slot };
      let m = this.#byLen.get(len);
      if (!m) {
        m = new Map();
        this.#byLen.set(len, m);
        this.#lens = [...this.#byLen.keys()].sort((a, b) => b - a);
      }
      m.set(this.#prefix(keyAddr + 4, len), e);
      this.#count++;
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
    this.#free.push(e.slot);
    this.#count--;
    return 0;
  }

  /** Keys ordered by prefix length (longest first), then by data. */
  #ordered(): Entry[] {
    const all: Entry[] = [];
    for (const l of this.#lens) all.push(...[...(this.#byLen.get(l) as Map<string, Entry>).values()]);
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
