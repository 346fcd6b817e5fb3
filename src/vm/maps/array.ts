// Array maps: ARRAY and PERCPU_ARRAY (every index always present, values preallocated in the
// linear memory), and the "slot" arrays whose entries can be empty: DEVMAP, CPUMAP, XSKMAP,
// PROG_ARRAY, ARRAY_OF_MAPS and PERF_EVENT_ARRAY.
import { MapFlags, MapType, UpdateFlags } from "../../bpf/constants.js";
import { E2BIG, EEXIST, EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import type { Region, RegionKind } from "../regions.js";
import { VmMap, round8 } from "./base.js";
import type { MapHost, VmMapOptions } from "./base.js";
import { MapHeader } from "./header.js";

const checkFlags = (flags: number): number =>
  (flags & ~UpdateFlags.F_LOCK) > UpdateFlags.EXIST ? -EINVAL : 0;

export class ArrayMap extends VmMap {
  /** First value (index 0, CPU 0). */
  readonly data: number;
  readonly stride: number;
  /** Bytes per index (every CPU's value). */
  readonly elemBytes: number;
  readonly region: Region;

  constructor(host: MapHost, o: VmMapOptions, kind: RegionKind = "map-value") {
    const perCpu = o.type === MapType.PERCPU_ARRAY;
    super(host, o, perCpu);
    this.stride = round8(o.valueSize);
    this.elemBytes = this.stride * (perCpu ? host.cpus : 1);
    this.data = host.mem.alloc(this.elemBytes * o.maxEntries, 8);
    this.setHeader(MapHeader.DATA, this.data);
    this.region = host.regions.add({
      kind,
      name: kind === "global" ? `global data ${o.name ?? ""}` : `values of map '${o.name ?? ""}'`,
      lo: this.data,
      hi: this.data + this.elemBytes * o.maxEntries,
      stride: this.stride,
      span: o.valueSize,
      writable: !((o.flags ?? 0) & MapFlags.RDONLY_PROG),
    });
  }

  /** As the kernel's array_map_direct_value_addr(): single-entry arrays only (global data). */
  override directValueAddress(): number | undefined {
    return this.perCpu || this.maxEntries !== 1 ? undefined : this.data;
  }

  /** Address of index i's value (CPU 0). */
  valueAddress(i: number): number {
    return this.data + i * this.elemBytes;
  }

  find(keyAddr: number): number {
    const i = this.mem.dv.getUint32(keyAddr, true);
    return i < this.maxEntries ? this.valueAddress(i) : 0;
  }

  override lookupForProgram(keyAddr: number): number {
    const i = this.mem.dv.getUint32(keyAddr, true);
    if (i >= this.maxEntries) return 0;
    return this.valueAddress(i) + (this.perCpu ? this.cpu * this.stride : 0);
  }

  updateAt(keyAddr: number, valueAddr: number, flags: number, allCpus: boolean): number {
    if (checkFlags(flags)) return -EINVAL;
    const i = this.mem.dv.getUint32(keyAddr, true);
    if (i >= this.maxEntries) return -E2BIG;
    if (flags & UpdateFlags.NOEXIST) return -EEXIST;
    const u8 = this.mem.u8;
    const at = this.valueAddress(i);
    if (!this.perCpu) u8.copyWithin(at, valueAddr, valueAddr + this.valueSize);
    else if (allCpus) u8.copyWithin(at, valueAddr, valueAddr + this.elemBytes);
    else {
      const cpuAt = at + this.cpu * this.stride;
      u8.copyWithin(cpuAt, valueAddr, valueAddr + this.valueSize);
    }
    return 0;
  }

  deleteAt(_keyAddr: number): number {
    return -EINVAL;
  }

  nextKeyAt(keyAddr: number, outAddr: number): number {
    const i = keyAddr === 0 ? this.maxEntries : this.mem.dv.getUint32(keyAddr, true);
    if (i >= this.maxEntries) {
      this.mem.dv.setUint32(outAddr, 0, true);
      return this.maxEntries > 0 ? 0 : -ENOENT;
    }
    if (i === this.maxEntries - 1) return -ENOENT;
    this.mem.dv.setUint32(outAddr, i + 1, true);
    return 0;
  }
}

/**
 * Arrays whose slots can be empty. DEVMAP, CPUMAP and XSKMAP hold their values as given (programs
 * read them, read-only); PROG_ARRAY and ARRAY_OF_MAPS hold the id of a program or map of the
 * runtime (what the kernel returns to user space for them); PERF_EVENT_ARRAY marks its readers.
 */
export class SlotArrayMap extends VmMap {
  readonly data: number;
  readonly stride: number;
  readonly #present: Uint8Array;
  readonly region: Region | undefined;
  /** Resolves an id stored in the map (a program or map), for validation: undefined = no such object. */
  validate: ((value: number) => boolean) | undefined;
  /** ARRAY_OF_MAPS: map id -> header address, what lookups from programs return. */
  innerMapHeader: ((id: number) => number) | undefined;

  constructor(host: MapHost, o: VmMapOptions) {
    super(host, o);
    this.stride = round8(o.valueSize);
    this.data = host.mem.alloc(this.stride * o.maxEntries, 8);
    this.#present = new Uint8Array(o.maxEntries);
    this.setHeader(MapHeader.DATA, this.data);
    const readable = o.type === MapType.DEVMAP || o.type === MapType.CPUMAP;
    this.region = readable
      ? host.regions.add({
          kind: "map-value",
          name: `values of map '${o.name ?? ""}'`,
          lo: this.data,
          hi: this.data + this.stride * o.maxEntries,
          stride: this.stride,
          span: o.valueSize,
          writable: false,
        })
      : undefined;
  }

  present(i: number): boolean {
    return i < this.maxEntries && this.#present[i] === 1;
  }

  /** The u32 at the start of slot i's value (ifindex, id...). */
  slotU32(i: number): number {
    return this.mem.dv.getUint32(this.data + i * this.stride, true);
  }

  find(keyAddr: number): number {
    const i = this.mem.dv.getUint32(keyAddr, true);
    return this.present(i) ? this.data + i * this.stride : 0;
  }

  override lookupForProgram(keyAddr: number): number {
    const i = this.mem.dv.getUint32(keyAddr, true);
    if (!this.present(i)) return 0;
    if (this.type === MapType.DEVMAP || this.type === MapType.CPUMAP || this.type === MapType.XSKMAP)
      return this.data + i * this.stride;
    if (this.type === MapType.ARRAY_OF_MAPS) return this.innerMapHeader?.(this.slotU32(i)) ?? 0;
    return 0;
  }

  updateAt(keyAddr: number, valueAddr: number, flags: number, allCpus: boolean): number {
    if (!allCpus && this.type !== MapType.DEVMAP && this.type !== MapType.CPUMAP) return -EINVAL;
    if (checkFlags(flags)) return -EINVAL;
    const i = this.mem.dv.getUint32(keyAddr, true);
    if (i >= this.maxEntries) return -E2BIG;
    if (flags & UpdateFlags.NOEXIST && this.#present[i]) return -EEXIST;
    if (flags & UpdateFlags.EXIST && !this.#present[i]) return -ENOENT;
    if (this.validate && !this.validate(this.mem.dv.getUint32(valueAddr, true))) return -EINVAL;
    this.mem.u8.copyWithin(this.data + i * this.stride, valueAddr, valueAddr + this.valueSize);
    this.#present[i] = 1;
    return 0;
  }

  deleteAt(keyAddr: number): number {
    const i = this.mem.dv.getUint32(keyAddr, true);
    if (i >= this.maxEntries) return -E2BIG;
    if (!this.#present[i]) return -ENOENT;
    this.#present[i] = 0;
    return 0;
  }

  nextKeyAt(keyAddr: number, outAddr: number): number {
    // As the kernel's fd arrays: every index is a key, present or not.
    const i = keyAddr === 0 ? this.maxEntries : this.mem.dv.getUint32(keyAddr, true);
    const next = i >= this.maxEntries ? 0 : i + 1;
    if (next >= this.maxEntries) return -ENOENT;
    this.mem.dv.setUint32(outAddr, next, true);
    return 0;
  }
}
