// The NAT's map layouts, mirroring nf/nat/nat_abi.h and nf/include/px_conntrack.h (the tests check
// the sizes against the loaded object's maps).

export const MAX_RULES = 64;
export const GENS = 2;

export const Kind = { SNAT: 1, MASQ: 2, DNAT: 3, NPT: 4 } as const;
export type KindCode = (typeof Kind)[keyof typeof Kind];
export const KIND_NAMES: Record<number, string> = { 1: "snat", 2: "masquerade", 3: "dnat", 4: "npt" };

export const Drop = { MALFORMED: 0, NO_PORT: 1, TABLE_FULL: 2 } as const;
export const Stat = { TRANSLATED: 0, CREATED: 1, NPT: 2, NO_PORT: 3, FULL: 4, STALE: 5 } as const;
export const STATS = 8;

export const SessFlag = { REPLY: 1, SRC: 2, DST: 4 } as const;
export const CfgFlag = { ACTIVE: 1 } as const;
export const CtFlag = { ORIG_LO: 1, SEEN_REPLY: 2 } as const;

export const RULE_SIZE = 108;
export const RULES_SIZE = RULE_SIZE * MAX_RULES;
export const CFG_SIZE = 72;
export const TUPLE_SIZE = 40;
export const SESS_SIZE = 56;
export const CT_KEY_SIZE = 40;
export const CT_ENTRY_SIZE = 16;

export const TCP_STATE_NAMES = [
  "NONE",
  "SYN_SENT",
  "SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT",
  "CLOSE_WAIT",
  "LAST_ACK",
  "TIME_WAIT",
  "CLOSE",
  "SYN_SENT2",
] as const;

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** struct nat_rule, as the data plane reads it. */
export interface RuleImage {
  id: number;
  kind: number;
  family: number;
  proto: number;
  nptWord: number;
  src: Buffer;
  srcMask: Buffer;
  dst: Buffer;
  dstMask: Buffer;
  sport: [number, number];
  dport: [number, number];
  to: Buffer;
  toCount: number;
  toPort: [number, number];
  nptAdj: number;
}

export function encodeRule(r: RuleImage, out: Buffer, off: number): void {
  out.fill(0, off, off + RULE_SIZE);
  out.writeUInt32LE(r.id, off);
  out[off + 4] = r.kind;
  out[off + 5] = r.family;
  out[off + 6] = r.proto;
  out[off + 7] = r.nptWord;
  r.src.copy(out, off + 8);
  r.srcMask.copy(out, off + 24);
  r.dst.copy(out, off + 40);
  r.dstMask.copy(out, off + 56);
  out.writeUInt16LE(r.sport[0], off + 72);
  out.writeUInt16LE(r.sport[1], off + 74);
  out.writeUInt16LE(r.dport[0], off + 76);
  out.writeUInt16LE(r.dport[1], off + 78);
  r.to.copy(out, off + 80);
  out.writeUInt32LE(r.toCount >>> 0, off + 96);
  out.writeUInt16LE(r.toPort[0], off + 100);
  out.writeUInt16LE(r.toPort[1], off + 102);
  out.writeUInt16LE(r.nptAdj, off + 104);
}

export const CfgOffset = { gen: 0, count: 4, flags: 12, ct: 16 } as const;

/** struct px_ct_timeouts: seconds by TCP state, then UDP, UDP stream, ICMP, generic. */
export interface CtTimeouts {
  tcp: number[];
  udp: number;
  udpStream: number;
  icmp: number;
  generic: number;
}

export function encodeTimeouts(t: CtTimeouts, out: Buffer, off: number): void {
  t.tcp.forEach((s, i) => out.writeUInt32LE(s, off + 4 * i));
  out.writeUInt32LE(t.udp, off + 40);
  out.writeUInt32LE(t.udpStream, off + 44);
  out.writeUInt32LE(t.icmp, off + 48);
  out.writeUInt32LE(t.generic, off + 52);
}

/** struct nat_tuple: a packet's tuple as it is on the wire. */
export interface Tuple {
  family: number;
  proto: number;
  sport: number;
  dport: number;
  saddr: Buffer;
  daddr: Buffer;
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

export function decodeTuple(b: Buffer): Tuple {
  return {
    family: b[0],
    proto: b[1],
    sport: b.readUInt16BE(4),
    dport: b.readUInt16BE(6),
    saddr: Buffer.from(b.subarray(8, 24)),
    daddr: Buffer.from(b.subarray(24, 40)),
  };
}

/** struct nat_sess: what a tuple becomes. */
export interface Session {
  saddr: Buffer;
  daddr: Buffer;
  sport: number;
  dport: number;
  flags: number;
  kind: number;
  rule: number;
  created: bigint;
}

export function decodeSession(b: Buffer): Session {
  return {
    saddr: Buffer.from(b.subarray(0, 16)),
    daddr: Buffer.from(b.subarray(16, 32)),
    sport: b.readUInt16BE(32),
    dport: b.readUInt16BE(34),
    flags: b[36],
    kind: b[37],
    rule: b.readUInt32LE(40),
    created: b.readBigUInt64LE(48),
  };
}

/** The tuple a session entry's packets become. */
export const translated = (t: Tuple, s: Session): Tuple => ({
  family: t.family,
  proto: t.proto,
  saddr: s.saddr,
  daddr: s.daddr,
  sport: s.sport,
  dport: s.dport,
});

export const reverse = (t: Tuple): Tuple => ({
  family: t.family,
  proto: t.proto,
  saddr: t.daddr,
  daddr: t.saddr,
  sport: t.dport,
  dport: t.sport,
});

/** px_ct_key_init(): both directions of a connection get one key, the lower endpoint first. */
export function ctKey(t: Tuple): Buffer {
  const c = Buffer.compare(t.saddr, t.daddr);
  const srcLo = c < 0 || (c === 0 && t.sport <= t.dport);
  const b = Buffer.alloc(CT_KEY_SIZE);
  b[0] = t.family;
  b[1] = t.proto;
  b.writeUInt16BE(srcLo ? t.sport : t.dport, 4);
  b.writeUInt16BE(srcLo ? t.dport : t.sport, 6);
  (srcLo ? t.saddr : t.daddr).copy(b, 8, 0, 16);
  (srcLo ? t.daddr : t.saddr).copy(b, 24, 0, 16);
  return b;
}

export interface CtEntry {
  expires: bigint;
  tcp: number;
  flags: number;
}

export const decodeCt = (v: Buffer): CtEntry => ({ expires: v.readBigUInt64LE(0), tcp: v[8], flags: v[9] });
