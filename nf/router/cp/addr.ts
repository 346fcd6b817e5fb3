// Addresses and prefixes for the router's control plane: IPv4 and IPv6 text <-> bytes, prefixes
// with their canonical form, MACs, and the addresses the router derives itself (port MACs,
// link-local addresses, solicited-node groups).
import { createHash } from "node:crypto";

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** Network order; host bits are zero. 4 or 16 bytes. */
  addr: Buffer;
  plen: number;
}

/** An address with the prefix length of its subnet, as configured on a port. */
export interface IfAddr {
  family: Family;
  addr: Buffer;
  plen: number;
}

/** Dotted-quad text to 4 bytes (a character loop: bulk route loads parse many of these). */
export function parseIpv4(s: string): Buffer | undefined {
  const t = s.trim();
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= t.length; i++) {
    const c = i < t.length ? t.charCodeAt(i) : 46; // a final "." closes the last part
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else if (c === 46 && digits > 0 && part < 4) {
      out[part++] = value;
      value = 0;
      digits = 0;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

export function parseIpv6(s: string): Buffer | undefined {
  let text = s.trim().toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = parseIpv4(v4[1]);
    if (!b || !text.includes(":")) return undefined;
    text = `${text.slice(0, -v4[1].length)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  if (!/^[0-9a-f:]+$/.test(text) || !text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const words = (p: string) =>
    p === "" ? [] : p.split(":").map((x) => (/^[0-9a-f]{1,4}$/.test(x) ? parseInt(x, 16) : NaN));
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if ([...head, ...tail].some(Number.isNaN)) return undefined;
  let all: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return undefined;
    all = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else all = head;
  if (all.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** Parses an address of either family. */
export function parseIp(s: string): { family: Family; addr: Buffer } | undefined {
  const v4 = parseIpv4(s);
  if (v4) return { family: 4, addr: v4 };
  const v6 = parseIpv6(s);
  return v6 ? { family: 6, addr: v6 } : undefined;
}

export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower case, the longest run of two or more zero words as "::". */
export function formatIpv6(b: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, i) => (b[i * 2] << 8) | b[i * 2 + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export const formatIp = (family: Family, b: Uint8Array): string =>
  family === 4 ? formatIpv4(b) : formatIpv6(b);

const maxLen = (f: Family) => (f === 4 ? 32 : 128);

/** Zeroes the bits of `addr` after the first `plen`. */
export function maskAddr(addr: Uint8Array, plen: number): Buffer {
  const out = Buffer.from(addr);
  const whole = plen >> 3;
  if (whole < out.length) {
    out[whole] &= (0xff << (8 - (plen & 7))) & 0xff;
    out.fill(0, whole + 1);
  }
  return out;
}

/** Whether the bits of `addr` after the first `plen` are all zero. */
function hostBitsZero(addr: Uint8Array, plen: number): boolean {
  const whole = plen >> 3;
  if (whole >= addr.length) return true;
  if (addr[whole] & (0xff >> (plen & 7))) return false;
  for (let i = whole + 1; i < addr.length; i++) if (addr[i]) return false;
  return true;
}

export class AddressError extends Error {
  override name = "AddressError";
}

function splitPrefix(text: string, what: string): { family: Family; addr: Buffer; plen: number } {
  const t = text.trim();
  const slash = t.indexOf("/");
  const ip = parseIp(slash < 0 ? t : t.slice(0, slash));
  const lenText = slash < 0 ? undefined : t.slice(slash + 1);
  if (!ip || (lenText !== undefined && !/^\d{1,3}$/.test(lenText)))
    throw new AddressError(`${what} '${text}' is not an IPv4 or IPv6 address with a prefix length`);
  const plen = lenText === undefined ? maxLen(ip.family) : Number(lenText);
  if (plen > maxLen(ip.family))
    throw new AddressError(`${what} '${text}': prefix length ${plen} is more than ${maxLen(ip.family)}`);
  return { family: ip.family, addr: ip.addr, plen };
}

/**
 * A route prefix: "198.18.2.0/24", "fd00:2::/64", "default" (or "default6" for ::/0). A bare
 * address is a host route. Host bits must be zero, as `ip route` wants.
 */
export function parsePrefix(text: string): Prefix {
  const t = text.trim();
  if (t === "default" || t === "0.0.0.0/0") return { family: 4, addr: Buffer.alloc(4), plen: 0 };
  if (t === "default6" || t === "::/0") return { family: 6, addr: Buffer.alloc(16), plen: 0 };
  const p = splitPrefix(t, "prefix");
  if (!hostBitsZero(p.addr, p.plen))
    throw new AddressError(
      `prefix '${text}' has host bits set; did you mean ${formatIp(p.family, maskAddr(p.addr, p.plen))}/${p.plen}?`,
    );
  return p;
}

export const formatPrefix = (p: Prefix): string => `${formatIp(p.family, p.addr)}/${p.plen}`;

/** A port address: "198.18.1.254/24" (the prefix length says which subnet is connected). */
export function parseIfAddr(text: string): IfAddr {
  const p = splitPrefix(text, "address");
  if (!/\//.test(text)) throw new AddressError(`address '${text}' needs a prefix length, e.g. ${text}/24`);
  const net = maskAddr(p.addr, p.plen);
  if (p.family === 4 && p.plen < 31) {
    const mask = maskAddr(Buffer.alloc(4, 0xff), p.plen);
    const bcast = Buffer.from(net.map((x, i) => x | (~mask[i] & 0xff)));
    if (p.addr.equals(net) || p.addr.equals(bcast))
      throw new AddressError(
        `address '${text}' is the ${p.addr.equals(net) ? "network" : "broadcast"} address of its subnet`,
      );
  }
  if (isUnusable(p.family, p.addr)) throw new AddressError(`address '${text}' cannot be a port address`);
  return p;
}

export const formatIfAddr = (a: IfAddr): string => `${formatIp(a.family, a.addr)}/${a.plen}`;

/** Whether `addr` lies in `p` (no allocation: route resolution calls it a lot). */
export function prefixContains(p: Prefix | IfAddr, family: Family, addr: Uint8Array): boolean {
  if (p.family !== family) return false;
  const whole = p.plen >> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== p.addr[i]) return false;
  const rest = p.plen & 7;
  if (!rest) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (addr[whole] & m) === (p.addr[whole] & m);
}

/** Multicast, loopback, unspecified, broadcast, link-local where it does not belong... */
export function isUnusable(family: Family, a: Uint8Array): boolean {
  if (family === 4) return a[0] === 0 || a[0] === 127 || a[0] >= 224;
  return a[0] === 0xff || a.every((x) => x === 0) || (a.subarray(0, 15).every((x) => x === 0) && a[15] === 1);
}

export const isLinkLocal6 = (a: Uint8Array): boolean => a[0] === 0xfe && (a[1] & 0xc0) === 0x80;

// ---- MACs ----

export function parseMac(s: string): Buffer | undefined {
  const t = s.trim();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(t)) return undefined;
  return Buffer.from(t.split(":").map((x) => parseInt(x, 16)));
}

export const formatMac = (b: Uint8Array): string =>
  Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");

/**
 * The MAC a port uses when its configuration names none: locally administered, unicast, and the
 * same every time for the same instance and port, so nothing needs storing and a restarted
 * daemon (or another host's ARP cache) sees the same address.
 */
export function derivedMac(instance: string, port: string): Buffer {
  const h = createHash("sha256").update(`plexus/router/${instance}/${port}`).digest();
  const mac = Buffer.from(h.subarray(0, 6));
  mac[0] = (mac[0] & 0xfc) | 0x02;
  return mac;
}

/** fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A). */
export function linkLocalFromMac(mac: Uint8Array): Buffer {
  const a = Buffer.alloc(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a[8] = mac[0] ^ 0x02;
  a[9] = mac[1];
  a[10] = mac[2];
  a[11] = 0xff;
  a[12] = 0xfe;
  a[13] = mac[3];
  a[14] = mac[4];
  a[15] = mac[5];
  return a;
}

/** ff02::1:ffXX:XXXX, where a solicitation for `target` is sent (RFC 4291 2.7.1). */
export function solicitedNode(target: Uint8Array): Buffer {
  const a = Buffer.from("ff0200000000000000000001ff000000", "hex");
  a[13] = target[13];
  a[14] = target[14];
  a[15] = target[15];
  return a;
}

/** 33:33 and the low 32 bits of an IPv6 multicast group (RFC 2464 7). */
export function multicastMac6(group: Uint8Array): Buffer {
  return Buffer.from([0x33, 0x33, group[12], group[13], group[14], group[15]]);
}
