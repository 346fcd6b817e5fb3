// The capture data plane's records and map layouts (cap_abi.h): keep the two in step.

export const CAP_MAX = 32736;
/** struct cap_record, before the packet bytes. */
export const RECORD_HEADER = 24;

export const Maps = {
  config: "cap_config",
  cpu: "cap_cpu",
  scratch: "cap_scratch",
  stats: "cap_stats",
  ring: "cap_ring",
  jump: "cap_jump",
} as const;

/** The recorder program: the filter tail-calls it with the verdict in cap_cpu. */
export const RECORD_PROGRAM = "capture_record";

export const Jump = { FILTER: 0, RECORD: 1 } as const;
export const ConfigFlag = { TRACE: 1 } as const;

/** Offsets in struct cap_cpu. */
export const CpuField = { verdict: 0, buffered: 4, bufLen: 8, pktLen: 12 } as const;

export function encodeConfig(c: { active: boolean; snaplen: number; trace: boolean }): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(c.active ? 1 : 0, 0);
  b.writeUInt32LE(c.snaplen, 4);
  b.writeUInt32LE(c.trace ? ConfigFlag.TRACE : 0, 8);
  return b;
}

export interface CaptureRecord {
  /** CLOCK_MONOTONIC ns. */
  tstamp: bigint;
  /** Length on the wire (with a put-back VLAN tag). */
  length: number;
  data: Buffer;
  ifindex: number;
}

/** Decodes a ring record; `copy` keeps the bytes (ring views are only valid during a drain). */
export function decodeRecord(rec: Buffer, copy = true): CaptureRecord | undefined {
  if (rec.length < RECORD_HEADER) return undefined;
  const cap = Math.min(rec.readUInt32LE(12), rec.length - RECORD_HEADER);
  const data = rec.subarray(RECORD_HEADER, RECORD_HEADER + cap);
  return {
    tstamp: rec.readBigUInt64LE(0),
    length: rec.readUInt32LE(8),
    ifindex: rec.readUInt32LE(16),
    data: copy ? Buffer.from(data) : data,
  };
}

export interface CaptureStats {
  seen: bigint;
  matched: bigint;
  captured: bigint;
  lost: bigint;
  errors: bigint;
}

/** Sums the per-CPU struct cap_stats values. */
export function sumStats(perCpu: readonly Uint8Array[]): CaptureStats {
  const s = { seen: 0n, matched: 0n, captured: 0n, lost: 0n, errors: 0n };
  for (const v of perCpu) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    s.seen += b.readBigUInt64LE(0);
    s.matched += b.readBigUInt64LE(8);
    s.captured += b.readBigUInt64LE(16);
    s.lost += b.readBigUInt64LE(24);
    s.errors += b.readBigUInt64LE(32);
  }
  return s;
}
