// One capture as a pcap byte stream: the records of one or two capture instances (the two
// directions of one point) merged in time order, converted to wall-clock time, written as pcap
// until a packet count, a duration or stop(). A sink that is slower than the packets stops the
// draining; the rings then fill and the data plane counts what it could not keep as lost, as the
// kernel does for tcpdump.
import type { CaptureRecord } from "./layout.js";
import { CAP_MAX } from "./layout.js";
import { PCAP_RECORD_HEADER, pcapHeader, pcapRecord, writePcapRecord, type Precision } from "./pcap.js";

/** Where records come from: a CaptureReader (one capture instance's ring). */
export interface RecordSource {
  drain(cb: (r: CaptureRecord) => void, limit?: number): number;
  /** Raw ring records (struct cap_record + bytes), valid during the callback: the fast path. */
  drainRaw?(cb: (rec: Buffer) => void, limit?: number): number;
  wait(): Promise<void>;
}

export interface StreamOptions {
  snaplen: number;
  precision?: Precision;
  /** Stop after this many packets. */
  count?: number;
  /** Stop after this long. */
  durationMs?: number;
}

export type StopReason = "count" | "duration" | "stopped";

/** Records drained from one ring before writing (bounds the memory of one step). */
const BATCH = 4096;
/** Bytes of pcap written per step on the single-ring path. */
const CHUNK = 1 << 20;

/** Nanoseconds to add to CLOCK_MONOTONIC (the data plane's clock) for wall-clock time. */
export function realtimeOffsetNs(): bigint {
  const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wall - process.hrtime.bigint();
}

export class PcapStream {
  packets = 0;
  private stopReason: StopReason | undefined;
  private wake: (() => void) | undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.wake = resolve));

  constructor(
    private readonly readers: readonly RecordSource[],
    private readonly opts: StreamOptions,
  ) {}

  /** Ends the stream at the next step (idempotent; the first reason wins). */
  stop(reason: StopReason = "stopped"): void {
    this.stopReason ??= reason;
    this.wake?.();
  }

  /**
   * Writes the pcap header, then records as they come, to `sink` (awaited: backpressure) until
   * the stream stops. Resolves with why it stopped.
   */
  async run(sink: (chunk: Buffer) => void | Promise<void>): Promise<StopReason> {
    const precision = this.opts.precision ?? "micro";
    const timer =
      this.opts.durationMs !== undefined
        ? setTimeout(() => this.stop("duration"), this.opts.durationMs)
        : undefined;
    try {
      await sink(pcapHeader(this.opts.snaplen, precision));
      const offset = realtimeOffsetNs();
      const only = this.readers.length === 1 ? this.readers[0] : undefined;
      if (only?.drainRaw) await this.runRaw(only, only.drainRaw.bind(only), sink, offset, precision);
      while (this.stopReason === undefined) {
        const batch: CaptureRecord[] = [];
        for (const r of this.readers) r.drain((rec) => batch.push(rec), BATCH);
        if (batch.length === 0) {
          await Promise.race([...this.readers.map((r) => r.wait()), this.stopped]);
          continue;
        }
        if (this.readers.length > 1)
          batch.sort((a, b) => (a.tstamp < b.tstamp ? -1 : a.tstamp > b.tstamp ? 1 : 0));
        const left = this.opts.count !== undefined ? this.opts.count - this.packets : batch.length;
        const take = batch.slice(0, Math.max(0, left));
        const chunk = Buffer.concat(
          take.map((r) => pcapRecord(r.tstamp + offset, r.data, r.length, precision)),
        );
        this.packets += take.length;
        if (chunk.length) await sink(chunk);
        if (this.opts.count !== undefined && this.packets >= this.opts.count) this.stop("count");
      }
      return this.stopReason ?? "stopped";
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * One ring (one direction): nothing to merge, so records go from the ring straight into the
   * output chunk, with no object per record. A capture of a busy link spends its time here.
   */
  private async runRaw(
    src: RecordSource,
    drainRaw: NonNullable<RecordSource["drainRaw"]>,
    sink: (chunk: Buffer) => void | Promise<void>,
    offset: bigint,
    precision: Precision,
  ): Promise<void> {
    const offSec = Number(offset / 1_000_000_000n);
    const offNs = Number(offset % 1_000_000_000n);
    const biggest = PCAP_RECORD_HEADER + Math.min(this.opts.snaplen, CAP_MAX);
    while (this.stopReason === undefined) {
      const out = Buffer.allocUnsafe(CHUNK);
      let at = 0;
      let n = 0;
      const left = this.opts.count !== undefined ? this.opts.count - this.packets : Infinity;
      for (;;) {
        // Only as many as surely fit: a drained record is gone from the ring.
        const limit = Math.min(Math.floor((CHUNK - at) / biggest), left - n);
        if (limit <= 0) break;
        const got = drainRaw((rec) => {
          const end = writePcapRecord(out, at, rec, offSec, offNs, precision);
          if (end > at) n++;
          at = end;
        }, limit);
        if (got < limit) break;
      }
      if (n === 0) {
        await Promise.race([src.wait(), this.stopped]);
        continue;
      }
      this.packets += n;
      await sink(out.subarray(0, at));
      if (this.opts.count !== undefined && this.packets >= this.opts.count) this.stop("count");
    }
  }
}
