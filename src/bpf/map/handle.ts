// What control-plane code needs from a map, wherever it lives: a kernel map (BpfMap) or a map of
// the userspace runtime (plexus/vm). Same methods, same errors (BpfError with the kernel's errno).
import type { BatchChunk, BatchCursor } from "./batch.js";
import type { Codec } from "./codec.js";
import type { TypedMap } from "./typed.js";

export interface MapHandle {
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** One value per possible CPU (PERCPU_* maps). */
  readonly perCpu: boolean;
  /** Bytes of a value as lookups return it: per-CPU maps hold one 8-byte-aligned slot per CPU. */
  readonly valueBufferSize: number;
  readonly closed: boolean;

  /** The value for `key` (a copy), or undefined when absent. Per-CPU maps: every CPU's slot. */
  lookup(key: Uint8Array | null, flags?: number): Buffer | undefined;
  /** As lookup, without the copy: valid until the next operation on this map. */
  lookupView(key: Uint8Array | null, flags?: number): Buffer | undefined;
  /** Per-CPU maps: one value per CPU, in CPU order. */
  lookupPerCpu(key: Uint8Array | null, flags?: number): Buffer[] | undefined;
  /** Inserts or replaces (UpdateFlags: ANY, NOEXIST, EXIST). */
  update(key: Uint8Array | null, value: Uint8Array, flags?: number): void;
  /** Per-CPU maps: sets each CPU's value. */
  updatePerCpu(key: Uint8Array | null, values: readonly Uint8Array[], flags?: number): void;
  /** Removes `key`; false when it was not there. */
  delete(key: Uint8Array): boolean;
  /** Looks up and removes in one step; with a null key, pops a queue or stack. */
  lookupAndDelete(key: Uint8Array | null, flags?: number): Buffer | undefined;
  /** Queue/stack: adds a value. Bloom filter: adds a member. */
  push(value: Uint8Array, flags?: number): void;
  pop(): Buffer | undefined;
  peek(): Buffer | undefined;
  /** Bloom filter membership. */
  contains(value: Uint8Array): boolean;
  /** The key after `key` (the first key with null), or undefined at the end. */
  nextKey(key: Uint8Array | null): Buffer | undefined;
  keys(): IterableIterator<Buffer>;
  entries(): IterableIterator<[Buffer, Buffer]>;
  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]>;

  batchBuffers(count: number): { keys: Buffer; values: Buffer };
  lookupBatch(cursor: BatchCursor, count: number, out?: { keys: Buffer; values: Buffer }): BatchChunk;
  lookupAndDeleteBatch(
    cursor: BatchCursor,
    count: number,
    out?: { keys: Buffer; values: Buffer },
  ): BatchChunk;
  entriesBatched(batchSize?: number): IterableIterator<[Buffer, Buffer]>;
  updateBatch(
    keys: readonly Uint8Array[] | Uint8Array,
    values: readonly Uint8Array[] | Uint8Array,
    opts?: { elemFlags?: number },
  ): number;
  deleteBatch(keys: readonly Uint8Array[] | Uint8Array): number;

  /** A typed view: keys and values through codecs. */
  typed<K, V>(key: Codec<K>, value: Codec<V>): TypedMap<K, V>;
  close(): void;
}
