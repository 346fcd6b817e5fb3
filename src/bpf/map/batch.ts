// State of a batched walk over a map (BPF_MAP_LOOKUP_BATCH and friends).
import { stableBuffer } from "../sys/buffers.js";

/** One step of a batched walk: `count` elements in flat buffers. */
export interface BatchChunk {
  /** Elements returned by this step. */
  count: number;
  /** Element i's key at i * keySize. */
  keys: Buffer;
  /** Element i's value at i * valueBufferSize. */
  values: Buffer;
  /** The walk reached the end of the map. */
  done: boolean;
}

/**
 * Where a batched walk is. The kernel hands back an opaque position token (a bucket index for hash
 * maps, the last key for arrays); maps without batch support are walked by key instead.
 */
export class BatchCursor {
  started = false;
  done = false;
  /** Walked element by element because the map type has no batch operations. */
  emulated = false;
  /** Emulated walks: the last key returned. */
  lastKey: Buffer | undefined;
  #token: Buffer | undefined;

  /** The token buffer: at least the key size (array maps) and 4 bytes (hash maps' bucket index). */
  token(keySize: number): Buffer {
    this.#token ??= stableBuffer(Math.max(keySize, 8));
    return this.#token;
  }

  /** Starts over from the beginning of the map. */
  reset(): void {
    this.started = false;
    this.done = false;
    this.emulated = false;
    this.lastKey = undefined;
  }
}
