// Frames for the NAT's tests, built and checked independently of the NAT's code: Ethernet with
// IPv4 or IPv6 and TCP, UDP or ICMP echo, every checksum computed from scratch; and a parser that
// reads a frame's tuple back and says whether all its checksums are right.
import { isIPv4 } from "node:net";
import { addrBytes, addrText, checksum, onesSum, pseudoHeader } from "../../helpers/packets.js";

export const PROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;
export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;
export const TCP_FIN = 0x01;
export const TCP_RST = 0x04;

export interface Pkt {
  src: string;
  dst: string;
  proto: "tcp" | "udp" | "icmp";
  sport?: number;
  dport?: number;
  /** ICMP echo identifier. */
  id?: number;
  /** ICMP: echo reply instead of request. */
  reply?: boolean;
  flags?: number;
  payload?: number;
  /** IPv4 UDP without a checksum. */
  noCsum?: boolean;
}

export function frame(o: Pkt): Buffer {
  const v6 = !isIPv4(o.src);
  const src = addrBytes(o.src);
  const dst = addrBytes(o.dst);
  const payload = Buffer.alloc(o.payload ?? 16, 0x5a);
  let l4: Buffer;
  let proto: number;
  if (o.proto === "tcp") {
    proto = 6;
    l4 = Buffer.concat([Buffer.alloc(20), payload]);
    l4.writeUInt16BE(o.sport ?? 40000, 0);
    l4.writeUInt16BE(o.dport ?? 80, 2);
    l4.writeUInt32BE(1000, 4);
    l4[12] = 5 << 4;
    l4[13] = o.flags ?? TCP_SYN;
    l4.writeUInt16BE(65535, 14);
    l4.writeUInt16BE(checksum(Buffer.concat([pseudoHeader(src, dst, 6, l4.length), l4])), 16);
  } else if (o.proto === "udp") {
    proto = 17;
    l4 = Buffer.concat([Buffer.alloc(8), payload]);
    l4.writeUInt16BE(o.sport ?? 40000, 0);
    l4.writeUInt16BE(o.dport ?? 53, 2);
    l4.writeUInt16BE(l4.length, 4);
    if (!o.noCsum) {
      const c = checksum(Buffer.concat([pseudoHeader(src, dst, 17, l4.length), l4]));
      l4.writeUInt16BE(c === 0 ? 0xffff : c, 6);
    }
  } else {
    proto = v6 ? 58 : 1;
    l4 = Buffer.concat([Buffer.alloc(8), payload]);
    l4[0] = v6 ? (o.reply ? 129 : 128) : o.reply ? 0 : 8;
    l4.writeUInt16BE(o.id ?? 0x1234, 4);
    l4.writeUInt16BE(7, 6);
    l4.writeUInt16BE(
      v6 ? checksum(Buffer.concat([pseudoHeader(src, dst, 58, l4.length), l4])) : checksum(l4),
      2,
    );
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
  Buffer.from([2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa]).copy(eth);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, l3, l4]);
}

export interface Parsed {
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  /** Every checksum in the frame is right. */
  csumOk: boolean;
  udpCsum?: number;
}

/** Canonical text of an address (for comparing with what parse() gives). */
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
  let sport: number, dport: number, udpCsum: number | undefined;
  if (proto === 6 || proto === 17) {
    sport = l4.readUInt16BE(0);
    dport = l4.readUInt16BE(2);
    if (proto === 17) udpCsum = l4.readUInt16BE(6);
    if (!(proto === 17 && !v6 && udpCsum === 0))
      ok &&= onesSum(l4, onesSum(pseudoHeader(src, dst, proto, l4.length))) === 0xffff;
  } else {
    sport = dport = l4.readUInt16BE(4);
    ok &&= (v6 ? onesSum(l4, onesSum(pseudoHeader(src, dst, 58, l4.length))) : onesSum(l4)) === 0xffff;
  }
  return {
    src: addrText(Buffer.from(src)),
    dst: addrText(Buffer.from(dst)),
    proto,
    sport,
    dport,
    csumOk: ok,
    udpCsum,
  };
}

/**
 * An ICMP (ICMPv6) error from `src` to `dst` quoting the IP packet of `quoted` (a frame), cut to
 * `quote` bytes when given: destination unreachable (type 3 / 1) unless told.
 */
export function icmpError(o: {
  src: string;
  dst: string;
  quoted: Buffer;
  type?: number;
  code?: number;
  quote?: number;
}): Buffer {
  const v6 = !isIPv4(o.src);
  const inner = o.quoted.subarray(14, o.quote === undefined ? undefined : 14 + o.quote);
  const f = frame({ src: o.src, dst: o.dst, proto: "icmp", payload: inner.length });
  const l4 = f.subarray(14 + (v6 ? 40 : 20));
  l4[0] = o.type ?? (v6 ? 1 : 3);
  l4[1] = o.code ?? (v6 ? 4 : 3);
  l4.writeUInt32BE(0, 4);
  inner.copy(l4, 8);
  l4.writeUInt16BE(0, 2);
  const src = addrBytes(o.src);
  const dst = addrBytes(o.dst);
  l4.writeUInt16BE(
    v6 ? checksum(Buffer.concat([pseudoHeader(src, dst, 58, l4.length), l4])) : checksum(l4),
    2,
  );
  return f;
}

/** The packet an ICMP error quotes, as a frame of its own (for parse()). */
export function quotedOf(f: Buffer): Buffer {
  const v6 = f.readUInt16BE(12) === 0x86dd;
  return Buffer.concat([f.subarray(0, 14), f.subarray(14 + (v6 ? 40 : 20) + 8)]);
}
