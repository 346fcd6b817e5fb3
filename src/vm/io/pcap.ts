// Classic pcap files (tcpdump's format): either byte order, microsecond or nanosecond timestamps.
// Reading yields Ethernet frames; writing produces little-endian nanosecond files of LINKTYPE_ETHERNET.
import { PlexusBpfError } from "../../bpf/errors.js";

export const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

export interface CapturedPacket {
  /** Capture time in nanoseconds since the epoch. */
  timeNs: bigint;
  data: Buffer;
  /** Length on the wire (data may be cut to the snap length). */
  origLen: number;
  /** pcapng: the interface the packet was captured on. */
  interfaceId?: number;
  /** pcapng: the packet's comment. */
  comment?: string;
}

/** Whether `b` starts like a classic pcap file. */
export function isPcap(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const le = Buffer.from(b.buffer, b.byteOffset, 4).readUInt32LE(0);
  const be = Buffer.from(b.buffer, b.byteOffset, 4).readUInt32BE(0);
  return le === MAGIC_US || le === MAGIC_NS || be === MAGIC_US || be === MAGIC_NS;
}

/** Reads every packet of a classic pcap file. */
export function* readPcap(file: Buffer, name = "pcap"): IterableIterator<CapturedPacket> {
  if (file.length < 24) throw new PlexusBpfError(`${name}: too short for a pcap header`);
  let le = true;
  let nano: boolean;
  const m = file.readUInt32LE(0);
  if (m === MAGIC_US || m === MAGIC_NS) nano = m === MAGIC_NS;
  else {
    const mb = file.readUInt32BE(0);
    if (mb !== MAGIC_US && mb !== MAGIC_NS)
      throw new PlexusBpfError(`${name}: not a pcap file (magic 0x${m.toString(16)})`);
    le = false;
    nano = mb === MAGIC_NS;
  }
  const u32 = (o: number): number => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const link = u32(20) & 0x0fffffff;
  if (link !== LINKTYPE_ETHERNET) throw new PlexusBpfError(`${name}: link type ${link} is not Ethernet`);
  for (let o = 24; o < file.length;) {
    if (o + 16 > file.length) throw new PlexusBpfError(`${name}: truncated record header at byte ${o}`);
    const sec = BigInt(u32(o));
    const frac = BigInt(u32(o + 4));
    const incl = u32(o + 8);
    const orig = u32(o + 12);
    if (o + 16 + incl > file.length) throw new PlexusBpfError(`${name}: truncated packet at byte ${o}`);
    yield {
      timeNs: sec * 1_000_000_000n + (nano ? frac : frac * 1000n),
      data: file.subarray(o + 16, o + 16 + incl),
      origLen: orig,
    };
    o += 16 + incl;
  }
}

/** Writes packets as a classic pcap file (nanosecond timestamps). */
export class PcapWriter {
  readonly #chunks: Buffer[] = [];

  constructor(snapLen = 262144) {
    const h = Buffer.alloc(24);
    h.writeUInt32LE(MAGIC_NS, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(snapLen, 16);
    h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    this.#chunks.push(h);
  }

  add(p: { timeNs: bigint; data: Uint8Array; origLen?: number }): void {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(Number(p.timeNs / 1_000_000_000n), 0);
    r.writeUInt32LE(Number(p.timeNs % 1_000_000_000n), 4);
    r.writeUInt32LE(p.data.length, 8);
    r.writeUInt32LE(Math.max(p.origLen ?? p.data.length, p.data.length), 12);
    this.#chunks.push(r, Buffer.from(p.data));
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}
