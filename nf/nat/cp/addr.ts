// Addresses as the NAT's rules and sessions write them: IPv4 and IPv6 addresses and prefixes,
// kept as 16 bytes (IPv4 in the first 4, as the data plane has them), and "ADDR:PORT" endpoints
// ("[fd00::1]:80" for IPv6).
import { isIPv4 } from "node:net";
import { formatIpv6, parseIpv6 } from "../../../src/core/tables.js";

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  /** 16 bytes; IPv4 in the first 4, zeros after. */
  bytes: Buffer;
}

export interface Prefix extends Addr {
  len: number;
  /** 16 bytes: ones over the prefix. */
  mask: Buffer;
}

/** An address of either family, or undefined. */
export function parseAddr(text: string): Addr | undefined {
  const s = text.trim();
  const bytes = Buffer.alloc(16);
  if (isIPv4(s)) {
    Buffer.from(s.split(".").map(Number)).copy(bytes);
    return { family: 4, bytes };
  }
  if (!s.includes(":")) return undefined;
  const v6 = parseIpv6(s);
  return v6 ? { family: 6, bytes: Buffer.from(v6) } : undefined;
}

export function maskOf(len: number): Buffer {
  const m = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    m[i] = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return m;
}

const and = (a: Buffer, m: Buffer): Buffer => Buffer.from(a.map((x, i) => x & m[i]));

/** "198.18.0.0/24", "fd00::/64", or a bare address (a /32 or /128). Throws a message naming the text. */
export function parsePrefix(text: string): Prefix {
  const s = text.trim();
  const slash = s.indexOf("/");
  const a = parseAddr(slash < 0 ? s : s.slice(0, slash));
  if (!a) throw new Error(`'${s}' is not an IPv4 or IPv6 address or prefix`);
  const max = a.family === 4 ? 32 : 128;
  const lenText = slash < 0 ? String(max) : s.slice(slash + 1);
  const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= max)) throw new Error(`'${s}': prefix length must be 0..${max}`);
  const mask = maskOf(len);
  return { family: a.family, bytes: and(a.bytes, mask), len, mask };
}

export function formatAddr(family: Family, b: Uint8Array): string {
  return family === 4 ? [...b.subarray(0, 4)].join(".") : formatIpv6(b.subarray(0, 16));
}

export function formatEndpoint(family: Family, b: Uint8Array, port?: number): string {
  const a = formatAddr(family, b);
  if (port === undefined) return a;
  return family === 4 ? `${a}:${port}` : `[${a}]:${port}`;
}

/** The address `k` after `a` (on the low 32 bits, as the data plane counts pool addresses). */
export function addrPlus(a: Addr, k: number): Buffer {
  const out = Buffer.from(a.bytes);
  const off = a.family === 4 ? 0 : 12;
  out.writeUInt32BE((out.readUInt32BE(off) + k) >>> 0, off);
  return out;
}

/** Compares addresses as big-endian numbers. */
export const compareAddr = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);
