// The generator's frames: Ethernet/IPv4/UDP or Ethernet/IPv6/UDP, one per flow, and the config
// record rig_gen.c patches them from. buildFrame() computes every checksum from scratch; the
// generator finishes them from the partial sums in genConfig(): tests compare the two.
import { isIPv4, isIPv6 } from "node:net";

/** Bytes the generator rewrites on every send (rig_gen.c RIG_HDR). */
export const TEMPLATE_BYTES = 64;
/** sizeof(struct rig_gen_cfg). */
export const GEN_CONFIG_BYTES = 104;
export const MIN_FRAME = 64;
/** Largest frame a 1500-byte MTU veth takes (no FCS here: sizes are what XDP sees). */
export const MAX_FRAME = 1514;

export interface Flows {
  /** Consecutive source addresses (default 1). */
  srcAddrs?: number;
  /** Consecutive UDP source ports (default 1). */
  srcPorts?: number;
  /** Consecutive destination addresses (default 1). */
  dstAddrs?: number;
}

export interface FrameSpec {
  /** Frame length as XDP sees it (no FCS), MIN_FRAME..MAX_FRAME. */
  size: number;
  srcMac: string;
  dstMac: string;
  /** First source / destination address; IPv6 when they are IPv6 addresses. */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  ttl: number;
  /** Written in the first two payload bytes: the sink counts only the current run's frames. */
  epoch: number;
  flows: Required<Flows>;
}

export const flowCount = (f: Required<Flows>): number => f.srcAddrs * f.srcPorts * f.dstAddrs;

const macBytes = (s: string): Buffer => {
  const b = Buffer.from(s.split(":").map((x) => parseInt(x, 16)));
  if (b.length !== 6 || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s)) throw new RangeError(`bad MAC ${s}`);
  return b;
};

/** An IPv4 or IPv6 address as bytes. */
export function addrBytes(a: string): Buffer {
  if (isIPv4(a)) return Buffer.from(a.split(".").map(Number));
  if (!isIPv6(a)) throw new RangeError(`bad IP address ${a}`);
  const [head, tail = ""] = a.includes("::") ? a.split("::") : [a, undefined];
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  const groups = a.includes("::") ? [...hs, ...Array(8 - hs.length - ts.length).fill("0"), ...ts] : hs;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** Bytes back to text (IPv6 without zero compression: for messages and tests). */
export function addrText(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] << 8) | b[i + 1]).toString(16));
  return g.join(":");
}

/** One's complement sum of 16-bit big-endian words, folded to 16 bits (not inverted). */
export function onesSum(b: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length % 2) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export const isV6 = (spec: Pick<FrameSpec, "src">): boolean => isIPv6(spec.src);
const l3Len = (v6: boolean) => (v6 ? 40 : 20);

/** Checks a spec; throws a RangeError that says what is wrong. */
export function checkSpec(spec: FrameSpec): void {
  const v6 = isV6(spec);
  if (v6 !== isIPv6(spec.dst))
    throw new RangeError(`source ${spec.src} and destination ${spec.dst} mix IPv4 and IPv6`);
  if (!Number.isInteger(spec.size) || spec.size < MIN_FRAME || spec.size > MAX_FRAME)
    throw new RangeError(`frame size ${spec.size}: must be an integer in ${MIN_FRAME}..${MAX_FRAME}`);
  const { srcAddrs, srcPorts, dstAddrs } = spec.flows;
  for (const [k, v] of Object.entries(spec.flows))
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`flows.${k} = ${v}: must be a positive integer`);
  if (spec.sport + srcPorts - 1 > 0xffff)
    throw new RangeError(`source ports ${spec.sport}+${srcPorts} pass 65535`);
  const low = (a: string) => addrBytes(a).readUInt32BE(v6 ? 12 : 0);
  if (low(spec.src) + srcAddrs - 1 > 0xffffffff || low(spec.dst) + dstAddrs - 1 > 0xffffffff)
    throw new RangeError("the address range wraps around");
  if (flowCount(spec.flows) > 2 ** 32) throw new RangeError("more than 2^32 flows");
}

/** The addresses and source port of flow `f` (the generator's order: sources vary fastest). */
export function flowOf(spec: FrameSpec, f: number): { src: Buffer; dst: Buffer; sport: number } {
  const { srcAddrs, srcPorts, dstAddrs } = spec.flows;
  const s = f % srcAddrs;
  const rest = Math.floor(f / srcAddrs);
  const p = rest % srcPorts;
  const d = Math.floor(rest / srcPorts) % dstAddrs;
  const bump = (a: string, n: number) => {
    const b = addrBytes(a);
    const off = b.length - 4;
    b.writeUInt32BE((b.readUInt32BE(off) + n) >>> 0, off);
    return b;
  };
  return { src: bump(spec.src, s), dst: bump(spec.dst, d), sport: spec.sport + p };
}

/** The full frame of packet number `seq` (flow seq % flows), every checksum computed from scratch. */
export function buildFrame(spec: FrameSpec, seq = 0): Buffer {
  checkSpec(spec);
  const v6 = isV6(spec);
  const { src, dst, sport } = flowOf(spec, seq % flowCount(spec.flows));
  const f = Buffer.alloc(spec.size);
  macBytes(spec.dstMac).copy(f, 0);
  macBytes(spec.srcMac).copy(f, 6);
  f.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  const l4 = 14 + l3Len(v6);
  const udpLen = spec.size - l4;
  if (v6) {
    f.writeUInt32BE(0x60000000, 14);
    f.writeUInt16BE(udpLen, 18);
    f[20] = 17;
    f[21] = spec.ttl;
    src.copy(f, 22);
    dst.copy(f, 38);
  } else {
    f[14] = 0x45;
    f.writeUInt16BE(spec.size - 14, 16);
    f.writeUInt16BE(0x4000, 20); // DF
    f[22] = spec.ttl;
    f[23] = 17;
    src.copy(f, 26);
    dst.copy(f, 30);
    f.writeUInt16BE(~onesSum(f.subarray(14, 34)) & 0xffff, 24);
  }
  f.writeUInt16BE(sport, l4);
  f.writeUInt16BE(spec.dport, l4 + 2);
  f.writeUInt16BE(udpLen, l4 + 4);
  f.writeUInt16BE(spec.epoch & 0xffff, l4 + 8);
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 17, udpLen >> 8, udpLen & 0xff])]);
  const csum = ~onesSum(f.subarray(l4), onesSum(pseudo)) & 0xffff;
  f.writeUInt16BE(csum === 0 ? 0xffff : csum, l4 + 6);
  return f;
}

/** struct rig_gen_cfg for `spec`, sending out of interface `ifindex`. */
export function genConfig(spec: FrameSpec, ifindex: number): Buffer {
  const v6 = isV6(spec);
  const frame = buildFrame(spec, 0);
  const l4 = 14 + l3Len(v6);
  const srcOff = v6 ? 22 : 26;
  const dstOff = v6 ? 38 : 30;
  const lowOff = v6 ? 12 : 0;
  const src = addrBytes(spec.src);
  const dst = addrBytes(spec.dst);
  // What varies per flow (low 32 bits of each address, the source port) and the checksums are
  // zeroed: the sums of the rest are the generator's starting points.
  const fixed = Buffer.from(frame);
  fixed.fill(0, srcOff + lowOff, srcOff + lowOff + 4);
  fixed.fill(0, dstOff + lowOff, dstOff + lowOff + 4);
  fixed.writeUInt16BE(0, l4);
  fixed.writeUInt16BE(0, l4 + 6);
  if (!v6) fixed.writeUInt16BE(0, 24);
  const udpLen = spec.size - l4;
  const pseudo = Buffer.concat([
    fixed.subarray(srcOff, srcOff + src.length),
    fixed.subarray(dstOff, dstOff + dst.length),
    Buffer.from([0, 17, udpLen >> 8, udpLen & 0xff]),
  ]);
  const c = Buffer.alloc(GEN_CONFIG_BYTES);
  fixed.copy(c, 0, 0, TEMPLATE_BYTES);
  let o = TEMPLATE_BYTES;
  for (const v of [
    ifindex,
    v6 ? 1 : 0,
    spec.flows.srcAddrs,
    spec.flows.srcPorts,
    spec.flows.dstAddrs,
    src.readUInt32BE(lowOff),
    dst.readUInt32BE(lowOff),
    spec.sport,
    v6 ? 0 : onesSum(fixed.subarray(14, 34)),
    onesSum(fixed.subarray(l4), onesSum(pseudo)),
  ]) {
    c.writeUInt32LE(v >>> 0, o);
    o += 4;
  }
  return c;
}
