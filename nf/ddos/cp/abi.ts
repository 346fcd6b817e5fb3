// The DDoS mitigator's binary interface, mirroring nf/ddos/ddos_abi.h: limits, map layouts,
// counters. Keep the two in step.

/** Prefixes one side holds per address family (the tries' capacity). */
export const MAX_PREFIXES = 262144;
/** Single entries per side (ddos_src_rules, ddos_dst_rules). */
export const MAX_RULES = 65536;
export const MAX_LISTS = 256;

export const Action = { NONE: 0, DROP: 1, ALLOW: 2 } as const;
export type ActionName = "drop" | "allow";
export const ACTION_CODES: Record<ActionName, number> = { drop: Action.DROP, allow: Action.ALLOW };

export type Side = "src" | "dst";
/** Slots of the tries' outer maps. */
export const SIDE_SLOT: Record<Side, number> = { src: 0, dst: 1 };

export const SynMode = { OFF: 0, AUTO: 1, ALWAYS: 2 } as const;

export const CfgFlag = {
  TCP_FLAGS: 0x1,
  DROP_FRAGMENTS: 0x2,
  DROP_NON_IP: 0x4,
  RATE: 0x8,
  SYN_ALL_PORTS: 0x10,
} as const;

/** struct ddos_cfg */
export const CFG_SIZE = 56 + 8192;

export interface CfgRecord {
  flags: number;
  synMode: number;
  ratePrefix4: number;
  ratePrefix6: number;
  rateIntervalNs: bigint;
  rateToleranceNs: bigint;
  synIntervalNs: bigint;
  synToleranceNs: bigint;
  primeNs: bigint;
  /** Bitmap of protected ports (8192 bytes). */
  synPorts: Uint8Array;
}

export function encodeCfg(c: CfgRecord): Buffer {
  const b = Buffer.alloc(CFG_SIZE);
  b.writeUInt32LE(c.flags, 0);
  b.writeUInt32LE(c.synMode, 4);
  b.writeUInt32LE(c.ratePrefix4, 8);
  b.writeUInt32LE(c.ratePrefix6, 12);
  b.writeBigUInt64LE(c.rateIntervalNs, 16);
  b.writeBigUInt64LE(c.rateToleranceNs, 24);
  b.writeBigUInt64LE(c.synIntervalNs, 32);
  b.writeBigUInt64LE(c.synToleranceNs, 40);
  b.writeBigUInt64LE(c.primeNs, 48);
  b.set(c.synPorts.subarray(0, 8192), 56);
  return b;
}

/** Names of the ddos_stats slots: drop reasons 0..7, then the other events. */
export const STAT_NAMES = [
  "malformed",
  "src_blocked",
  "dst_blocked",
  "rate_limited",
  "syn_cookie",
  "bad_tcp_flags",
  "fragment",
  "not_ip",
  "passed",
  "src_allowed",
  "dst_allowed",
  "syn_passed",
  "syn_primed",
  "syn_unanswerable",
  "syn_cookie_failed",
] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** struct ddos_lpm4 / ddos_lpm6: prefix length, then the address bytes. */
export const lpmKeySize = (family: 4 | 6): number => (family === 4 ? 8 : 20);

export function lpmKey(family: 4 | 6, addr: Uint8Array, len: number, out?: Buffer, at = 0): Buffer {
  const b = out ?? Buffer.alloc(lpmKeySize(family));
  b.writeUInt32LE(len, at);
  b.set(addr, at + 4); // exactly 4 or 16 bytes
  return b;
}

/** struct ddos_pfx_val */
export const PFX_VAL_SIZE = 16;

export function pfxVal(action: number, packets: bigint, out?: Buffer, at = 0): Buffer {
  const b = out ?? Buffer.alloc(PFX_VAL_SIZE);
  b.writeUInt32LE(action, at);
  b.writeUInt32LE(0, at + 4);
  b.writeBigUInt64LE(packets, at + 8);
  return b;
}

export const decodePfxVal = (b: Uint8Array): { action: number; packets: bigint } => {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { action: v.readUInt32LE(0), packets: v.readBigUInt64LE(8) };
};

/** struct ddos_src_key (20 bytes) and struct ddos_bucket (24). */
export function decodeBucket(
  k: Buffer,
  v: Buffer,
): { family: 4 | 6; addr: Buffer; passed: bigint; dropped: bigint } {
  const family = k[0] === 6 ? 6 : 4;
  return {
    family,
    addr: Buffer.from(k.subarray(4, family === 4 ? 8 : 20)),
    passed: v.readBigUInt64LE(8),
    dropped: v.readBigUInt64LE(16),
  };
}

/** struct ddos_svc_key (20 bytes) and struct ddos_svc (32). */
export function decodeSvc(
  k: Buffer,
  v: Buffer,
): { family: 4 | 6; port: number; addr: Buffer; passedNs: bigint; passed: bigint; cookies: bigint } {
  const family = k[0] === 6 ? 6 : 4;
  return {
    family,
    port: k.readUInt16BE(2),
    addr: Buffer.from(k.subarray(4, family === 4 ? 8 : 20)),
    passedNs: v.readBigUInt64LE(8),
    passed: v.readBigUInt64LE(16),
    cookies: v.readBigUInt64LE(24),
  };
}

/** A fixed-size C string field. */
export function cString(text: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.write(text.slice(0, size - 1), "utf8");
  return b;
}

export function readCString(b: Uint8Array, at = 0, size = b.length - at): string {
  const v = Buffer.from(b.buffer, b.byteOffset + at, size);
  const end = v.indexOf(0);
  return v.subarray(0, end < 0 ? size : end).toString("utf8");
}

/** struct ddos_rule_key (48) and struct ddos_rule (8). */
export const ruleKey = (prefix: string): Buffer => cString(prefix, 48);
export const ruleValue = (action: ActionName): Buffer => cString(action, 8);

/** struct ddos_list_key (32) and struct ddos_list_meta (32). */
export const listKey = (name: string): Buffer => cString(name, 32);

export interface ListMeta {
  side: Side;
  action: ActionName;
  ipv4: number;
  ipv6: number;
  loadedNs: bigint;
}

export function encodeListMeta(m: ListMeta): Buffer {
  const b = Buffer.alloc(32);
  cString(m.side, 4).copy(b, 0);
  cString(m.action, 8).copy(b, 4);
  b.writeUInt32LE(m.ipv4, 12);
  b.writeUInt32LE(m.ipv6, 16);
  b.writeBigUInt64LE(m.loadedNs, 24);
  return b;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
