// The load balancer's map layouts, mirroring nf/loadbalancer/lb_abi.h (the tests check the sizes
// against the loaded object's maps).
import type { Family } from "./addr.js";

export const MAX_SERVICES = 256;
export const MAX_BACKENDS = 4096;
/** Maglev lookup table size (a prime). */
export const RING = 65537;
export const MAX_CONNS = 524288;
export const NAME_LEN = 32;
export const BACKEND_LEN = 48;

export const Mode = { DNAT: 0, DSR: 1 } as const;
export const Drop = { MALFORMED: 0, NO_BACKEND: 1 } as const;
export const Stat = { NEW: 0, FORWARDED: 1, REPLIED: 2, NO_BACKEND: 3, RESCHEDULED: 4 } as const;
export const STATS = 8;
export const STAT_NAMES = ["scheduled", "forwarded", "replied", "noBackend", "rescheduled"];
export const ConnFlag = { REPLY: 1, DSR: 2 } as const;
export const TCP_STATE_NAMES = ["SYN", "ESTABLISHED", "CLOSING", "UDP"];
export const CfgFlag = { ACTIVE: 1 } as const;
export const BackendFlag = { USED: 1 } as const;

export const VIP_SIZE = 20;
export const SVC_SIZE = 8;
export const BACKEND_SIZE = 36;
export const TUPLE_SIZE = 40;
export const CONN_SIZE = 56;
export const CFG_SIZE = 24;

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

export function encodeVip(family: Family, proto: number, port: number, addr: Buffer): Buffer {
  const b = Buffer.alloc(VIP_SIZE);
  b[0] = family;
  b[1] = proto;
  b.writeUInt16BE(port, 2);
  addr.copy(b, 4, 0, 16);
  return b;
}

export function encodeSvc(index: number, mode: number, live: number): Buffer {
  const b = Buffer.alloc(SVC_SIZE);
  b.writeUInt32LE(index, 0);
  b[4] = mode;
  b[5] = Math.min(live, 255);
  return b;
}

export interface BackendImage {
  family: Family;
  addr: Buffer;
  port: number;
  mac: Buffer;
  outPort: number;
  smac: Buffer;
}

export function encodeBackend(x: BackendImage | undefined): Buffer {
  const b = Buffer.alloc(BACKEND_SIZE);
  if (!x) return b;
  x.addr.copy(b, 0, 0, 16);
  b.writeUInt16BE(x.port, 16);
  b[18] = x.family;
  b[19] = BackendFlag.USED;
  x.mac.copy(b, 20, 0, 6);
  b.writeUInt16LE(x.outPort, 26);
  x.smac.copy(b, 28, 0, 6);
  return b;
}

/** A backend slot as the maps hold it (undefined: unused). */
export function decodeBackend(b: Buffer): BackendImage | undefined {
  if (b.length < BACKEND_SIZE || !(b[19] & BackendFlag.USED)) return undefined;
  return {
    family: b[18] as Family,
    addr: Buffer.from(b.subarray(0, 16)),
    port: b.readUInt16BE(16),
    mac: Buffer.from(b.subarray(20, 26)),
    outPort: b.readUInt16LE(26),
    smac: Buffer.from(b.subarray(28, 34)),
  };
}

export interface Tuple {
  family: Family;
  proto: number;
  sport: number;
  dport: number;
  saddr: Buffer;
  daddr: Buffer;
}

export function decodeTuple(b: Buffer): Tuple {
  return {
    family: b[0] as Family,
    proto: b[1],
    sport: b.readUInt16BE(4),
    dport: b.readUInt16BE(6),
    saddr: Buffer.from(b.subarray(8, 24)),
    daddr: Buffer.from(b.subarray(24, 40)),
  };
}

export function encodeTuple(t: Tuple): Buffer {
  const b = Buffer.alloc(TUPLE_SIZE);
  b[0] = t.family;
  b[1] = t.proto;
  b.writeUInt16BE(t.sport, 4);
  b.writeUInt16BE(t.dport, 6);
  t.saddr.copy(b, 8, 0, 16);
  t.daddr.copy(b, 24, 0, 16);
  return b;
}

export interface Conn {
  newAddr: Buffer;
  newPort: number;
  flags: number;
  state: number;
  outPort: number;
  backend: number;
  svc: number;
  expires: bigint;
}

export function decodeConn(b: Buffer): Conn {
  return {
    newAddr: Buffer.from(b.subarray(0, 16)),
    newPort: b.readUInt16BE(16),
    flags: b[18],
    state: b[19],
    outPort: b.readUInt16LE(26),
    backend: b.readUInt16LE(34),
    svc: b.readUInt32LE(36),
    expires: b.readBigUInt64LE(48),
  };
}

export interface Timeouts {
  tcpSyn: number;
  tcp: number;
  tcpFin: number;
  udp: number;
}

export function encodeCfg(active: boolean, t: Timeouts, b: Buffer): void {
  b.writeUInt32LE(active ? CfgFlag.ACTIVE : 0, 0);
  b.writeUInt32LE(t.tcpSyn, 4);
  b.writeUInt32LE(t.tcp, 8);
  b.writeUInt32LE(t.tcpFin, 12);
  b.writeUInt32LE(t.udp, 16);
}
