// IPv4 and IPv6 prefixes as users write them ("198.18.0.0/16", "fd00:1::/48", a bare address
// for one host) and as the tries key them, with the canonical text that identifies an entry.
import { formatIpv6, parseIpv6 } from "../../../src/core/tables.js";

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** 4 or 16 bytes, host bits zero. */
  addr: Buffer;
  len: number;
  /** Canonical text: "198.18.0.0/16", "fd00:1::/48". */
  text: string;
}

export class PrefixError extends Error {
  override name = "PrefixError";
}

function parseIpv4(s: string): Buffer | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? Buffer.from(b) : undefined;
}

export const formatAddr = (family: Family, addr: Uint8Array): string =>
  family === 4 ? [...addr.subarray(0, 4)].join(".") : formatIpv6(addr.subarray(0, 16));

/** Zeroes the bits after the first `len`. */
export function maskAddr(addr: Uint8Array, len: number): Buffer {
  const out = Buffer.from(addr);
  for (let i = 0; i < out.length; i++) {
    const lo = i * 8;
    if (len <= lo) out[i] = 0;
    else if (len < lo + 8) out[i] &= (0xff << (lo + 8 - len)) & 0xff;
  }
  return out;
}

/**
 * Parses a prefix or a bare address (a host: /32, /128). Throws a PrefixError that says what is
 * wrong, e.g. host bits set after the length ("did you mean 198.18.0.0/16?").
 */
export function parsePrefix(input: string): Prefix {
  const s = input.trim();
  const slash = s.indexOf("/");
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const lenText = slash < 0 ? undefined : s.slice(slash + 1);
  let family: Family;
  let addr: Buffer | undefined = parseIpv4(addrText);
  if (addr) family = 4;
  else {
    addr = addrText.includes(":") ? parseIpv6(addrText) : undefined;
    if (!addr) throw new PrefixError(`'${input}' is not an IPv4 or IPv6 address or prefix`);
    family = 6;
  }
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max)
      throw new PrefixError(`'${input}': the prefix length must be 0..${max}`);
    len = Number(lenText);
  }
  const masked = maskAddr(addr, len);
  const text = `${formatAddr(family, masked)}/${len}`;
  if (!masked.equals(addr)) throw new PrefixError(`'${input}' has host bits set (did you mean ${text}?)`);
  return { family, addr: masked, len, text };
}

/** Text of an address masked to `len` bits, as a prefix ("198.18.0.7/32", "fd00:1::/64"). */
export const prefixText = (family: Family, addr: Uint8Array, len: number): string =>
  `${formatAddr(family, maskAddr(addr, len))}/${len}`;
