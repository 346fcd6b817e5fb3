// BLOOM_FILTER: a keyless set with false positives and no false negatives. map_extra's low 4 bits
// give the number of hash functions (5 when 0), sized as the kernel sizes it.
import { UpdateFlags } from "../../bpf/constants.js";
import { EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import { VmMap } from "./base.js";
import type { MapHost, VmMapOptions } from "./base.js";
import { hashBytes } from "./hash-fn.js";

export class BloomFilterMap extends VmMap {
  readonly #hashes: number;
  readonly #bits: Uint8Array;
  readonly #mask: number;

  constructor(host: MapHost, o: VmMapOptions) {
    super(host, o);
    this.#hashes = Number((o.mapExtra ?? 0n) & 0xfn) || 5;
    let bits = 1;
    while (bits < Math.ceil((o.maxEntries * this.#hashes * 7) / 5)) bits *= 2;
    this.#bits = new Uint8Array(Math.max(1, bits >> 3));
    this.#mask = this.#bits.length * 8 - 1;
  }

  #positions(addr: number): number[] {
    const out: number[] = [];
    const h1 = hashBytes(this.mem.u8, addr, this.valueSize);
    const h2 = Math.imul(h1, 0x85ebca6b) ^ (h1 >>> 13);
    for (let i = 0; i < this.#hashes; i++) out.push((h1 + Math.imul(i, h2 | 1)) & this.#mask);
    return out;
  }

  #has(addr: number): boolean {
    return this.#positions(addr).every((p) => this.#bits[p >> 3] & (1 << (p & 7)));
  }

  find(_keyAddr: number): number {
    return 0;
  }

  updateAt(_keyAddr: number, valueAddr: number, flags: number, _allCpus: boolean): number {
    return this.pushForProgram(valueAddr, flags);
  }

  deleteAt(_keyAddr: number): number {
    return -EINVAL;
  }

  nextKeyAt(_keyAddr: number, _outAddr: number): number {
    return -EINVAL;
  }

  override delete(_key: Uint8Array): boolean {
    this.fail("BPF_MAP_DELETE_ELEM", EINVAL);
  }

  override contains(value: Uint8Array): boolean {
    if (value.length !== this.valueSize) this.fail("BPF_MAP_LOOKUP_ELEM", EINVAL);
    this.mem.write(this.valBuf, value);
    return this.#has(this.valBuf);
  }

  override pushForProgram(valueAddr: number, flags: number): number {
    if (flags !== UpdateFlags.ANY) return -EINVAL;
    for (const p of this.#positions(valueAddr)) this.#bits[p >> 3] |= 1 << (p & 7);
    return 0;
  }

  override popForProgram(valueAddr: number, remove: boolean): number {
    if (remove) return -EINVAL;
    return this.#has(valueAddr) ? 0 : -ENOENT;
  }
}
