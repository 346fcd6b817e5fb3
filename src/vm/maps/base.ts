// The control-plane side every map of the runtime shares (the MapHandle API of BpfMap), built on
// four primitives each map type implements on linear-memory addresses, the same ones the helpers
// use: find a value, update, delete, next key. Errors are BpfErrors carrying the errno the
// kernel returns for the same operation.
import { mapTypeName } from "../../bpf/constants.js";
import { BpfError, PlexusBpfError } from "../../bpf/errors.js";
import { BatchCursor } from "../../bpf/map/batch.js";
import type { BatchChunk } from "../../bpf/map/batch.js";
import type { Codec } from "../../bpf/map/codec.js";
import type { MapHandle } from "../../bpf/map/handle.js";
import { TypedMap } from "../../bpf/map/typed.js";
import { EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import { CURRENT_CPU } from "../layout.js";
import type { VmMemory } from "../memory.js";
import type { RegionTable } from "../regions.js";
import { MapHeader } from "./header.js";

export const round8 = (n: number): number => (n + 7) & ~7;

/** What a map is created from (a MapSpec of an object, or options of a map made by hand). */
export interface VmMapOptions {
  type: number;
  name?: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  mapExtra?: bigint;
}

/** What maps need from the runtime. */
export interface MapHost {
  readonly mem: VmMemory;
  readonly regions: RegionTable;
  readonly cpus: number;
}

export abstract class VmMap implements MapHandle {
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly mapExtra: bigint;
  readonly perCpu: boolean = false;
  readonly valueBufferSize: number;
  /** Address of the map's header: the map pointer programs hold. */
  readonly header: number;
  /** Id inside the runtime (what map-in-map values hold). */
  id = -1;
  /** Control-plane scratch in the linear memory: a key, a value buffer, a next key. */
  protected readonly keyBuf: number;
  protected readonly valBuf: number;
  protected readonly nextBuf: number;
  #closed = false;

  constructor(
    readonly host: MapHost,
    o: VmMapOptions,
    perCpu = false,
  ) {
    this.type = o.type;
    this.name = o.name ?? "";
    this.keySize = o.keySize;
    this.valueSize = o.valueSize;
    this.maxEntries = o.maxEntries;
    this.flags = o.flags ?? 0;
    this.mapExtra = o.mapExtra ?? 0n;
    this.perCpu = perCpu;
    this.valueBufferSize = perCpu ? round8(o.valueSize) * host.cpus : o.valueSize;
    const mem = host.mem;
    this.header = mem.alloc(MapHeader.SIZE, 64);
    this.keyBuf = mem.alloc(Math.max(8, round8(o.keySize)));
    this.nextBuf = mem.alloc(Math.max(8, round8(o.keySize)));
    this.valBuf = mem.alloc(Math.max(8, round8(this.valueBufferSize)));
    const h = this.header >> 2;
    mem.u32[h + (MapHeader.TYPE >> 2)] = o.type;
    mem.u32[h + (MapHeader.KEY_SIZE >> 2)] = o.keySize;
    mem.u32[h + (MapHeader.VALUE_SIZE >> 2)] = o.valueSize;
    mem.u32[h + (MapHeader.MAX_ENTRIES >> 2)] = o.maxEntries;
    mem.u32[h + (MapHeader.FLAGS >> 2)] = this.flags;
    mem.u32[h + (MapHeader.STRIDE >> 2)] = round8(o.valueSize);
    mem.u32[h + (MapHeader.CPUS >> 2)] = perCpu ? host.cpus : 1;
  }

  get mem(): VmMemory {
    return this.host.mem;
  }

  /** The CPU the current run is on. */
  protected get cpu(): number {
    return this.host.mem.u32[CURRENT_CPU >> 2];
  }

  protected setHeader(field: number, v: number): void {
    this.host.mem.u32[(this.header + field) >> 2] = v;
  }

  protected getHeader(field: number): number {
    return this.host.mem.u32[(this.header + field) >> 2];
  }

  what(): string {
    return `${mapTypeName(this.type)} map ${this.name || `#${this.id}`} (userspace)`;
  }

  // ---- the primitives (addresses in the linear memory) -----------------------------------------

  /** Address of the value for the key at keyAddr (every CPU's slot), or 0. */
  abstract find(keyAddr: number): number;
  /**
   * Writes the value at valueAddr for the key at keyAddr. `allCpus`: the value holds every CPU's
   * slot (the control plane); otherwise the current CPU's (programs). Returns 0 or -errno.
   */
  abstract updateAt(keyAddr: number, valueAddr: number, flags: number, allCpus: boolean): number;
  /** Returns 0 or -errno. */
  abstract deleteAt(keyAddr: number): number;
  /** Writes the key after the one at keyAddr (the first with 0) to outAddr; 0 or -ENOENT. */
  abstract nextKeyAt(keyAddr: number, outAddr: number): number;

  /** Address of the first value, for lddw of a map value (global data); undefined when there is none. */
  directValueAddress(): number | undefined {
    return undefined;
  }

  /** Programs: value address for the current CPU, or 0 (bpf_map_lookup_elem). */
  lookupForProgram(keyAddr: number): number {
    const v = this.find(keyAddr);
    if (v === 0 || !this.perCpu) return v;
    return v + this.cpu * round8(this.valueSize);
  }

  /** Programs: queue/stack/bloom operations; -EINVAL elsewhere (the verifier would refuse them). */
  pushForProgram(_valueAddr: number, _flags: number): number {
    return -EINVAL;
  }

  popForProgram(_valueAddr: number, _remove: boolean): number {
    return -EINVAL;
  }

  // ---- MapHandle ------------------------------------------------------------------------------

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
  }

  protected keyAt(key: Uint8Array | null): number {
    if (this.#closed) throw new PlexusBpfError(`${this.what()} is closed`);
    if (this.keySize === 0) {
      if (key && key.length) throw new PlexusBpfError(`${this.what()}: this map type takes no key`);
      return 0;
    }
    if (!key || key.length !== this.keySize)
      throw new PlexusBpfError(`${this.what()}: key of ${key?.length ?? 0} bytes, expected ${this.keySize}`);
    this.mem.u8.set(key, this.keyBuf);
    return this.keyBuf;
  }

  protected setValue(value: Uint8Array): void {
    const stride = round8(this.valueSize);
    if (value.length === this.valueBufferSize) {
      this.mem.u8.set(value, this.valBuf);
      return;
    }
    if (this.perCpu && value.length === this.valueSize) {
      for (let off = 0; off < this.valueBufferSize; off += stride) this.mem.u8.set(value, this.valBuf + off);
      return;
    }
    throw new PlexusBpfError(
      `${this.what()}: value of ${value.length} bytes, expected ${this.valueBufferSize}` +
        (this.perCpu ? ` (or ${this.valueSize} for the same value on every CPU)` : ""),
    );
  }

  protected fail(cmd: string, errno: number): never {
    throw new BpfError(cmd, errno, this.what());
  }

  lookup(key: Uint8Array | null, flags = 0): Buffer | undefined {
    const v = this.lookupView(key, flags);
    return v && Buffer.from(v);
  }

  lookupView(key: Uint8Array | null, flags = 0): Buffer | undefined {
    const k = this.keyAt(key);
    if (flags) this.fail("BPF_MAP_LOOKUP_ELEM", EINVAL);
    const v = this.find(k);
    if (v < 0) this.fail("BPF_MAP_LOOKUP_ELEM", -v);
    if (v === 0) return undefined;
    return this.mem.view(v, this.valueBufferSize);
  }

  lookupPerCpu(key: Uint8Array | null, flags = 0): Buffer[] | undefined {
    if (!this.perCpu) throw new PlexusBpfError(`${this.what()} is not a per-CPU map`);
    const v = this.lookupView(key, flags);
    if (!v) return undefined;
    const stride = round8(this.valueSize);
    const out: Buffer[] = [];
    for (let off = 0; off < this.valueBufferSize; off += stride)
      out.push(Buffer.from(v.subarray(off, off + this.valueSize)));
    return out;
  }

  update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    const k = this.keyAt(key);
    this.setValue(value);
    const r = this.updateAt(k, this.valBuf, flags, true);
    if (r < 0) this.fail("BPF_MAP_UPDATE_ELEM", -r);
  }

  updatePerCpu(key: Uint8Array | null, values: readonly Uint8Array[], flags = 0): void {
    if (!this.perCpu) throw new PlexusBpfError(`${this.what()} is not a per-CPU map`);
    const cpus = this.host.cpus;
    if (values.length !== cpus)
      throw new PlexusBpfError(`${this.what()}: ${values.length} values, expected one per CPU (${cpus})`);
    const stride = round8(this.valueSize);
    const blob = Buffer.alloc(this.valueBufferSize);
    values.forEach((v, i) => {
      if (v.length !== this.valueSize)
        throw new PlexusBpfError(`${this.what()}: value of ${v.length} bytes, expected ${this.valueSize}`);
      blob.set(v, i * stride);
    });
    this.update(key, blob, flags);
  }

  delete(key: Uint8Array): boolean {
    const r = this.deleteAt(this.keyAt(key));
    if (r === -ENOENT) return false;
    if (r < 0) this.fail("BPF_MAP_DELETE_ELEM", -r);
    return true;
  }

  lookupAndDelete(key: Uint8Array | null, flags = 0): Buffer | undefined {
    const k = this.keyAt(key);
    if (flags) this.fail("BPF_MAP_LOOKUP_AND_DELETE_ELEM", EINVAL);
    const v = this.find(k);
    if (v < 0) this.fail("BPF_MAP_LOOKUP_AND_DELETE_ELEM", -v);
    if (v === 0) return undefined;
    const out = this.mem.read(v, this.valueBufferSize);
    const r = this.deleteAt(k);
    if (r < 0) this.fail("BPF_MAP_LOOKUP_AND_DELETE_ELEM", -r);
    return out;
  }

  push(value: Uint8Array, flags = 0): void {
    this.update(null, value, flags);
  }

  pop(): Buffer | undefined {
    return this.lookupAndDelete(null);
  }

  peek(): Buffer | undefined {
    return this.lookup(null);
  }

  contains(_value: Uint8Array): boolean {
    throw new PlexusBpfError(`${this.what()} is not a bloom filter`);
  }

  nextKey(key: Uint8Array | null): Buffer | undefined {
    const k = key === null ? 0 : this.keyAt(key);
    if (this.#closed) throw new PlexusBpfError(`${this.what()} is closed`);
    const r = this.nextKeyAt(k, this.nextBuf);
    if (r === -ENOENT) return undefined;
    if (r < 0) this.fail("BPF_MAP_GET_NEXT_KEY", -r);
    return this.mem.read(this.nextBuf, this.keySize);
  }

  *keys(): IterableIterator<Buffer> {
    let n = 0;
    for (let k = this.nextKey(null); k; k = this.nextKey(k)) {
      if (++n > this.maxEntries)
        throw new PlexusBpfError(
          `${this.what()}: iteration aborted, the map changed too much while iterating`,
        );
      yield k;
    }
  }

  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]> {
    return this.entries();
  }

  // ---- batches: walked element by element, as BpfMap does for maps without batch support -----

  batchBuffers(count: number): { keys: Buffer; values: Buffer } {
    return { keys: Buffer.alloc(count * this.keySize), values: Buffer.alloc(count * this.valueBufferSize) };
  }

  #walk(
    del: boolean,
    cursor: BatchCursor,
    count: number,
    out?: { keys: Buffer; values: Buffer },
  ): BatchChunk {
    const o = out ?? this.batchBuffers(count);
    if (o.keys.length < count * this.keySize || o.values.length < count * this.valueBufferSize)
      throw new PlexusBpfError(`${this.what()}: batch buffers too small for ${count} elements`);
    cursor.emulated = true;
    cursor.started = true;
    let n = 0;
    while (n < count && !cursor.done) {
      const k = this.nextKey(del ? null : (cursor.lastKey ?? null));
      if (!k) {
        cursor.done = true;
        break;
      }
      cursor.lastKey = k;
      const v = del ? this.lookupAndDelete(k) : this.lookup(k);
      if (!v) continue;
      k.copy(o.keys, n * this.keySize);
      v.copy(o.values, n * this.valueBufferSize);
      n++;
    }
    return { count: n, keys: o.keys, values: o.values, done: cursor.done };
  }

  lookupBatch(cursor: BatchCursor, count: number, out?: { keys: Buffer; values: Buffer }): BatchChunk {
    return this.#walk(false, cursor, count, out);
  }

  lookupAndDeleteBatch(
    cursor: BatchCursor,
    count: number,
    out?: { keys: Buffer; values: Buffer },
  ): BatchChunk {
    return this.#walk(true, cursor, count, out);
  }

  *entriesBatched(batchSize = 256): IterableIterator<[Buffer, Buffer]> {
    const cursor = new BatchCursor();
    const out = this.batchBuffers(batchSize);
    while (!cursor.done) {
      const c = this.lookupBatch(cursor, batchSize, out);
      for (let i = 0; i < c.count; i++)
        yield [
          Buffer.from(c.keys.subarray(i * this.keySize, (i + 1) * this.keySize)),
          Buffer.from(c.values.subarray(i * this.valueBufferSize, (i + 1) * this.valueBufferSize)),
        ];
    }
  }

  #items(items: readonly Uint8Array[] | Uint8Array, size: number, what: string): Uint8Array[] {
    if (Array.isArray(items)) return items as Uint8Array[];
    const flat = items as Uint8Array;
    if (size === 0 || flat.length % size !== 0)
      throw new PlexusBpfError(`${this.what()}: ${what} of ${flat.length} bytes, not a multiple of ${size}`);
    const out: Uint8Array[] = [];
    for (let off = 0; off < flat.length; off += size) out.push(flat.subarray(off, off + size));
    return out;
  }

  updateBatch(
    keys: readonly Uint8Array[] | Uint8Array,
    values: readonly Uint8Array[] | Uint8Array,
    opts: { elemFlags?: number } = {},
  ): number {
    const k = this.#items(keys, this.keySize, "keys");
    const v = this.#items(values, this.valueBufferSize, "values");
    if (k.length !== v.length)
      throw new PlexusBpfError(`${this.what()}: ${k.length} keys but ${v.length} values`);
    k.forEach((key, i) => this.update(key, v[i], opts.elemFlags ?? 0));
    return k.length;
  }

  deleteBatch(keys: readonly Uint8Array[] | Uint8Array): number {
    const k = this.#items(keys, this.keySize, "keys");
    k.forEach((key, i) => {
      if (!this.delete(key))
        throw new BpfError("BPF_MAP_DELETE_ELEM", ENOENT, `${this.what()}: after ${i} of ${k.length}`);
    });
    return k.length;
  }

  typed<K, V>(key: Codec<K>, value: Codec<V>): TypedMap<K, V> {
    return new TypedMap(this, key, value);
  }
}
