// Frames for the load balancer's tests, built and checked independently of its code: Ethernet with
// IPv4 or IPv6 and TCP or UDP, every checksum computed from scratch; and a parser that reads a
// frame's MACs and tuple back and says whether all its checksums are right.
import { isIPv4 } from "node:net";
import { addrBytes, addrText, checksum, onesSum, pseudoHeader } from "../../helpers/packets.js";

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

export interface Pkt {
  src: string;
  dst: string;
  proto?: "tcp" | "udp";
  sport?: number;
  dport?: number;
  flags?: number;
  smac?: string;
  dmac?: string;
  payload?: number;
}

const macBytes = (m: string): Buffer => Buffer.from(m.split(":").map((x) => parseInt(x, 16)));

export const CLIENT_MAC = "02:00:00:00:00:0c";
export const LB_MAC = "02:00:00:00:00:1b";

export function frame(o: Pkt): Buffer {
  const v6 = !isIPv4(o.src);
  const src = addrBytes(o.src);
  const dst = addrBytes(o.dst);
  const payload = Buffer.alloc(o.payload ?? 16, 0x5a);
  const tcp = (o.proto ?? "tcp") === "tcp";
  const proto = tcp ? 6 : 17;
  let l4: Buffer;
  if (tcp) {
    l4 = Buffer.concat([Buffer.alloc(20), payload]);
    l4.writeUInt16BE(o.sport ?? 40000, 0);
    l4.writeUInt16BE(o.dport ?? 80, 2);
    l4.writeUInt32BE(1000, 4);
    l4[12] = 5 << 4;
    l4[13] = o.flags ?? TCP_SYN;
    l4.writeUInt16BE(65535, 14);
    l4.writeUInt16BE(checksum(Buffer.concat([pseudoHeader(src, dst, 6, l4.length), l4])), 16);
  } else {
    l4 = Buffer.concat([Buffer.alloc(8), payload]);
    l4.writeUInt16BE(o.sport ?? 40000, 0);
    l4.writeUInt16BE(o.dport ?? 53, 2);
    l4.writeUInt16BE(l4.length, 4);
    const c = checksum(Buffer.concat([pseudoHeader(src, dst, 17, l4.length), l4]));
    l4.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  }
  let l3: Buffer;
  if (v6) {
    l3 = Buffer.alloc(40);
    l3.writeUInt32BE(0x60000000, 0);
    l3.writeUInt16BE(l4.length, 4);
    l3[6] = proto;
    l3[7] = 64;
    src.copy(l3, 8);
    dst.copy(l3, 24);
  } else {
    l3 = Buffer.alloc(20);
    l3[0] = 0x45;
    l3.writeUInt16BE(20 + l4.length, 2);
    l3.writeUInt16BE(0x4000, 6);
    l3[8] = 64;
    l3[9] = proto;
    src.copy(l3, 12);
    dst.copy(l3, 16);
    l3.writeUInt16BE(checksum(l3), 10);
  }
  const eth = Buffer.alloc(14);
  macBytes(o.dmac ?? LB_MAC).copy(eth, 0);
  macBytes(o.smac ?? CLIENT_MAC).copy(eth, 6);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, l3, l4]);
}

/** An ARP request (not IP: the load balancer leaves it to the host). */
export function arp(): Buffer {
  const f = Buffer.alloc(42);
  f.fill(0xff, 0, 6);
  macBytes(CLIENT_MAC).copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  return f;
}

export interface Parsed {
  dmac: string;
  smac: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  csumOk: boolean;
}

const fmtMac = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");

/** Canonical text of an address (as parse() writes it). */
export const canon = (a: string): string => addrText(addrBytes(a));

export function parse(f: Buffer): Parsed {
  const v6 = f.readUInt16BE(12) === 0x86dd;
  const l3 = f.subarray(14);
  let src: Buffer, dst: Buffer, proto: number, l4: Buffer;
  let ok = true;
  if (v6) {
    src = l3.subarray(8, 24);
    dst = l3.subarray(24, 40);
    proto = l3[6];
    l4 = l3.subarray(40, 40 + l3.readUInt16BE(4));
  } else {
    const hl = (l3[0] & 15) * 4;
    src = l3.subarray(12, 16);
    dst = l3.subarray(16, 20);
    proto = l3[9];
    ok &&= onesSum(l3.subarray(0, hl)) === 0xffff;
    l4 = l3.subarray(hl, l3.readUInt16BE(2));
  }
  ok &&= onesSum(l4, onesSum(pseudoHeader(Buffer.from(src), Buffer.from(dst), proto, l4.length))) === 0xffff;
  return {
    dmac: fmtMac(f.subarray(0, 6)),
    smac: fmtMac(f.subarray(6, 12)),
    src: addrText(Buffer.from(src)),
    dst: addrText(Buffer.from(dst)),
    sport: l4.readUInt16BE(0),
    dport: l4.readUInt16BE(2),
    flags: proto === 6 ? l4[13] : 0,
    csumOk: ok,
  };
}
