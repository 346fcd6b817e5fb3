// Small builders for test frames: Ethernet, IPv4, IPv6, UDP, ICMP. Addresses from the benchmarking
// ranges only (198.18.0.0/15, fd00::/8).

export const MAC_A = "02:00:00:00:00:0a";
export const MAC_B = "02:00:00:00:00:0b";

const mac = (s: string) => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));
const ip4 = (s: string) => Buffer.from(s.split(".").map(Number));

export function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length % 2) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
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
