// The router's map layouts, mirroring nf/router/rtr_abi.h: keep the two in step.
import type { Family } from "./addr.js";

export const Drop = {
  MALFORMED: 0,
  NOT_FOR_ROUTER: 1,
  NO_ROUTE: 2,
  TTL: 3,
  UNRESOLVED: 4,
  LOCAL: 5,
  REJECT: 6,
  NOT_ROUTABLE: 7,
  TOO_BIG: 8,
  NO_PORT: 9,
  PROTO: 10,
} as const;

export const CpReason = { RESOLVE: 1, NEIGH: 2 } as const;

export const RouteType = {
  CONNECTED: 1,
  GATEWAY: 2,
  LOCAL: 3,
  BLACKHOLE: 4,
  UNREACHABLE: 5,
  PROHIBIT: 6,
} as const;
export type RouteTypeCode = (typeof RouteType)[keyof typeof RouteType];

export const NeighState = { INCOMPLETE: 1, REACHABLE: 2, PROBE: 3, PERMANENT: 4 } as const;
export type NeighStateCode = (typeof NeighState)[keyof typeof NeighState];
export const NEIGH_QUEUE_FULL = 1;
export const NEIGH_STATE_NAMES: Record<number, string> = {
  1: "incomplete",
  2: "reachable",
  3: "probe",
  4: "permanent",
};

export const CFG_NO_ICMP_ERRORS = 1;

// ---- FIB: struct rtr_lpm{4,6}_key -> struct rtr_route{4,6} ----

/** A route as the data plane holds it. */
export interface FibRoute {
  type: RouteTypeCode;
  port: number;
  /** Next hop (gateway routes), 4 or 16 bytes; zero otherwise. */
  nh: Buffer;
  plen: number;
}

export const fibKeySize = (family: Family): number => (family === 4 ? 8 : 20);
export const routeSize = (family: Family): number => (family === 4 ? 8 : 24);

/** struct rtr_lpm{4,6}_key, into `out` at `at` when given (bulk loads fill one flat buffer). */
export function fibKey(family: Family, addr: Uint8Array, plen: number, out?: Buffer, at = 0): Buffer {
  const b = out ?? Buffer.alloc(fibKeySize(family));
  b.writeUInt32LE(plen, at);
  b.set(addr, at + 4);
  return b;
}

export function encodeRoute(family: Family, r: FibRoute, out?: Buffer, at = 0): Buffer {
  const b = out ?? Buffer.alloc(routeSize(family));
  const n = family === 4 ? 4 : 16;
  b.set(r.nh.subarray(0, n), at);
  b.writeUInt16LE(r.port, at + n);
  b[at + n + 2] = r.type;
  b[at + n + 3] = r.plen;
  return b;
}

export function decodeRoute(family: Family, b: Buffer): FibRoute {
  const n = family === 4 ? 4 : 16;
  return {
    nh: Buffer.from(b.subarray(0, n)),
    port: b.readUInt16LE(n),
    type: b[n + 2] as RouteTypeCode,
    plen: b[n + 3],
  };
}

// ---- neighbours: struct rtr_nkey{4,6} -> struct rtr_neigh ----

export interface Neigh {
  mac: Buffer;
  state: NeighStateCode;
  flags: number;
  /** bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last confirmation. */
  confirmed: bigint;
}

export function neighKey(family: Family, port: number, addr: Uint8Array): Buffer {
  const b = Buffer.alloc(family === 4 ? 8 : 20);
  b.writeUInt32LE(port, 0);
  b.set(addr, 4);
  return b;
}

export function decodeNeighKey(family: Family, k: Buffer): { port: number; addr: Buffer } {
  return { port: k.readUInt32LE(0), addr: Buffer.from(k.subarray(4, family === 4 ? 8 : 20)) };
}

export const NEIGH_SIZE = 16;

export function encodeNeigh(n: Neigh): Buffer {
  const b = Buffer.alloc(NEIGH_SIZE);
  b.set(n.mac.subarray(0, 6), 0);
  b[6] = n.state;
  b[7] = n.flags;
  b.writeBigUInt64LE(n.confirmed, 8);
  return b;
}

export function decodeNeigh(b: Buffer): Neigh {
  return {
    mac: Buffer.from(b.subarray(0, 6)),
    state: b[6] as NeighStateCode,
    flags: b[7],
    confirmed: b.readBigUInt64LE(8),
  };
}

// ---- ports: struct rtr_port ----

export interface PortRecord {
  mac: Buffer;
  enabled: boolean;
  addr4: Buffer;
  mtu: number;
  addr6: Buffer;
  ll6: Buffer;
}

export const PORT_SIZE = 48;

export function encodePort(p: PortRecord): Buffer {
  const b = Buffer.alloc(PORT_SIZE);
  b.set(p.mac.subarray(0, 6), 0);
  b[6] = p.enabled ? 1 : 0;
  b.set(p.addr4.subarray(0, 4), 8);
  b.writeUInt32LE(p.mtu, 12);
  b.set(p.addr6.subarray(0, 16), 16);
  b.set(p.ll6.subarray(0, 16), 32);
  return b;
}

export function decodePort(b: Buffer): PortRecord {
  return {
    mac: Buffer.from(b.subarray(0, 6)),
    enabled: b[6] !== 0,
    addr4: Buffer.from(b.subarray(8, 12)),
    mtu: b.readUInt32LE(12),
    addr6: Buffer.from(b.subarray(16, 32)),
    ll6: Buffer.from(b.subarray(32, 48)),
  };
}

// ---- struct rtr_cfg ----

export const CFG_ROUTE_CACHE = 2;

export interface Cfg {
  intervalNs: bigint;
  toleranceNs: bigint;
  flags: number;
  fibGen: number;
}

export function encodeCfg(c: Cfg): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(c.intervalNs, 0);
  b.writeBigUInt64LE(c.toleranceNs, 8);
  b.writeUInt32LE(c.flags, 16);
  b.writeUInt32LE(c.fibGen >>> 0, 20);
  return b;
}

export function decodeCfg(b: Buffer): Cfg {
  return {
    intervalNs: b.readBigUInt64LE(0),
    toleranceNs: b.readBigUInt64LE(8),
    flags: b.readUInt32LE(16),
    fibGen: b.readUInt32LE(20),
  };
}

// ---- the control plane's own maps ----

/** NUL-padded text field. */
function putText(b: Buffer, at: number, size: number, text: string): void {
  if (Buffer.byteLength(text) >= size) throw new RangeError(`'${text}' is longer than ${size - 1} bytes`);
  b.write(text, at);
}

function getText(b: Buffer, at: number, size: number): string {
  const s = b.subarray(at, at + size);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? size : end).toString();
}

/** struct rtr_rib_key / rtr_rib_val: one configured static route. */
export interface RibRecord {
  prefix: string;
  via: string;
  port: string;
  type: string;
  metric: number;
}

export const RIB_KEY_SIZE = 48;
export const RIB_VAL_SIZE = 80;

export function ribKey(prefix: string, out?: Buffer, at = 0): Buffer {
  const b = out ?? Buffer.alloc(RIB_KEY_SIZE);
  putText(b, at, 48, prefix);
  return b;
}

export function encodeRib(r: RibRecord, out?: Buffer, at = 0): Buffer {
  const b = out ?? Buffer.alloc(RIB_VAL_SIZE);
  putText(b, at, 48, r.via);
  putText(b, at + 48, 16, r.port);
  putText(b, at + 64, 12, r.type);
  b.writeUInt32LE(r.metric, at + 76);
  return b;
}

export function decodeRib(k: Buffer, v: Buffer): RibRecord {
  return {
    prefix: getText(k, 0, 48),
    via: getText(v, 0, 48),
    port: getText(v, 48, 16),
    type: getText(v, 64, 12),
    metric: v.readUInt32LE(76),
  };
}

/** struct rtr_nstatic_key / rtr_nstatic_val: one configured neighbour. */
export interface StaticNeighRecord {
  address: string;
  port: string;
  mac: Buffer;
}

export const staticNeighKey = (address: string): Buffer => ribKey(address);

export function encodeStaticNeigh(r: StaticNeighRecord): Buffer {
  const b = Buffer.alloc(22);
  putText(b, 0, 16, r.port);
  b.set(r.mac.subarray(0, 6), 16);
  return b;
}

export function decodeStaticNeigh(k: Buffer, v: Buffer): StaticNeighRecord {
  return { address: getText(k, 0, 48), port: getText(v, 0, 16), mac: Buffer.from(v.subarray(16, 22)) };
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
