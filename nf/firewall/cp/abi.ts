// The firewall's map layouts, mirroring nf/firewall/fw_abi.h and nf/include/px_conntrack.h: keep
// them in step (tests/nf/firewall/abi.test.ts checks the sizes against the object's BTF).

export const MAX_RULES = 16384;
export const BLOCK_RULES = 256;
export const BLOCKS = MAX_RULES / BLOCK_RULES;
export const GENS = 2;
export const GEN_CLASSES = 65536;
export const GEN_BLOCKS = 1 << 17;
export const META_KEYS = 8192;
export const COUNTERS = MAX_RULES + 1;
/** Searches per packet (fw_classify.h FW_MAX_COUNT_CHAIN): at most this many - 1 "count" rules. */
export const MAX_COUNT_CHAIN = 8;
/** Prefix table entries one generation may use (half of each map). */
export const GEN_PFX4 = 1 << 17;
export const GEN_PFX6 = 1 << 16;
export const GEN_IIF = 2048;

export const Field = { META: 0, SRC: 1, DST: 2, SPORT: 3, DPORT: 4, FLAGS: 5, IIF: 6 } as const;
export const FIELDS = 7;

export const Action = { ACCEPT: 0, DROP: 1, REJECT: 2, COUNT: 3 } as const;
export type ActionCode = (typeof Action)[keyof typeof Action];

export const Reject = {
  AUTO: 0,
  TCP_RESET: 1,
  PORT_UNREACH: 2,
  ADMIN_PROHIB: 3,
  HOST_UNREACH: 4,
  NET_UNREACH: 5,
} as const;

export const Drop = { MALFORMED: 0, RULE: 1, REJECT: 2, POLICY: 3, NOT_IP: 4 } as const;

export const CfgFlag = { CONNTRACK: 1, DROP_NON_IP: 2, FILTER_ND: 4 } as const;
export const GenFlag = { COUNT_RULES: 1 } as const;

/** Conntrack states as the data plane numbers them (enum px_ct_state). */
export const CtState = { NEW: 0, ESTABLISHED: 1, RELATED: 2, INVALID: 3, UNTRACKED: 4 } as const;
export const CT_STATE_NAMES = ["new", "established", "related", "invalid", "untracked"] as const;
export type CtStateName = (typeof CT_STATE_NAMES)[number];

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
export const TCP_STATES = TCP_STATE_NAMES.length;

/** Meta key: family (v6: 4096) | L4 header present (2048) | conntrack state (x 256) | protocol. */
export const metaKey = (v6: boolean, l4: boolean, state: number, proto: number): number =>
  (v6 ? 4096 : 0) | (l4 ? 2048 : 0) | ((state & 7) << 8) | (proto & 255);

// ---- struct sizes (array map elements are 8-byte aligned in memory) ----

export const CFG_SIZE = 88;
export const GEN_SIZE = 384;
export const CLASS_SIZE = 16;
export const BLOCK_SIZE = 32;
export const ACTION_SIZE = 8;
export const COUNTER_SIZE = 16;
export const PFX4_KEY_SIZE = 8;
export const PFX6_KEY_SIZE = 20;
export const IIF_KEY_SIZE = 8;
export const CT_KEY_SIZE = 40;
export const CT_ENTRY_SIZE = 16;
/** Element stride of an array map of u32 values when mmapped. */
export const U32_STRIDE = 8;

// ---- struct fw_cfg ----

export const CfgOffset = {
  gen: 0,
  flags: 4,
  policy: 8,
  rejectWith: 12,
  rejectIntervalNs: 16,
  rejectToleranceNs: 24,
  ct: 32,
} as const;

/** struct px_ct_timeouts, seconds. */
export interface CtTimeouts {
  tcp: number[]; // by TCP state, TCP_STATES entries
  udp: number;
  udpStream: number;
  icmp: number;
  generic: number;
}

export function encodeTimeouts(t: CtTimeouts, out: Buffer, off: number): void {
  for (let i = 0; i < TCP_STATES; i++) out.writeUInt32LE(t.tcp[i] ?? 0, off + i * 4);
  out.writeUInt32LE(t.udp, off + 40);
  out.writeUInt32LE(t.udpStream, off + 44);
  out.writeUInt32LE(t.icmp, off + 48);
  out.writeUInt32LE(t.generic, off + 52);
}

// ---- struct fw_gen ----

export interface GenRecord {
  used: number;
  nrules: number;
  flags: number;
  /** Absolute class indexes. */
  all: number;
  dflt: number[];
  /** [src, dst]: the class of an IPv6 address no prefix holds. */
  dflt6: number[];
  /** [src, dst] x [v4, v6]: prefix lengths to try, longest first. */
  lens: { v4: number[]; v6: number[] }[];
}

export function encodeGen(g: GenRecord): Buffer {
  const b = Buffer.alloc(GEN_SIZE);
  b.writeUInt32LE(g.used, 0);
  b.writeUInt32LE(g.nrules, 4);
  b.writeUInt32LE(g.flags, 8);
  b.writeUInt32LE(g.all, 12);
  for (let f = 0; f < FIELDS; f++) b.writeUInt32LE(g.dflt[f] ?? g.all, 16 + f * 4);
  for (let f = 0; f < 2; f++) b.writeUInt32LE(g.dflt6[f] ?? g.all, 44 + f * 4);
  for (let f = 0; f < 2; f++) {
    const { v4, v6 } = g.lens[f];
    b[52 + f * 2] = v4.length;
    b[52 + f * 2 + 1] = v6.length;
    v4.forEach((l, i) => (b[56 + f * 33 + i] = l));
    v6.forEach((l, i) => (b[122 + f * 129 + i] = l));
  }
  return b;
}

// ---- keys ----

export function pfx4Key(gen: number, field: number, plen: number, addr: Uint8Array): Buffer {
  const b = Buffer.alloc(PFX4_KEY_SIZE);
  b[0] = gen;
  b[1] = field;
  b[2] = plen;
  b.set(addr.subarray(0, 4), 4);
  return b;
}

export function pfx6Key(gen: number, field: number, plen: number, addr: Uint8Array): Buffer {
  const b = Buffer.alloc(PFX6_KEY_SIZE);
  b[0] = gen;
  b[1] = field;
  b[2] = plen;
  b.set(addr.subarray(0, 16), 4);
  return b;
}

export function iifKey(gen: number, ifindex: number): Buffer {
  const b = Buffer.alloc(IIF_KEY_SIZE);
  b.writeUInt32LE(gen, 0);
  b.writeUInt32LE(ifindex, 4);
  return b;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

// ---- bookkeeping maps ----

export function ruleMeta(counter: number, hash: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(counter, 0);
  b.writeUInt32LE(hash >>> 0, 4);
  return b;
}

export const decodeRuleMeta = (b: Buffer): { counter: number; hash: number } => ({
  counter: b.readUInt32LE(0),
  hash: b.readUInt32LE(4),
});

export function rulesetKey(name: string): Buffer {
  const b = Buffer.alloc(32);
  b.write(name, 0, 31, "utf8");
  return b;
}

export function rulesetMeta(count: number, loadedNs: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(count, 0);
  b.writeBigUInt64LE(loadedNs, 8);
  return b;
}

// ---- conntrack (struct px_ct_key / px_ct_entry) ----

export const CtFlag = { ORIG_LO: 1, SEEN_REPLY: 2 } as const;

export interface CtEntry {
  family: 4 | 6;
  proto: number;
  /** Network order on the wire; here as numbers. */
  portLo: number;
  portHi: number;
  addrLo: Buffer;
  addrHi: Buffer;
  expires: bigint;
  tcp: number;
  flags: number;
}

export function decodeCt(key: Buffer, value: Buffer): CtEntry {
  const family = key[0] === 6 ? 6 : 4;
  const len = family === 4 ? 4 : 16;
  return {
    family,
    proto: key[1],
    portLo: key.readUInt16BE(4),
    portHi: key.readUInt16BE(6),
    addrLo: Buffer.from(key.subarray(8, 8 + len)),
    addrHi: Buffer.from(key.subarray(24, 24 + len)),
    expires: value.readBigUInt64LE(0),
    tcp: value[8],
    flags: value[9],
  };
}
