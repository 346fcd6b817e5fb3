// Small builders for test frames: Ethernet, IPv4, IPv6, UDP, ICMP. Addresses from the benchmarking
// ranges only (198.18.0.0/15, fd00::/8).

import { isIPv4 } from "node:net";
import { parseIpv6 } from "../../src/core/tables.js";

export const MAC_A = "02:00:00:00:00:0a";
export const MAC_B = "02:00:00:00:00:0b";

const mac = (s: string) => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));
const ip4 = (s: string) => Buffer.from(s.split(".").map(Number));

/** The folded ones'-complement sum of `b`, added to `start` (a checksum checks out when it is 0xffff). */
export function onesSum(b: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length % 2) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function checksum(b: Uint8Array): number {
  return ~onesSum(b) & 0xffff;
}

/** The bytes of an IPv4 or IPv6 address in text. */
export const addrBytes = (a: string): Buffer =>
  isIPv4(a) ? Buffer.from(a.split(".").map(Number)) : Buffer.from(parseIpv6(a) ?? Buffer.alloc(16));

/** Canonical text of 4 or 16 address bytes (IPv6 without leading zeros, not compressed). */
export const addrText = (b: Buffer): string =>
  b.length === 4
    ? [...b].join(".")
    : Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16))
        .join(":")
        .replace(/\b0+(?=[0-9a-f])/g, "");

/** The TCP/UDP/ICMPv6 pseudo header of IPv4 (4-byte addresses) or IPv6. */
export function pseudoHeader(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  if (src.length === 4) {
    const p = Buffer.alloc(12);
    src.copy(p, 0);
    dst.copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(len, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  src.copy(p, 0);
  dst.copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

export function ethernet(etherType: number, payload: Uint8Array, dst = MAC_B, src = MAC_A): Buffer {
  const h = Buffer.alloc(14);
  mac(dst).copy(h, 0);
  mac(src).copy(h, 6);
  h.writeUInt16BE(etherType, 12);
  return Buffer.concat([h, payload]);
}

export interface Ipv4Options {
  src?: string;
  dst?: string;
  ttl?: number;
  protocol?: number;
}

export function ipv4(payload: Uint8Array, o: Ipv4Options = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = o.ttl ?? 64;
  h[9] = o.protocol ?? 17;
  ip4(o.src ?? "198.18.0.1").copy(h, 12);
  ip4(o.dst ?? "198.18.0.2").copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function udp(payload: Uint8Array, sport = 1234, dport = 5678): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** An Ethernet/IPv4/UDP frame of exactly `size` bytes (at least 42). */
export function udp4Frame(size = 64, o: Ipv4Options = {}): Buffer {
  const payload = Buffer.alloc(Math.max(0, size - 42));
  return ethernet(0x0800, ipv4(udp(payload), { protocol: 17, ...o }));
}

export function ipv6Frame(payloadSize = 8, nextHeader = 17): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payloadSize, 4);
  h[6] = nextHeader;
  h[7] = 64;
  Buffer.from("fd000000000000000000000000000001", "hex").copy(h, 8);
  Buffer.from("fd000000000000000000000000000002", "hex").copy(h, 24);
  return ethernet(0x86dd, Buffer.concat([h, Buffer.alloc(payloadSize)]));
}

export function arpFrame(): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6);
  mac(MAC_A).copy(a, 8);
  ip4("198.18.0.1").copy(a, 14);
  ip4("198.18.0.2").copy(a, 24);
  return ethernet(0x0806, a, "ff:ff:ff:ff:ff:ff");
}
