// One capture as a pcap byte stream: the records of one or two capture instances (the two
// directions of one point) merged in time order, converted to wall-clock time, written as pcap
// until a packet count, a duration or stop(). A sink that is slower than the packets stops the
// draining; the rings then fill and the data plane counts what it could not keep as lost, as the
// kernel does for tcpdump.
import type { CaptureRecord } from "./layout.js";
import { pcapHeader, pcapRecord, type Precision } from "./pcap.js";

/** Where records come from: a CaptureReader (one capture instance's ring). */
export interface RecordSource {
  drain(cb: (r: CaptureRecord) => void, limit?: number): number;
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
}
