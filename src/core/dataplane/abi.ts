// The data-plane framework's binary interface, mirroring nf/include/plexus.h: limits, hop and
// port records, counters and slow-path events. Keep the two in step.

export const MAX_SLOTS = 256;
export const MAX_PORTS = 128;
export const DROP_REASONS = 16;
export const CP_MAXLEN = 1536;

export const HopKind = { DROP: 0, PASS: 1, IFACE: 2, SLOT: 3 } as const;
export type Hop =
  | { kind: "drop" }
  | { kind: "pass" }
  | { kind: "iface"; ifindex: number }
  /** Into `slot` through `port`; `ifindex` is the link veth reaching the same port (0 if none). */
  | { kind: "slot"; slot: number; port: number; ifindex: number };

export const Direction = { RX: 0, TX: 1 } as const;

/** Framework drop reasons (0..11 are the NF's). */
export const FrameworkDrop = { NF: 0, TO_CP: 12, LOOP: 13, NO_INSTANCE: 14, PORT_DOWN: 15 } as const;
export const FRAMEWORK_DROP_NAMES: Record<number, string> = {
  12: "to_control_plane",
  13: "loop",
  14: "no_instance",
  15: "port_down",
};

export const HOP_SIZE = 16;

export function encodeHop(h: Hop, out: Buffer = Buffer.alloc(HOP_SIZE), at = 0): Buffer {
  out.fill(0, at, at + HOP_SIZE);
  switch (h.kind) {
    case "drop":
      break;
    case "pass":
      out.writeUInt32LE(HopKind.PASS, at);
      break;
    case "iface":
      out.writeUInt32LE(HopKind.IFACE, at);
      out.writeUInt32LE(h.ifindex, at + 4);
      break;
    case "slot":
      out.writeUInt32LE(HopKind.SLOT, at);
      out.writeUInt32LE(h.ifindex, at + 4);
      out.writeUInt16LE(h.slot, at + 8);
      out.writeUInt16LE(h.port, at + 10);
      break;
  }
  return out;
}

export function decodeHop(b: Uint8Array, at = 0): Hop {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  switch (v.readUInt32LE(at)) {
    case HopKind.PASS:
      return { kind: "pass" };
    case HopKind.IFACE:
      return { kind: "iface", ifindex: v.readUInt32LE(at + 4) };
    case HopKind.SLOT:
      return {
        kind: "slot",
        ifindex: v.readUInt32LE(at + 4),
        slot: v.readUInt16LE(at + 8),
        port: v.readUInt16LE(at + 10),
      };
    default:
      return { kind: "drop" };
  }
}

/** struct px_iface_key */
export function ifaceKey(ifindex: number, dir: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(ifindex, 0);
  b.writeUInt32LE(dir, 4);
  return b;
}

export const u32Key = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** Index of a port's record in px_ports. */
export const portIndex = (slot: number, port: number): number => slot * MAX_PORTS + port;
/** Index of a port/direction's counters in px_stats. */
export const statsIndex = (slot: number, port: number, dir: number): number =>
  (slot * MAX_PORTS + port) * 2 + dir;
export const dropIndex = (slot: number, reason: number): number => slot * DROP_REASONS + reason;

/** struct px_md */
export function encodeMd(slot: number, port: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(slot, 0);
  b.writeUInt16LE(port, 2);
  return b;
}

export interface Counter {
  packets: bigint;
  bytes: bigint;
  drops: bigint;
}

/** Sums per-CPU struct px_counter values. */
export function sumCounters(perCpu: readonly Uint8Array[]): Counter {
  const c = { packets: 0n, bytes: 0n, drops: 0n };
  for (const v of perCpu) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    c.packets += b.readBigUInt64LE(0);
    c.bytes += b.readBigUInt64LE(8);
    c.drops += b.readBigUInt64LE(16);
  }
  return c;
}

export const EVENT_HEADER = 32;
export const EventType = { PACKET: 1 } as const;

export interface PacketEvent {
  slot: number;
  port: number;
  reason: number;
  length: number;
  user: number;
  timestampNs: bigint;
  data: Buffer;
}

/** Decodes a px_events record (struct px_event with cap_len bytes of data). */
export function decodeEvent(rec: Uint8Array): PacketEvent | undefined {
  if (rec.length < EVENT_HEADER) return undefined;
  const b = Buffer.from(rec.buffer, rec.byteOffset, rec.byteLength);
  if (b.readUInt16LE(0) !== EventType.PACKET) return undefined;
  const cap = Math.min(b.readUInt32LE(12), rec.length - EVENT_HEADER);
  return {
    slot: b.readUInt16LE(2),
    port: b.readUInt16LE(4),
    reason: b.readUInt16LE(6),
    length: b.readUInt32LE(8),
    timestampNs: b.readBigUInt64LE(16),
    user: b.readUInt32LE(24),
    data: Buffer.from(b.subarray(EVENT_HEADER, EVENT_HEADER + cap)),
  };
}
