// Frames the control plane sends (ARP requests, neighbour solicitations, ICMP host unreachable
// for packets whose next hop never answered) and the ones it reads (ARP replies, neighbour
// advertisements, packets waiting for resolution).
import { multicastMac6, solicitedNode, type Family } from "./addr.js";

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
const BROADCAST = Buffer.alloc(6, 0xff);

/** Ones'-complement sum (RFC 1071) of `parts`, folded and complemented. */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts)
    for (const byte of p) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudo6(src: Uint8Array, dst: Uint8Array, len: number, next: number): Buffer {
  const p = Buffer.alloc(40);
  p.set(src, 0);
  p.set(dst, 16);
  p.writeUInt32BE(len, 32);
  p.writeUInt32BE(next, 36);
  return p;
}

export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(14);
  h.set(dst.subarray(0, 6), 0);
  h.set(src.subarray(0, 6), 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

function ipv4Header(src: Uint8Array, dst: Uint8Array, proto: number, payloadLen: number, ttl = 64): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h[1] = 0xc0;
  h.writeUInt16BE(20 + payloadLen, 2);
  h.writeUInt16BE((Math.random() * 0x10000) >>> 0, 4);
  h[8] = ttl;
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  h.writeUInt16BE(inetChecksum(h), 10);
  return h;
}

function ipv6Header(
  src: Uint8Array,
  dst: Uint8Array,
  next: number,
  payloadLen: number,
  hops: number,
): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payloadLen, 4);
  h[6] = next;
  h[7] = hops;
  h.set(src, 8);
  h.set(dst, 24);
  return h;
}

/** An ARP request for `target`; broadcast, or unicast to `dstMac` (a reachability probe). */
export function arpRequest(
  srcMac: Uint8Array,
  srcIp: Uint8Array,
  target: Uint8Array,
  dstMac?: Uint8Array,
): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(ETH_P_IP, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6);
  a.set(srcMac.subarray(0, 6), 8);
  a.set(srcIp, 14);
  a.set(target, 24);
  return ethernet(dstMac ?? BROADCAST, srcMac, ETH_P_ARP, a);
}

/**
 * A neighbour solicitation for `target` (RFC 4861 4.3), with our link-layer address: to the
 * target's solicited-node group, or unicast to `dstMac` (a reachability probe).
 */
export function neighSolicit(
  srcMac: Uint8Array,
  srcIp: Uint8Array,
  target: Uint8Array,
  dstMac?: Uint8Array,
): Buffer {
  const dstIp = dstMac ? Buffer.from(target) : solicitedNode(target);
  const m = Buffer.alloc(32);
  m[0] = 135;
  m.set(target, 8);
  m[24] = 1;
  m[25] = 1;
  m.set(srcMac.subarray(0, 6), 26);
  m.writeUInt16BE(inetChecksum(pseudo6(srcIp, dstIp, m.length, 58), m), 2);
  return ethernet(
    dstMac ?? multicastMac6(dstIp),
    srcMac,
    ETH_P_IPV6,
    Buffer.concat([ipv6Header(srcIp, dstIp, 58, m.length, 255), m]),
  );
}

/** What a frame from the data plane is: its family and IP destination (undefined if neither). */
export function ipDestination(frame: Buffer): { family: Family; dst: Buffer; src: Buffer } | undefined {
  if (frame.length < 14) return undefined;
  const type = frame.readUInt16BE(12);
  if (type === ETH_P_IP && frame.length >= 34)
    return { family: 4, dst: Buffer.from(frame.subarray(30, 34)), src: Buffer.from(frame.subarray(26, 30)) };
  if (type === ETH_P_IPV6 && frame.length >= 54)
    return { family: 6, dst: Buffer.from(frame.subarray(38, 54)), src: Buffer.from(frame.subarray(22, 38)) };
  return undefined;
}

/** A neighbour announcing its MAC: an ARP reply / gratuitous ARP, or a neighbour advertisement. */
export interface NeighAdvert {
  family: Family;
  addr: Buffer;
  /** Undefined for an advertisement without a target link-layer address option. */
  mac: Buffer | undefined;
  /** Whether it may replace a MAC we already have (ARP always; NA with the override flag). */
  override: boolean;
  /** A reply to our question (ARP reply, solicited NA) rather than an announcement. */
  solicited: boolean;
}

/** Parses an ARP reply / announcement or a neighbour advertisement (the data plane checked it). */
export function parseNeighAdvert(frame: Buffer): NeighAdvert | undefined {
  if (frame.length < 14) return undefined;
  const type = frame.readUInt16BE(12);
  if (type === ETH_P_ARP && frame.length >= 42) {
    const op = frame.readUInt16BE(20);
    return {
      family: 4,
      addr: Buffer.from(frame.subarray(28, 32)),
      mac: Buffer.from(frame.subarray(22, 28)),
      override: true,
      solicited: op === 2,
    };
  }
  if (type === ETH_P_IPV6 && frame.length >= 14 + 40 + 24 && frame[20] === 58 && frame[54] === 136) {
    const flags = frame[58];
    const end = Math.min(frame.length, 54 + frame.readUInt16BE(18));
    let mac: Buffer | undefined;
    for (let o = 78; o + 8 <= end;) {
      const len = frame[o + 1] * 8;
      if (!len) break;
      if (frame[o] === 2 && len === 8) mac = Buffer.from(frame.subarray(o + 2, o + 8));
      o += len;
    }
    return {
      family: 6,
      addr: Buffer.from(frame.subarray(62, 78)),
      mac,
      override: (flags & 0x20) !== 0,
      solicited: (flags & 0x40) !== 0,
    };
  }
  return undefined;
}

const QUOTE4 = 576 - 20 - 8;
const QUOTE6 = 1280 - 40 - 8;

/**
 * An ICMP destination unreachable about `frame` (as the data plane handed it over: Ethernet
 * header of the sender intact), sent back to the sender's MAC from `srcMac` / `srcIp`. IPv4: host
 * unreachable; IPv6: address unreachable, as Linux sends when neighbour resolution fails.
 */
export function hostUnreachable(frame: Buffer, srcMac: Uint8Array, srcIp: Uint8Array): Buffer | undefined {
  const d = ipDestination(frame);
  if (!d) return undefined;
  const dstMac = frame.subarray(6, 12);
  if (d.family === 4) {
    const total = Math.min(frame.readUInt16BE(16), frame.length - 14, QUOTE4);
    const icmp = Buffer.concat([Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]), frame.subarray(14, 14 + total)]);
    icmp.writeUInt16BE(inetChecksum(icmp), 2);
    return ethernet(
      dstMac,
      srcMac,
      ETH_P_IP,
      Buffer.concat([ipv4Header(srcIp, d.src, 1, icmp.length), icmp]),
    );
  }
  const total = Math.min(40 + frame.readUInt16BE(18), frame.length - 14, QUOTE6);
  const icmp = Buffer.concat([Buffer.from([1, 3, 0, 0, 0, 0, 0, 0]), frame.subarray(14, 14 + total)]);
  icmp.writeUInt16BE(inetChecksum(pseudo6(srcIp, d.src, icmp.length, 58), icmp), 2);
  return ethernet(
    dstMac,
    srcMac,
    ETH_P_IPV6,
    Buffer.concat([ipv6Header(srcIp, d.src, 58, icmp.length, 64), icmp]),
  );
}

/** Whether an ICMP error may be sent about this frame (not about errors, multicast, bad sources). */
export function mayReplyWithError(frame: Buffer): boolean {
  const d = ipDestination(frame);
  if (!d) return false;
  if (d.family === 4) {
    if (d.src[0] === 0 || d.src[0] === 127 || d.src[0] >= 224) return false;
    if ((frame.readUInt16BE(20) & 0x1fff) !== 0) return false;
    const hl = (frame[14] & 0x0f) * 4;
    if (frame[23] === 1 && frame.length > 14 + hl) {
      const t = frame[14 + hl];
      if (t !== 0 && t !== 8 && (t < 13 || t > 18)) return false;
    }
    return true;
  }
  if (d.src[0] === 0xff || d.src.every((x) => x === 0)) return false;
  if (frame[20] === 58 && frame.length > 54 && frame[54] < 128) return false;
  return true;
}

/** Replaces the Ethernet addresses of a frame (in place) and returns it. */
export function rewriteMacs(frame: Buffer, dst: Uint8Array, src: Uint8Array): Buffer {
  frame.set(dst.subarray(0, 6), 0);
  frame.set(src.subarray(0, 6), 6);
  return frame;
}
