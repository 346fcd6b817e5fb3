// A BPF map: creation, element operations, iteration, batches, freezing, mmap and pinning.
// Element operations are the hot path: each map keeps preallocated attrs that already point at
// preallocated key/value scratch buffers, so a lookup is "copy key in, bpf(), copy value out".
import { BpfCmd, MapFlags, MapType, ObjFlags, mapTypeName } from "../constants.js";
import { BpfError, PlexusBpfError } from "../errors.js";
import { mapTypeNotSupported } from "../features.js";
import { stableBuffer } from "../sys/buffers.js";
import {
  AttrSize,
  encodeMapElem,
  getFdById,
  mapBatch,
  mapCreateRaw,
  mapFreeze,
  objGet,
  type MapCreateAttr,
} from "../sys/bpf.js";
import { pinFd } from "../sys/bpffs.js";
import { possibleCpus } from "../sys/cpus.js";
import { E2BIG, EACCES, EINVAL, ENOENT, ENOSPC, ENOTSUPP, EOPNOTSUPP, EPERM } from "../sys/errno.js";
import { fdKind } from "../sys/fd.js";
import { mapInfo, type MapInfo } from "../sys/info.js";
import { Mapping, PROT_READ, PROT_WRITE } from "../sys/mapping.js";
import { native, type NativeBackend } from "../sys/native.js";
import type { Codec } from "./codec.js";
import { BatchCursor, type BatchChunk } from "./batch.js";
import { TypedMap } from "./typed.js";
import type { MapHandle } from "./handle.js";

export type { MapInfo } from "../sys/info.js";
export { BatchCursor, type BatchChunk } from "./batch.js";

/** What BPF_MAP_CREATE takes. `maxEntries: 0` on a perf event array means one slot per possible CPU. */
export type MapCreateOptions = MapCreateAttr;

const PER_CPU = new Set<number>([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);

/** Maps whose elements are addressed without a key (key_size 0): the kernel wants a NULL key. */
const KEYLESS = new Set<number>([MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER]);

const MAYBE_UNSUPPORTED = new Set([EINVAL, E2BIG, EOPNOTSUPP, ENOTSUPP]);
const NO_BATCH = new Set([ENOTSUPP, EOPNOTSUPP]);

const round8 = (n: number): number => (n + 7) & ~7;

/** Hints for the EINVALs people meet most when creating maps. */
function createHint(o: MapCreateOptions): string | undefined {
  if (o.type === MapType.LPM_TRIE && !((o.flags ?? 0) & MapFlags.NO_PREALLOC))
    return "LPM tries must be created with MapFlags.NO_PREALLOC";
  if ((o.type === MapType.ARRAY_OF_MAPS || o.type === MapType.HASH_OF_MAPS) && !o.innerMapFd)
    return "maps of maps need innerMapFd (a map shaped like the ones it will hold)";
  if (o.type === MapType.RINGBUF && (o.maxEntries & (o.maxEntries - 1) || o.maxEntries % native().pageSize()))
    return "a ring buffer's maxEntries must be a power of 2 and a multiple of the page size";
  if (KEYLESS.has(o.type) && o.keySize !== 0) return `${mapTypeName(o.type)} maps have keySize 0`;
  return undefined;
}

export class BpfMap implements MapHandle {
  readonly fd: number;
  readonly id: number;
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly mapExtra: bigint;
  /** One value per possible CPU (PERCPU_* maps). */
  readonly perCpu: boolean;
  /** Bytes of a value as syscalls exchange it: per-CPU maps hold one 8-byte-aligned slot per CPU. */
  readonly valueBufferSize: number;

  readonly #n: NativeBackend;
  readonly #stride: number;
  readonly #key: Buffer;
  readonly #value: Buffer;
  readonly #next: Buffer;
  /** key -> #key, value -> #value: lookup, update, delete, lookup-and-delete. */
  readonly #elemAttr: Buffer;
  /** key NULL, value -> #value: queue/stack/bloom operations. */
  readonly #nullKeyAttr: Buffer;
  /** key -> #key, next_key -> #next. */
  readonly #nextAttr: Buffer;
  /** key NULL, next_key -> #next: the first key. */
  readonly #firstAttr: Buffer;
  #mapping: Mapping | undefined;
  #closed = false;

  private constructor(fd: number, info: MapInfo) {
    this.fd = fd;
    this.id = info.id;
    this.type = info.type;
    this.name = info.name;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.mapExtra = info.mapExtra;
    this.perCpu = PER_CPU.has(info.type);
    this.#stride = this.perCpu ? round8(info.valueSize) : info.valueSize;
    this.valueBufferSize = this.perCpu ? this.#stride * possibleCpus() : info.valueSize;
    this.#n = native();
    this.#key = stableBuffer(this.keySize);
    this.#value = stableBuffer(this.valueBufferSize);
    this.#next = stableBuffer(this.keySize);
    const keyed = this.keySize > 0 ? this.#key : null;
    this.#elemAttr = encodeMapElem(stableBuffer(AttrSize.MAP_ELEM), fd, keyed, this.#value);
    this.#nullKeyAttr = encodeMapElem(stableBuffer(AttrSize.MAP_ELEM), fd, null, this.#value);
    this.#nextAttr = encodeMapElem(stableBuffer(AttrSize.MAP_ELEM), fd, keyed, this.#next);
    this.#firstAttr = encodeMapElem(stableBuffer(AttrSize.MAP_ELEM), fd, null, this.#next);
  }

  private static adopt(fd: number): BpfMap {
    try {
      return new BpfMap(fd, mapInfo(fd));
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /** Creates a map (BPF_MAP_CREATE). Throws NotSupportedError when the kernel lacks the map type. */
  static create(opts: MapCreateOptions): BpfMap {
    const o = { ...opts };
    if (o.type === MapType.PERF_EVENT_ARRAY && !o.maxEntries) o.maxEntries = possibleCpus();
    const r = mapCreateRaw(o);
    if (r.fd < 0) {
      if (MAYBE_UNSUPPORTED.has(r.errno)) {
        const unsupported = mapTypeNotSupported(o.type);
        if (unsupported) throw unsupported;
      }
      const what = `${mapTypeName(o.type)} map${o.name ? ` ${o.name}` : ""}`;
      const hint = createHint(o);
      throw new BpfError("BPF_MAP_CREATE", r.errno, hint ? `${what}: ${hint}` : what);
    }
    return BpfMap.adopt(r.fd);
  }

  /** Wraps a map fd, taking ownership of it. */
  static fromFd(fd: number): BpfMap {
    const kind = fdKind(fd);
    if (kind !== "map") {
      native().close(fd);
      throw new PlexusBpfError(`fd ${fd} is a ${kind}, not a bpf map`);
    }
    return BpfMap.adopt(fd);
  }

  /** Opens an existing map by id (needs CAP_SYS_ADMIN). */
  static fromId(id: number): BpfMap {
    return BpfMap.adopt(getFdById(BpfCmd.MAP_GET_FD_BY_ID, id));
  }

  /** Opens a map pinned on a bpffs. */
  static openPinned(path: string, opts: { readOnly?: boolean } = {}): BpfMap {
    const fd = objGet(path, opts.readOnly ? ObjFlags.RDONLY : 0);
    const kind = fdKind(fd);
    if (kind !== "map") {
      native().close(fd);
      throw new PlexusBpfError(`${path} is a pinned ${kind}, not a map`);
    }
    return BpfMap.adopt(fd);
  }

  // ---- element operations ------------------------------------------------------------------

  /** Copies `key` into the scratch key and returns the attr to use (NULL key for keyless maps). */
  #keyed(key: Uint8Array | null): Buffer {
    if (this.keySize === 0) {
      if (key && key.length) throw new PlexusBpfError(`${this.#what()}: this map type takes no key`);
      return this.#nullKeyAttr;
    }
    if (!key || key.length !== this.keySize)
      throw new PlexusBpfError(`${this.#what()}: key of ${key?.length ?? 0} bytes, expected ${this.keySize}`);
    this.#key.set(key);
    return this.#elemAttr;
  }

  #what(): string {
    return `${mapTypeName(this.type)} map ${this.name || `#${this.id}`}`;
  }

  #fail(cmd: string, errno: number): never {
    throw new BpfError(cmd, errno, this.#what());
  }

  /** Copies a value (or, for per-CPU maps, one value for every CPU) into the scratch value. */
  #setValue(value: Uint8Array): void {
    if (value.length === this.valueBufferSize) {
      this.#value.set(value);
      return;
    }
    if (this.perCpu && value.length === this.valueSize) {
      for (let off = 0; off < this.valueBufferSize; off += this.#stride) this.#value.set(value, off);
      return;
    }
    throw new PlexusBpfError(
      `${this.#what()}: value of ${value.length} bytes, expected ${this.valueBufferSize}` +
        (this.perCpu ? ` (or ${this.valueSize} for the same value on every CPU)` : ""),
    );
  }

  /** The value for `key` (a copy), or undefined when absent. Per-CPU maps: every CPU's slot. */
  lookup(key: Uint8Array | null, flags = 0): Buffer | undefined {
    return this.lookupView(key, flags) && Buffer.from(this.#value);
  }

  /**
   * As lookup, without the copy: the returned Buffer is this map's scratch value and is only valid
   * until the next operation on this map.
   */
  lookupView(key: Uint8Array | null, flags = 0): Buffer | undefined {
    const attr = this.#keyed(key);
    attr.writeUInt32LE(flags, 24);
    const r = this.#n.bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, AttrSize.MAP_ELEM);
    if (r.ret < 0) {
      if (r.errno === ENOENT) return undefined;
      this.#fail("BPF_MAP_LOOKUP_ELEM", r.errno);
    }
    return this.#value;
  }

  /** Per-CPU maps: one value per possible CPU, in CPU order. */
  lookupPerCpu(key: Uint8Array | null, flags = 0): Buffer[] | undefined {
    if (!this.perCpu) throw new PlexusBpfError(`${this.#what()} is not a per-CPU map`);
    const v = this.lookupView(key, flags);
    if (!v) return undefined;
    const out: Buffer[] = [];
    for (let off = 0; off < this.valueBufferSize; off += this.#stride)
      out.push(Buffer.from(v.subarray(off, off + this.valueSize)));
    return out;
  }

  /** Inserts or replaces (UpdateFlags: ANY, NOEXIST, EXIST, F_LOCK). */
  update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    const attr = this.#keyed(key);
    this.#setValue(value);
    attr.writeUInt32LE(flags, 24);
    const r = this.#n.bpf(BpfCmd.MAP_UPDATE_ELEM, attr, AttrSize.MAP_ELEM);
    if (r.ret < 0) this.#fail("BPF_MAP_UPDATE_ELEM", r.errno);
  }

  /** Per-CPU maps: sets each CPU's value (one entry per possible CPU). */
  updatePerCpu(key: Uint8Array | null, values: readonly Uint8Array[], flags = 0): void {
    if (!this.perCpu) throw new PlexusBpfError(`${this.#what()} is not a per-CPU map`);
    const cpus = this.valueBufferSize / this.#stride;
    if (values.length !== cpus)
      throw new PlexusBpfError(`${this.#what()}: ${values.length} values, expected one per CPU (${cpus})`);
    const blob = Buffer.alloc(this.valueBufferSize);
    values.forEach((v, i) => {
      if (v.length !== this.valueSize)
        throw new PlexusBpfError(`${this.#what()}: value of ${v.length} bytes, expected ${this.valueSize}`);
      blob.set(v, i * this.#stride);
    });
    this.update(key, blob, flags);
  }

  /** Removes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean {
    const attr = this.#keyed(key);
    const r = this.#n.bpf(BpfCmd.MAP_DELETE_ELEM, attr, AttrSize.MAP_DELETE);
    if (r.ret < 0) {
      if (r.errno === ENOENT) return false;
      this.#fail("BPF_MAP_DELETE_ELEM", r.errno);
    }
    return true;
  }

  /** Looks up and removes in one step; with a null key, pops a queue or stack. */
  lookupAndDelete(key: Uint8Array | null, flags = 0): Buffer | undefined {
    const attr = this.#keyed(key);
    attr.writeUInt32LE(flags, 24);
    const r = this.#n.bpf(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, attr, AttrSize.MAP_ELEM);
    if (r.ret < 0) {
      if (r.errno === ENOENT) return undefined;
      this.#fail("BPF_MAP_LOOKUP_AND_DELETE_ELEM", r.errno);
    }
    return Buffer.from(this.#value);
  }

  /** Queue/stack: adds a value (UpdateFlags.EXIST overwrites the oldest when full). Bloom: adds a member. */
  push(value: Uint8Array, flags = 0): void {
    this.update(null, value, flags);
  }

  /** Queue: the oldest value; stack: the newest. Removed from the map. */
  pop(): Buffer | undefined {
    return this.lookupAndDelete(null);
  }

  /** As pop, without removing. */
  peek(): Buffer | undefined {
    return this.lookup(null);
  }

  /** Bloom filter membership: false means certainly absent, true means probably present. */
  contains(value: Uint8Array): boolean {
    if (this.type !== MapType.BLOOM_FILTER) throw new PlexusBpfError(`${this.#what()} is not a bloom filter`);
    this.#setValue(value);
    const r = this.#n.bpf(BpfCmd.MAP_LOOKUP_ELEM, this.#nullKeyAttr, AttrSize.MAP_ELEM);
    if (r.ret >= 0) return true;
    if (r.errno === ENOENT) return false;
    this.#fail("BPF_MAP_LOOKUP_ELEM", r.errno);
  }

  /** The key after `key` (the first key with null), or undefined at the end. */
  nextKey(key: Uint8Array | null): Buffer | undefined {
    let attr = this.#firstAttr;
    if (key) {
      if (key.length !== this.keySize)
        throw new PlexusBpfError(`${this.#what()}: key of ${key.length} bytes, expected ${this.keySize}`);
      this.#key.set(key);
      attr = this.#nextAttr;
    }
    const r = this.#n.bpf(BpfCmd.MAP_GET_NEXT_KEY, attr, AttrSize.MAP_ELEM);
    if (r.ret < 0) {
      if (r.errno === ENOENT) return undefined;
      this.#fail("BPF_MAP_GET_NEXT_KEY", r.errno);
    }
    return Buffer.from(this.#next);
  }

  /**
   * Every key. Deleting the current key while iterating is fine (hash maps then restart from their
   * first key); a map that keeps changing under the iterator aborts it after maxEntries keys.
   */
  *keys(): IterableIterator<Buffer> {
    let n = 0;
    for (let k = this.nextKey(null); k; k = this.nextKey(k)) {
      if (++n > this.maxEntries)
        throw new PlexusBpfError(
          `${this.#what()}: iteration aborted, the map changed too much while iterating`,
        );
      yield k;
    }
  }

  /** Every [key, value] (values copied; entries deleted meanwhile are skipped). */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]> {
    return this.entries();
  }

  // ---- batches -----------------------------------------------------------------------------

  /** Output buffers for `count` elements of lookupBatch. */
  batchBuffers(count: number): { keys: Buffer; values: Buffer } {
    return {
      keys: stableBuffer(count * this.keySize),
      values: stableBuffer(count * this.valueBufferSize),
    };
  }

  #batchWalk(cmd: number, cursor: BatchCursor, count: number, out?: { keys: Buffer; values: Buffer }) {
    const o = out ?? this.batchBuffers(count);
    if (o.keys.length < count * this.keySize || o.values.length < count * this.valueBufferSize)
      throw new PlexusBpfError(`${this.#what()}: batch buffers too small for ${count} elements`);
    const chunk: BatchChunk = { count: 0, keys: o.keys, values: o.values, done: cursor.done };
    if (cursor.done || count === 0) return chunk;
    if (!cursor.emulated) {
      const token = cursor.token(this.keySize);
      const r = mapBatch(cmd, {
        fd: this.fd,
        inBatch: cursor.started ? token : null,
        outBatch: token,
        keys: o.keys,
        values: o.values,
        count,
      });
      if (r.errno === 0 || r.errno === ENOENT) {
        cursor.started = true;
        cursor.done = r.errno === ENOENT;
        return { ...chunk, count: r.count, done: cursor.done };
      }
      if (!NO_BATCH.has(r.errno) || cursor.started) {
        const hint =
          r.errno === ENOSPC ? `: a hash bucket holds more than ${count} elements, ask for more` : "";
        throw new BpfError(cmdNameOf(cmd), r.errno, `${this.#what()}${hint}`);
      }
      cursor.emulated = true; // this map type has no batch operations: walk it element by element
    }
    const del = cmd === BpfCmd.MAP_LOOKUP_AND_DELETE_BATCH;
    let n = 0;
    while (n < count) {
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
    return { ...chunk, count: n, done: cursor.done };
  }

  /**
   * BPF_MAP_LOOKUP_BATCH: the next (up to) `count` elements after `cursor`, as flat key and value
   * buffers (element i at i*keySize and i*valueBufferSize). Pass `out` (see batchBuffers) to reuse
   * buffers. Map types without batch support are walked element by element behind the same API.
   */
  lookupBatch(cursor: BatchCursor, count: number, out?: { keys: Buffer; values: Buffer }): BatchChunk {
    return this.#batchWalk(BpfCmd.MAP_LOOKUP_BATCH, cursor, count, out);
  }

  /** As lookupBatch, removing what it returns. */
  lookupAndDeleteBatch(
    cursor: BatchCursor,
    count: number,
    out?: { keys: Buffer; values: Buffer },
  ): BatchChunk {
    return this.#batchWalk(BpfCmd.MAP_LOOKUP_AND_DELETE_BATCH, cursor, count, out);
  }

  /** Every [key, value] through batched lookups of `batchSize` elements. */
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

  #flat(items: readonly Uint8Array[] | Uint8Array, size: number, what: string): { buf: Buffer; n: number } {
    if (!Array.isArray(items)) {
      const flat = items as Uint8Array;
      if (size === 0 || flat.length % size !== 0)
        throw new PlexusBpfError(
          `${this.#what()}: ${what} of ${flat.length} bytes, not a multiple of ${size}`,
        );
      return { buf: Buffer.isBuffer(flat) ? flat : Buffer.from(flat), n: flat.length / size };
    }
    const list = items as readonly Uint8Array[];
    const buf = stableBuffer(list.length * size);
    list.forEach((x, i) => {
      if (x.length !== size)
        throw new PlexusBpfError(`${this.#what()}: ${what}[${i}] of ${x.length} bytes, expected ${size}`);
      buf.set(x, i * size);
    });
    return { buf, n: list.length };
  }

  /**
   * BPF_MAP_UPDATE_BATCH: keys and values as arrays or as flat buffers. Returns how many were
   * written; on an error part-way the BpfError says how many went through.
   */
  updateBatch(
    keys: readonly Uint8Array[] | Uint8Array,
    values: readonly Uint8Array[] | Uint8Array,
    opts: { elemFlags?: number } = {},
  ): number {
    const k = this.#flat(keys, this.keySize, "keys");
    const v = this.#flat(values, this.valueBufferSize, "values");
    if (k.n !== v.n) throw new PlexusBpfError(`${this.#what()}: ${k.n} keys but ${v.n} values`);
    if (k.n === 0) return 0;
    const r = mapBatch(BpfCmd.MAP_UPDATE_BATCH, {
      fd: this.fd,
      inBatch: null,
      outBatch: null,
      keys: k.buf,
      values: v.buf,
      count: k.n,
      elemFlags: opts.elemFlags,
    });
    if (r.errno === 0) return r.count;
    if (!NO_BATCH.has(r.errno))
      throw new BpfError("BPF_MAP_UPDATE_BATCH", r.errno, `${this.#what()}: after ${r.count} of ${k.n}`);
    for (let i = 0; i < k.n; i++)
      this.update(
        k.buf.subarray(i * this.keySize, (i + 1) * this.keySize),
        v.buf.subarray(i * this.valueBufferSize, (i + 1) * this.valueBufferSize),
        opts.elemFlags ?? 0,
      );
    return k.n;
  }

  /** BPF_MAP_DELETE_BATCH. Stops at the first key that fails (an absent key raises ENOENT). */
  deleteBatch(keys: readonly Uint8Array[] | Uint8Array): number {
    const k = this.#flat(keys, this.keySize, "keys");
    if (k.n === 0) return 0;
    const r = mapBatch(BpfCmd.MAP_DELETE_BATCH, {
      fd: this.fd,
      inBatch: null,
      outBatch: null,
      keys: k.buf,
      values: null,
      count: k.n,
    });
    if (r.errno === 0) return r.count;
    if (!NO_BATCH.has(r.errno))
      throw new BpfError("BPF_MAP_DELETE_BATCH", r.errno, `${this.#what()}: after ${r.count} of ${k.n}`);
    for (let i = 0; i < k.n; i++)
      if (!this.delete(k.buf.subarray(i * this.keySize, (i + 1) * this.keySize)))
        throw new BpfError("BPF_MAP_DELETE_ELEM", ENOENT, `${this.#what()}: after ${i} of ${k.n}`);
    return k.n;
  }

  // ---- whole-map operations ------------------------------------------------------------------

  /** Makes the map read-only for user space (BPF_MAP_FREEZE); programs may still write it. */
  freeze(): void {
    mapFreeze(this.fd);
  }

  /**
   * The values of an MMAPABLE array as shared memory (global data): writes through it are seen by
   * programs and lookups without syscalls. Read-only when the map is frozen or `readOnly` is asked.
   * The memory is detached from the map on close (views then read zeros, they never crash).
   */
  mmap(opts: { readOnly?: boolean } = {}): Uint8Array {
    if (this.#closed) throw new PlexusBpfError(`${this.#what()} is closed`);
    if (!(this.flags & MapFlags.MMAPABLE))
      throw new PlexusBpfError(`${this.#what()} is not mmapable: create it with MapFlags.MMAPABLE`);
    if (!this.#mapping) {
      const page = this.#n.pageSize();
      const bytes = round8(this.valueSize) * this.maxEntries;
      const length = Math.max(page, Math.ceil(bytes / page) * page);
      if (opts.readOnly) this.#mapping = Mapping.map(this.fd, length, PROT_READ);
      else {
        try {
          this.#mapping = Mapping.map(this.fd, length, PROT_READ | PROT_WRITE);
        } catch (e) {
          // Frozen maps (and BPF_F_RDONLY_PROG ones) can only be mapped for reading.
          if (!(e instanceof BpfError) || (e.errno !== EPERM && e.errno !== EACCES)) throw e;
          this.#mapping = Mapping.map(this.fd, length, PROT_READ);
        }
      }
    }
    const used = (this.maxEntries - 1) * round8(this.valueSize) + this.valueSize;
    return new Uint8Array(this.#mapping.buffer, 0, used);
  }

  /** Pins the map on a bpffs. */
  pin(path: string): void {
    pinFd(this.fd, path);
  }

  /** BPF_OBJ_GET_INFO_BY_FD. */
  info(): MapInfo {
    return mapInfo(this.fd);
  }

  /** A typed view: keys and values through codecs. */
  typed<K, V>(key: Codec<K>, value: Codec<V>): TypedMap<K, V> {
    return new TypedMap(this, key, value);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the fd (the map lives on while programs, pins or other fds hold it) and unmaps memory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mapping?.close();
    this.#n.close(this.fd);
  }
}

const cmdNameOf = (cmd: number): string =>
  cmd === BpfCmd.MAP_LOOKUP_AND_DELETE_BATCH ? "BPF_MAP_LOOKUP_AND_DELETE_BATCH" : "BPF_MAP_LOOKUP_BATCH";
