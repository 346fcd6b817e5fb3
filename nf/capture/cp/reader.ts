// Reads a capture instance's ring (struct cap_record + packet bytes per record) from shared
// memory, without a system call per record; waits for more through poll(2) in the event loop.
import type { BpfMap } from "../../../src/bpf/map/map.js";
import { RingBufferReader } from "../../../src/bpf/ringbuf/reader.js";
import { decodeRecord, type CaptureRecord } from "./layout.js";

export class CaptureReader {
  private readonly ring: RingBufferReader;

  constructor(map: BpfMap) {
    this.ring = new RingBufferReader(map);
    this.ring.drain(() => undefined); // what was recorded before this reader: not ours
  }

  /** Hands over up to `limit` records (their bytes copied); returns how many there were. */
  drain(cb: (r: CaptureRecord) => void, limit = Infinity): number {
    return this.ring.drain((rec) => {
      const r = decodeRecord(rec);
      if (r) cb(r);
    }, limit);
  }

  /**
   * Hands over up to `limit` raw records (struct cap_record and the bytes) as views of the ring,
   * valid only during the callback; returns how many there were.
   */
  drainRaw(cb: (rec: Buffer) => void, limit = Infinity): number {
    return this.ring.drain(cb, limit);
  }

  /** Resolves when records are waiting (or the reader is closed). */
  wait(): Promise<void> {
    return this.ring.wait();
  }

  get closed(): boolean {
    return this.ring.closed;
  }

  close(): void {
    this.ring.close();
  }
}
