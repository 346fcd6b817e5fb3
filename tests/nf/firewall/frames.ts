// Test frames for the firewall: Ethernet (optionally VLAN-tagged) / IPv4 or IPv6 (optionally with
// extension headers or as a later fragment) / TCP, UDP, ICMP or ICMPv6, with correct checksums,
// and a decoder for what the firewall sends back (resets and ICMP errors).
import { parseIp } from "../../../nf/firewall/cp/addr.js";

export const GEN_MAC = "02:00:00:00:01:01";
export const DUT_MAC = "02:00:00:00:02:02";

export interface FrameOptions {
  src?: string;
  dst?: string;
  proto?: "tcp" | "udp" | "icmp" | number;
  sport?: number;
  dport?: number;
  /** TCP flags byte (default SYN). */
  flags?: number;
  seq?: number;
  ack?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** Bytes after the L4 header (an ICMP error's quote goes here). */
  payload?: Uint8Array;
  vlan?: number;
  /** IPv4: a later fragment (offset 8 bytes). IPv6: a fragment header, later fragment. */
  laterFragment?: boolean;
  /** IPv6: a hop-by-hop options header before the L4 header. */
  hopByHop?: boolean;
  ttl?: number;
  srcMac?: string;
  dstMac?: string;
}

const macBytes = (s: string) => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));

function sum16(b: Uint8Array, seed = 0): number {
  let s = seed;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length % 2) s += b[b.length - 1] << 8;
  return s;
}

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export const TCPF = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 } as const;

/** An L4 header and payload, checksummed over the pseudo header of src/dst. */
function l4(o: FrameOptions, proto: number, v6: boolean, src: Buffer, dst: Buffer): Buffer {
  const payload = Buffer.from(o.payload ?? Buffer.alloc(0));
  let h: Buffer;
  let csumAt: number;
  if (proto === 6) {
    h = Buffer.alloc(20);
    h.writeUInt16BE(o.sport ?? 40000, 0);
    h.writeUInt16BE(o.dport ?? 80, 2);
    h.writeUInt32BE(o.seq ?? 1000, 4);
    h.writeUInt32BE(o.ack ?? 0, 8);
    h[12] = 5 << 4;
    h[13] = o.flags ?? TCPF.SYN;
    h.writeUInt16BE(65535, 14);
    csumAt = 16;
  } else if (proto === 17) {
    h = Buffer.alloc(8);
    h.writeUInt16BE(o.sport ?? 40000, 0);
    h.writeUInt16BE(o.dport ?? 53, 2);
    h.writeUInt16BE(8 + payload.length, 4);
    csumAt = 6;
  } else if (proto === 1 || proto === 58) {
    h = Buffer.alloc(8);
    h[0] = o.icmpType ?? (v6 ? 128 : 8);
    h[1] = o.icmpCode ?? 0;
    h.writeUInt16BE(o.icmpId ?? 7, 4);
    h.writeUInt16BE(1, 6);
    csumAt = 2;
  } else return payload;
  const seg = Buffer.concat([h, payload]);
  let s = sum16(seg);
  if (proto !== 1) {
    const pseudo = Buffer.alloc(v6 ? 40 : 12);
    if (v6) {
      src.copy(pseudo, 0);
      dst.copy(pseudo, 16);
      pseudo.writeUInt32BE(seg.length, 32);
      pseudo[39] = proto;
    } else {
      src.copy(pseudo, 0);
      dst.copy(pseudo, 4);
      pseudo[9] = proto;
      pseudo.writeUInt16BE(seg.length, 10);
    }
    s = sum16(pseudo, s);
  }
  seg.writeUInt16BE(fold(s), csumAt);
  return seg;
}

const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const;

/** A whole frame. The family follows the addresses (default 198.18.1.1 -> 198.18.2.1). */
export function frame(o: FrameOptions = {}): Buffer {
  const src = parseIp(o.src ?? "198.18.1.1");
  const dst = parseIp(o.dst ?? (src?.family === 6 ? "fd00:2::1" : "198.18.2.1"));
  if (!src || !dst || src.family !== dst.family) throw new Error("frame: bad addresses");
  const v6 = src.family === 6;
  let proto = typeof o.proto === "number" ? o.proto : PROTO[o.proto ?? "udp"];
  if (v6 && proto === 1) proto = 58;
  let body = o.laterFragment ? Buffer.alloc(16, 0xab) : l4(o, proto, v6, src.addr, dst.addr);
  let ip: Buffer;
  if (!v6) {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + body.length, 2);
    ip.writeUInt16BE(o.laterFragment ? 1 : 0, 6); // offset 1 (8 bytes)
    ip[8] = o.ttl ?? 64;
    ip[9] = proto;
    src.addr.copy(ip, 12);
    dst.addr.copy(ip, 16);
    ip.writeUInt16BE(fold(sum16(ip)), 10);
  } else {
    let next = proto;
    if (o.laterFragment) {
      const fh = Buffer.alloc(8);
      fh[0] = next;
      fh.writeUInt16BE(8 << 3, 2); // offset 8 x 8 bytes
      fh.writeUInt32BE(0x1234, 4);
      body = Buffer.concat([fh, body]);
      next = 44;
    }
    if (o.hopByHop) {
      const hbh = Buffer.alloc(8);
      hbh[0] = next;
      hbh[1] = 0;
      hbh[2] = 1; // PadN
      hbh[3] = 4;
      body = Buffer.concat([hbh, body]);
      next = 0;
    }
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(body.length, 4);
    ip[6] = next;
    ip[7] = o.ttl ?? 64;
    src.addr.copy(ip, 8);
    dst.addr.copy(ip, 24);
  }
  const tag =
    o.vlan !== undefined ? Buffer.from([0x81, 0x00, (o.vlan >> 8) & 0x0f, o.vlan & 0xff]) : Buffer.alloc(0);
  const eth = Buffer.concat([
    macBytes(o.dstMac ?? DUT_MAC),
    macBytes(o.srcMac ?? GEN_MAC),
    tag,
    Buffer.from(v6 ? [0x86, 0xdd] : [0x08, 0x00]),
  ]);
  return Buffer.concat([eth, ip, body]);
}

/** The IP packet inside a frame (for quoting it in an ICMP error). */
export const ipPart = (f: Buffer): Buffer => f.subarray(f[12] === 0x81 ? 18 : 14);

export interface Decoded {
  srcMac: string;
  dstMac: string;
  vlan?: number;
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  ttl: number;
  /** Whether the IPv4 header checksum and the L4 checksum are right. */
  checksumsOk: boolean;
  l4: Buffer;
  ipLength: number;
}

const mac = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");

export function decode(f: Buffer): Decoded {
  let off = 12;
  let vlan: number | undefined;
  if (f.readUInt16BE(off) === 0x8100) {
    vlan = f.readUInt16BE(off + 2) & 0xfff;
    off += 4;
  }
  const type = f.readUInt16BE(off);
  off += 2;
  const ip = f.subarray(off);
  if (type === 0x0800) {
    const hl = (ip[0] & 15) * 4;
    const total = ip.readUInt16BE(2);
    const l4b = ip.subarray(hl, total);
    const pseudo = Buffer.alloc(12);
    ip.copy(pseudo, 0, 12, 20);
    pseudo[9] = ip[9];
    pseudo.writeUInt16BE(l4b.length, 10);
    const l4ok = ip[9] === 1 ? fold(sum16(l4b)) === 0 : fold(sum16(l4b, sum16(pseudo))) === 0;
    return {
      srcMac: mac(f.subarray(6, 12)),
      dstMac: mac(f.subarray(0, 6)),
      vlan,
      family: 4,
      src: [...ip.subarray(12, 16)].join("."),
      dst: [...ip.subarray(16, 20)].join("."),
      proto: ip[9],
      ttl: ip[8],
      checksumsOk: fold(sum16(ip.subarray(0, hl))) === 0 && l4ok,
      l4: Buffer.from(l4b),
      ipLength: total,
    };
  }
  const plen = ip.readUInt16BE(4);
  const l4b = ip.subarray(40, 40 + plen);
  const pseudo = Buffer.alloc(40);
  ip.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(l4b.length, 32);
  pseudo[39] = ip[6];
  const hex = (b: Buffer) => (b.toString("hex").match(/.{4}/g) ?? []).join(":");
  return {
    srcMac: mac(f.subarray(6, 12)),
    dstMac: mac(f.subarray(0, 6)),
    vlan,
    family: 6,
    src: hex(ip.subarray(8, 24)),
    dst: hex(ip.subarray(24, 40)),
    proto: ip[6],
    ttl: ip[7],
    checksumsOk: fold(sum16(l4b, sum16(pseudo))) === 0,
    l4: Buffer.from(l4b),
    ipLength: 40 + plen,
  };
}
