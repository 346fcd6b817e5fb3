// The classic pcap format tcpdump writes (-w): a 24-byte file header, then per packet a 16-byte
// record header and the captured bytes. Little-endian, LINKTYPE_ETHERNET, microsecond timestamps
// (tcpdump's default) or nanosecond ones (--time-stamp-precision=nano). Also a parser that cuts a
// pcap byte stream into whole records, so a client that stops mid-stream writes a valid file.

export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_HEADER = 24;
export const PCAP_RECORD_HEADER = 16;
/** struct cap_record (cap_abi.h; layout.ts RECORD_HEADER): time, length, captured, ifindex. */
const RING_RECORD_HEADER = 24;

export type Precision = "micro" | "nano";

export function pcapHeader(snaplen: number, precision: Precision = "micro"): Buffer {
  const h = Buffer.alloc(PCAP_HEADER);
  h.writeUInt32LE(precision === "nano" ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return h;
}

/** One record: `timeNs` since the epoch, the captured bytes and the length on the wire. */
export function pcapRecord(
  timeNs: bigint,
  data: Uint8Array,
  origLen: number,
  precision: Precision = "micro",
): Buffer {
  const r = Buffer.alloc(PCAP_RECORD_HEADER + data.length);
  r.writeUInt32LE(Number(timeNs / 1_000_000_000n), 0);
  const frac = timeNs % 1_000_000_000n;
  r.writeUInt32LE(Number(precision === "nano" ? frac : frac / 1000n), 4);
  r.writeUInt32LE(data.length, 8);
  r.writeUInt32LE(Math.max(origLen, data.length), 12);
  r.set(data, PCAP_RECORD_HEADER);
  return r;
}

/**
 * Writes a ring record (struct cap_record, then the bytes) into `out` at `at` as a pcap record,
 * with its monotonic time moved by `offSec` / `offNs` (wall clock = monotonic + offset; offNs in
 * 0..1e9); returns the offset after it, or `at` for a record too short to be one. The streaming hot
 * path: no allocation and no bigint per record (monotonic nanoseconds stay exact as numbers for
 * 104 days of uptime). `out` must have room for 16 bytes plus the record's captured bytes.
 */
export function writePcapRecord(
  out: Buffer,
  at: number,
  rec: Buffer,
  offSec: number,
  offNs: number,
  precision: Precision = "micro",
): number {
  if (rec.length < RING_RECORD_HEADER) return at;
  const mono = rec.readUInt32LE(4) * 0x1_0000_0000 + rec.readUInt32LE(0);
  const caplen = Math.min(rec.readUInt32LE(12), rec.length - RING_RECORD_HEADER);
  const monoSec = Math.floor(mono / 1e9);
  let ns = mono - monoSec * 1e9 + offNs;
  let sec = monoSec + offSec;
  if (ns >= 1e9) {
    ns -= 1e9;
    sec += 1;
  }
  out.writeUInt32LE(sec >>> 0, at);
  out.writeUInt32LE(precision === "nano" ? ns : Math.floor(ns / 1000), at + 4);
  out.writeUInt32LE(caplen, at + 8);
  out.writeUInt32LE(Math.max(rec.readUInt32LE(8), caplen), at + 12);
  rec.copy(out, at + PCAP_RECORD_HEADER, RING_RECORD_HEADER, RING_RECORD_HEADER + caplen);
  return at + PCAP_RECORD_HEADER + caplen;
}

/**
 * Cuts a pcap stream into whole pieces: first the file header, then one record at a time. Bytes of
 * a record not complete yet are kept for the next push.
 */
export class PcapStreamParser {
  private pending: Buffer = Buffer.alloc(0);
  private headerSeen = false;
  private littleEndian = true;
  /** Records passed out so far. */
  records = 0;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.pushWhole(chunk, (buf, start, end) => out.push(buf.subarray(start, end)));
    return out;
  }

  /**
   * Takes a chunk and returns what it completes as one piece: the file header (first time) and
   * every whole record, without an object per record (a file writer's hot path). `each` sees
   * every piece (the header, then each record) as bounds in the returned buffer's memory.
   */
  pushWhole(chunk: Buffer, each?: (buf: Buffer, start: number, end: number) => void): Buffer {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    if (!this.headerSeen) {
      if (buf.length < PCAP_HEADER) {
        this.pending = Buffer.from(buf);
        return buf.subarray(0, 0);
      }
      const magic = buf.readUInt32LE(0);
      if (magic !== PCAP_MAGIC_MICRO && magic !== PCAP_MAGIC_NANO) {
        const be = buf.readUInt32BE(0);
        if (be !== PCAP_MAGIC_MICRO && be !== PCAP_MAGIC_NANO)
          throw new Error(`the stream is not pcap (magic 0x${magic.toString(16)})`);
        this.littleEndian = false;
      }
      each?.(buf, 0, PCAP_HEADER);
      this.headerSeen = true;
      at = PCAP_HEADER;
    }
    while (buf.length - at >= PCAP_RECORD_HEADER) {
      const incl = this.littleEndian ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
      const end = at + PCAP_RECORD_HEADER + incl;
      if (end > buf.length) break;
      each?.(buf, at, end);
      this.records++;
      at = end;
    }
    this.pending = Buffer.from(buf.subarray(at));
    return buf.subarray(0, at);
  }

  /** Bytes of an unfinished record (a stream that ended here was cut). */
  get leftover(): number {
    return this.pending.length;
  }
}
