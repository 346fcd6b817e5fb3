// IPv4 and IPv6 prefixes as users write them ("198.18.0.0/16", "fd00:1::/48", a bare address
// for one host) and as the tries key them. Lists hold hundreds of thousands of them, so parsing
// allocates little: one 4- or 16-byte buffer per prefix; the canonical text that users see is
// made only when asked for.
import { formatIpv6, parseIpv6 as parseIpv6Text } from "../../../src/core/tables.js";

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** 4 or 16 bytes, host bits zero. */
  addr: Buffer;
  len: number;
  /** Identity: the same prefix, however it was written, has the same key. */
  key: string;
}

export class PrefixError extends Error {
  override name = "PrefixError";
}

export const formatAddr = (family: Family, addr: Uint8Array): string =>
  family === 4 ? `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}` : formatIpv6(addr.subarray(0, 16));

/** Canonical text: "198.18.0.0/16", "fd00:1::/48". */
export const textOf = (p: Prefix): string => `${formatAddr(p.family, p.addr)}/${p.len}`;

/** Zeroes the bits of `addr` after the first `len`, in place; whether any was set. */
function maskInPlace(addr: Uint8Array, len: number): boolean {
  let changed = false;
  for (let i = len >> 3; i < addr.length; i++) {
    const keep = i === len >> 3 ? (0xff << (8 - (len & 7))) & 0xff : 0;
    if (addr[i] & ~keep & 0xff) {
      addr[i] &= keep;
      changed = true;
    }
  }
  return changed;
}

/** A copy of `addr` with the bits after the first `len` zeroed. */
export function maskAddr(addr: Uint8Array, len: number): Buffer {
  const out = Buffer.from(addr);
  maskInPlace(out, len);
  return out;
}

/** Dotted quad into `out`; false if it is not one. No regular expressions: lists are long. */
function parseIpv4Into(s: string, from: number, to: number, out: Uint8Array): boolean {
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 46 : s.charCodeAt(i); // a final '.' closes the last part
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return false;
      value = value * 10 + (c - 48);
    } else if (c === 46) {
      if (!digits || value > 255 || part > 3) return false;
      out[part++] = value;
      digits = 0;
      value = 0;
    } else return false;
  }
  return part === 4;
}

const hexDigit = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;

/** Hex groups with at most one "::"; an address with an IPv4 tail goes to the full parser. */
function parseIpv6Fast(s: string): Buffer | undefined {
  if (s.includes(".")) return /^[0-9a-f:.]+$/i.test(s) ? parseIpv6Text(s) : undefined;
  const n = s.length;
  const head: number[] = [];
  const tail: number[] = [];
  let cur = head;
  let gap = false;
  let i = 0;
  if (s.startsWith("::")) {
    gap = true;
    cur = tail;
    i = 2;
  } else if (n === 0 || s.charCodeAt(0) === 58) return undefined;
  while (i < n) {
    let v = 0;
    let d = 0;
    for (let h = hexDigit(s.charCodeAt(i)); i < n && h >= 0; h = hexDigit(s.charCodeAt(++i))) {
      if (++d > 4) return undefined;
      v = v * 16 + h;
    }
    if (!d) return undefined;
    cur.push(v);
    if (i === n) break;
    if (s.charCodeAt(i++) !== 58 || i === n) return undefined; // ':' and more after it
    if (s.charCodeAt(i) === 58) {
      if (gap) return undefined;
      gap = true;
      cur = tail;
      i++;
    }
  }
  const total = head.length + tail.length;
  if (gap ? total > 7 : total !== 8) return undefined;
  // From the shared pool: a list's prefixes must not each cost an ArrayBuffer of their own.
  const out = Buffer.allocUnsafe(16).fill(0);
  head.forEach((w, k) => out.writeUInt16BE(w, k * 2));
  tail.forEach((w, k) => out.writeUInt16BE(w, (8 - tail.length + k) * 2));
  return out;
}

/**
 * Parses a prefix or a bare address (a host: /32, /128). Throws a PrefixError that says what is
 * wrong, e.g. host bits set after the length ("did you mean 198.18.0.0/16?").
 */
export function parsePrefix(input: string): Prefix {
  let from = 0;
  let to = input.length;
  while (from < to && input.charCodeAt(from) <= 32) from++;
  while (to > from && input.charCodeAt(to - 1) <= 32) to--;
  return parsePrefixAt(input, from, to);
}

/** parsePrefix of input[from, to) (no surrounding blanks): lists are parsed without slicing lines. */
export function parsePrefixAt(input: string, from: number, to: number): Prefix {
  let addrEnd = from;
  while (addrEnd < to && input.charCodeAt(addrEnd) !== 47) addrEnd++; // '/'
  let family: Family;
  let addr: Buffer | undefined = Buffer.allocUnsafe(4);
  if (parseIpv4Into(input, from, addrEnd, addr)) family = 4;
  else {
    addr = parseIpv6Fast(input.slice(from, addrEnd));
    if (!addr) throw new PrefixError(`'${input.slice(from, to)}' is not an IPv4 or IPv6 address or prefix`);
    family = 6;
  }
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (addrEnd < to) {
    len = 0;
    const digits = to - addrEnd - 1;
    for (let i = addrEnd + 1; i < to; i++) {
      const c = input.charCodeAt(i);
      len = c >= 48 && c <= 57 ? len * 10 + (c - 48) : NaN;
    }
    if (!(digits >= 1 && digits <= 3 && len <= max))
      throw new PrefixError(`'${input.slice(from, to)}': the prefix length must be 0..${max}`);
  }
  if (maskInPlace(addr, len))
    throw new PrefixError(
      `'${input.slice(from, to)}' has host bits set (did you mean ${formatAddr(family, addr)}/${len}?)`,
    );
  return { family, addr, len, key: `${addr.toString("hex")}/${len}` };
}

/** Text of an address masked to `len` bits, as a prefix ("198.18.0.7/32", "fd00:1::/64"). */
export const prefixText = (family: Family, addr: Uint8Array, len: number): string =>
  `${formatAddr(family, maskAddr(addr, len))}/${len}`;

/** The identity key of an address masked to `len` bits (as Prefix.key). */
export const prefixKey = (addr: Uint8Array, len: number): string =>
  `${maskAddr(addr, len).toString("hex")}/${len}`;
