// Frames for the DDoS mitigator's tests, built independently of its code: Ethernet (optionally
// VLAN-tagged) / IPv4 or IPv6 / TCP (with flags and options) or UDP, fragments, and checks of
// what comes back (addresses, checksums, TCP header and options).
import { isIPv4 } from "node:net";
import { parseIpv6 } from "../../../src/core/tables.js";
import { checksum } from "../../helpers/packets.js";

export const CLIENT_MAC = "02:00:00:00:00:0c";
export const SERVER_MAC = "02:00:00:00:00:05";

const macBytes = (s: string) => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));

export function addrBytes(a: string): Buffer {
  if (isIPv4(a)) return Buffer.from(a.split(".").map(Number));
  const b = parseIpv6(a);
  if (!b) throw new Error(`bad address ${a}`);
  return b;
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface L4Spec {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** VLAN id: one 802.1Q tag. */
  vlan?: number;
  ttl?: number;
}

export interface TcpSpec extends L4Spec {
  flags: number;
  seq?: number;
  ack?: number;
  /** TCP options, already padded to a multiple of 4. */
  options?: Buffer;
  payload?: Buffer;
}

/** The options a Linux client's SYN carries: MSS 1460, SACK permitted, timestamps, wscale 7. */
export function synOptions(mss = 1460): Buffer {
  const o = Buffer.alloc(20);
  o.set([2, 4, mss >> 8, mss & 0xff, 4, 2, 8, 10], 0);
  o.writeUInt32BE(0x01020304, 8); // TSval
  o.writeUInt32BE(0, 12);
  o.set([1, 3, 3, 7], 16);
  return o;
}

function pseudoSum(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  if (src.length === 4) return Buffer.concat([src, dst, Buffer.from([0, proto, len >> 8, len & 0xff])]);
  const tail = Buffer.alloc(8);
  tail.writeUInt32BE(len, 0);
  tail[7] = proto;
  return Buffer.concat([src, dst, tail]);
}

/** Ethernet + IP around an L4 header and payload (checksummed here). */
function wrap(spec: L4Spec, proto: number, l4: Buffer, ipOptions?: Buffer): Buffer {
  const src = addrBytes(spec.src);
  const dst = addrBytes(spec.dst);
  const v6 = src.length === 16;
  // L4 checksum over the pseudo header.
  const csumAt = proto === 6 ? 16 : 6;
  l4.writeUInt16BE(0, csumAt);
  let c = checksum(Buffer.concat([pseudoSum(src, dst, proto, l4.length), l4]));
  if (proto === 17 && c === 0) c = 0xffff;
  l4.writeUInt16BE(c, csumAt);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(l4.length, 4);
    ip[6] = proto;
    ip[7] = spec.ttl ?? 64;
    src.copy(ip, 8);
    dst.copy(ip, 24);
  } else {
    const opts = ipOptions ?? Buffer.alloc(0);
    ip = Buffer.alloc(20 + opts.length);
    ip[0] = 0x40 | ((20 + opts.length) / 4);
    ip.writeUInt16BE(ip.length + l4.length, 2);
    ip[8] = spec.ttl ?? 64;
    ip[9] = proto;
    src.copy(ip, 12);
    dst.copy(ip, 16);
    opts.copy(ip, 20);
    ip.writeUInt16BE(checksum(ip), 10);
  }
  const eth = Buffer.alloc(spec.vlan !== undefined ? 18 : 14);
  macBytes(SERVER_MAC).copy(eth, 0);
  macBytes(CLIENT_MAC).copy(eth, 6);
  if (spec.vlan !== undefined) {
    eth.writeUInt16BE(0x8100, 12);
    eth.writeUInt16BE(spec.vlan, 14);
    eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 16);
  } else eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip, l4]);
}

export function tcpFrame(spec: TcpSpec, ipOptions?: Buffer): Buffer {
  const opts = spec.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h.writeUInt16BE(spec.sport ?? 40000, 0);
  h.writeUInt16BE(spec.dport ?? 80, 2);
  h.writeUInt32BE(spec.seq ?? 1000, 4);
  h.writeUInt32BE(spec.ack ?? 0, 8);
  h[12] = (h.length / 4) << 4;
  h[13] = spec.flags;
  h.writeUInt16BE(64240, 14);
  opts.copy(h, 20);
  return wrap(spec, 6, Buffer.concat([h, spec.payload ?? Buffer.alloc(0)]), ipOptions);
}

/** A client's SYN with Linux's usual options. */
export const synFrame = (spec: Omit<TcpSpec, "flags">): Buffer =>
  tcpFrame({ options: synOptions(), ...spec, flags: TCP.SYN });

export function udpFrame(spec: L4Spec, payload = Buffer.alloc(18)): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(spec.sport ?? 40000, 0);
  h.writeUInt16BE(spec.dport ?? 53, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return wrap(spec, 17, Buffer.concat([h, payload]));
}

/** A later IPv4 fragment (offset 8 bytes) of a UDP datagram: no L4 header in it. */
export function udpFragment4(spec: L4Spec): Buffer {
  const f = udpFrame(spec);
  f.writeUInt16BE(0x0001, 14 + 6); // offset 1 (8 bytes), no more fragments
  f.writeUInt16BE(0, 14 + 10);
  f.writeUInt16BE(checksum(f.subarray(14, 34)), 14 + 10);
  return f;
}

/** What a SYN-ACK from the data plane says, after checking its checksums. */
export interface SynAck {
  dstMac: string;
  srcMac: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number | undefined;
  ttl: number;
  /** IP and L4 checksums verify. */
  checksumsOk: boolean;
  length: number;
}

const macText = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");

function addrText(b: Buffer): string {
  if (b.length === 4) return [...b].join(".");
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(b.readUInt16BE(i).toString(16));
  return w.join(":");
}

/** Parses an Ethernet/IP/TCP frame (no VLAN unless `l2` says 18). */
export function parseTcp(f: Buffer, l2 = 14): SynAck {
  const v6 = f.readUInt16BE(l2 - 2) === 0x86dd;
  const ipl = v6 ? 40 : (f[l2] & 0x0f) * 4;
  const ip = f.subarray(l2, l2 + ipl);
  const tcpLen = v6 ? ip.readUInt16BE(4) : ip.readUInt16BE(2) - ipl;
  const th = f.subarray(l2 + ipl, l2 + ipl + tcpLen);
  const src = v6 ? ip.subarray(8, 24) : ip.subarray(12, 16);
  const dst = v6 ? ip.subarray(24, 40) : ip.subarray(16, 20);
  const ipOk = v6 || checksum(ip) === 0;
  const l4Ok = checksum(Buffer.concat([pseudoSum(src, dst, 6, th.length), th])) === 0;
  let mss: number | undefined;
  for (let i = 20; i < (th[12] >> 4) * 4;) {
    const kind = th[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (kind === 2) mss = th.readUInt16BE(i + 2);
    i += th[i + 1] || 1;
  }
  return {
    dstMac: macText(f.subarray(0, 6)),
    srcMac: macText(f.subarray(6, 12)),
    src: addrText(Buffer.from(src)),
    dst: addrText(Buffer.from(dst)),
    sport: th.readUInt16BE(0),
    dport: th.readUInt16BE(2),
    seq: th.readUInt32BE(4),
    ack: th.readUInt32BE(8),
    flags: th[13],
    window: th.readUInt16BE(14),
    mss,
    ttl: v6 ? ip[7] : ip[8],
    checksumsOk: ipOk && l4Ok,
    length: f.length,
  };
}

/** Long-form text of an address, as parseTcp() prints it. */
export const longText = (a: string): string => addrText(addrBytes(a));
