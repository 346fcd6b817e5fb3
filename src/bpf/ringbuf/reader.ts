// Consumer of a BPF_MAP_TYPE_RINGBUF map, reading records straight from shared memory.
//
// Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (the only page user space may
// write); page 1 the producer position; then the data area, mapped twice in a row so a record that
// wraps around the end is still contiguous. Each record starts with an 8-byte header: a u32 length
// whose bit 31 (BUSY) is set while the producer still writes it and bit 30 (DISCARD) when it was
// thrown away, then the page offset. Records are 8-byte aligned. Reading takes no system call;
// waiting for data is an epoll registration in libuv's loop (poll(2) on the map fd).
import { MapType } from "../constants.js";
import { PlexusBpfError } from "../errors.js";
import { Mapping, PROT_READ, PROT_WRITE } from "../sys/mapping.js";
import { native, type PollWatch } from "../sys/native.js";

const BUSY = 0x80000000 | 0;
const DISCARD = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HDR = 8;

/** What the reader needs from a map: its fd, type and data size. (A BpfMap fits.) */
export interface RingBufferMap {
  fd: number;
  type: number;
  maxEntries: number;
  name?: string;
}

export class RingBufferReader implements AsyncIterable<Buffer> {
  readonly size: number;
  readonly #fd: number;
  readonly #consumerMap: Mapping;
  readonly #producerMap: Mapping;
  readonly #consumerPos: BigUint64Array;
  readonly #producerPos: BigUint64Array;
  readonly #words: Int32Array;
  readonly #dataOffset: number;
  #cons: number;
  #prod = 0;
  #watch: PollWatch | undefined;
  #waiting: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(map: RingBufferMap) {
    if (map.type !== MapType.RINGBUF)
      throw new PlexusBpfError(`map ${map.name ?? map.fd} is not a ring buffer (type ${map.type})`);
    const n = native();
    const page = n.pageSize();
    this.size = map.maxEntries;
    this.#fd = map.fd;
    this.#consumerMap = Mapping.map(map.fd, page, PROT_READ | PROT_WRITE, 0);
    try {
      this.#producerMap = Mapping.map(map.fd, page + 2 * this.size, PROT_READ, page);
    } catch (e) {
      this.#consumerMap.close();
      throw e;
    }
    this.#consumerPos = new BigUint64Array(this.#consumerMap.buffer, 0, 1);
    this.#producerPos = new BigUint64Array(this.#producerMap.buffer, 0, 1);
    this.#words = new Int32Array(this.#producerMap.buffer, page, (2 * this.size) / 4);
    this.#dataOffset = page;
    this.#cons = Number(Atomics.load(this.#consumerPos, 0));
  }

  /** Bytes written by producers and not consumed yet (records, headers and busy ones included). */
  get pending(): number {
    if (this.#closed) return 0;
    return Number(Atomics.load(this.#producerPos, 0)) - this.#cons;
  }

  /** Releases everything up to the current position to the producers (store-release on x86 and arm64). */
  #commit(): void {
    Atomics.store(this.#consumerPos, 0, BigInt(this.#cons));
  }

  /**
   * Finds the next committed record: its data offset (in the producer mapping) and length, or -1
   * when there is none yet. Discarded records are skipped (and released) on the way.
   */
  #next(): number {
    for (;;) {
      if (this.#cons >= this.#prod) {
        this.#prod = Number(Atomics.load(this.#producerPos, 0));
        if (this.#cons >= this.#prod) return -1;
      }
      const off = this.#cons % this.size;
      const hdr = Atomics.load(this.#words, off >> 2);
      if (hdr & BUSY) return -1; // the producer has not committed it yet: order must be kept
      if (hdr & DISCARD) {
        this.#cons += ((hdr & LEN_MASK) + HDR + 7) & ~7;
        this.#commit();
        continue;
      }
      return off;
    }
  }

  /** The next record (a copy), or undefined when none is ready. */
  read(): Buffer | undefined {
    if (this.#closed) return undefined;
    const off = this.#next();
    if (off < 0) return undefined;
    const len = this.#words[off >> 2] & LEN_MASK;
    const start = this.#dataOffset + off + HDR;
    const out = Buffer.from(Buffer.from(this.#producerMap.buffer, start, len));
    this.#cons += (len + HDR + 7) & ~7;
    this.#commit();
    return out;
  }

  /**
   * Hands every ready record to `cb` and returns how many there were (at most `limit`). The Buffer
   * is a view of the ring itself, valid only during the callback: copy what you keep.
   */
  drain(cb: (record: Buffer) => void, limit = Infinity): number {
    let n = 0;
    while (n < limit && !this.#closed) {
      const off = this.#next();
      if (off < 0) break;
      const len = this.#words[off >> 2] & LEN_MASK;
      const view = Buffer.from(this.#producerMap.buffer, this.#dataOffset + off + HDR, len);
      this.#cons += (len + HDR + 7) & ~7;
      n++;
      try {
        cb(view);
      } finally {
        this.#commit(); // consumed even if the callback throws, as libbpf does
      }
    }
    return n;
  }

  /** Resolves when the ring has data (or the reader is closed). No thread, no busy loop. */
  wait(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // Data is there but its first record is still being written (BUSY): the producer finishes
    // within its program run, so check again on the next turn of the event loop. (poll(2) would
    // report the fd readable at once, and a resolved promise would spin in microtasks.)
    if (this.pending > 0) return new Promise((resolve) => setImmediate(resolve));
    this.#waiting ??= new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (this.#watch) this.#watch.start();
      else this.#watch = native().pollReadable(this.#fd, () => this.#onReadable());
    });
    return this.#waiting;
  }

  #onReadable(): void {
    // Level-triggered: stop watching until someone waits again, or unread data would spin the loop.
    this.#watch?.stop();
    const wake = this.#wake;
    this.#waiting = undefined;
    this.#wake = undefined;
    wake?.();
  }

  /** Records as they arrive (copies); ends when the reader is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    while (!this.#closed) {
      const r = this.read();
      if (r) yield r;
      else await this.wait();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops waiting (pending iterators end) and unmaps the ring. The map itself stays open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.close();
    this.#watch = undefined;
    this.#onReadable();
    this.#consumerMap.close();
    this.#producerMap.close();
  }
}
