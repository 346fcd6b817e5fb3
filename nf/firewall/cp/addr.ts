// IPv4 and IPv6 addresses and prefixes as the firewall's rules write them: "198.18.0.0/24",
// "fd00::/8", a bare address (a /32 or /128). Prefixes are kept masked (host bits cleared).
import { formatIpv6, parseIpv6 } from "../../../src/core/tables.js";

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** 4 or 16 bytes, host bits zero. */
  addr: Buffer;
  len: number;
}

export class AddressError extends Error {
  override name = "AddressError";
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(s: string): Buffer | undefined {
  const m = V4_RE.exec(s);
  if (!m) return undefined;
  const out = Buffer.allocUnsafe(4);
  for (let i = 0; i < 4; i++) {
    const n = +m[i + 1];
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** An address of either family, or undefined. */
export function parseIp(s: string): { family: Family; addr: Buffer } | undefined {
  const v4 = parseIpv4(s);
  if (v4) return { family: 4, addr: v4 };
  const v6 = s.includes(":") ? parseIpv6(s) : undefined;
  return v6 ? { family: 6, addr: v6 } : undefined;
}

/** Clears the bits after `len` (in a copy). */
export function maskAddr(addr: Uint8Array, len: number): Buffer {
  return maskInPlace(Buffer.from(addr), len);
}

function maskInPlace(out: Buffer, len: number): Buffer {
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    out[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** "198.18.0.0/24", "fd00::1" (a /128), "10.1.2.3" (a /32). Host bits are cleared. */
export function parsePrefix(text: string): Prefix {
  const s = text.trim();
  const slash = s.indexOf("/");
  const ipText = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIp(ipText);
  if (!ip) throw new AddressError(`'${s}' is not an IPv4 or IPv6 address or prefix`);
  const max = ip.family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const l = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l) || Number(l) > max)
      throw new AddressError(`'${s}': the prefix length must be 0 to ${max}`);
    len = Number(l);
  }
  return { family: ip.family, addr: len === max ? ip.addr : maskInPlace(ip.addr, len), len };
}

export function formatIp(family: Family, addr: Uint8Array): string {
  return family === 4 ? [...addr.subarray(0, 4)].join(".") : formatIpv6(addr.subarray(0, 16));
}

export const formatPrefix = (p: Prefix): string => `${formatIp(p.family, p.addr)}/${p.len}`;

/** Whether prefix `outer` contains prefix `inner` (same family). */
export function contains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.len > inner.len) return false;
  const full = outer.len >> 3;
  for (let i = 0; i < full; i++) if (outer.addr[i] !== inner.addr[i]) return false;
  const rest = outer.len & 7;
  if (!rest) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (inner.addr[full] & m) === outer.addr[full];
}
