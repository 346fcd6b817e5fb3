// The packet corpus of the differential tests: IPv4, IPv6, ARP, VLAN (and QinQ), TCP, UDP, ICMP,
// ICMPv6, broadcast and multicast, 802.3 length frames, truncated and malformed frames. Every frame
// is at least 14 bytes (BPF_PROG_TEST_RUN refuses shorter ones). Addresses from 198.18.0.0/15 and
// fd00::/8 only.
import { checksum } from "../helpers/packets.js";

const MAC_A = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B = [0x02, 0, 0, 0, 0, 0x0b];
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const MCAST = [0x33, 0x33, 0, 0, 0, 0x01];
const ZERO = [0, 0, 0, 0, 0, 0];

const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];

function eth(type: number, payload: Uint8Array, dst = MAC_B, src = MAC_A): Buffer {
  return Buffer.from([...dst, ...src, ...u16(type), ...payload]);
}

function vlan(tci: number, type: number, payload: Uint8Array): Buffer {
  return Buffer.from([...u16(tci), ...u16(type), ...payload]);
}

interface Ip4 {
  src?: number[];
  dst?: number[];
  proto: number;
  ttl?: number;
  ihl?: number;
  totalLen?: number;
  frag?: number;
  tos?: number;
}

function ipv4(o: Ip4, payload: Uint8Array): Buffer {
  const ihl = o.ihl ?? 5;
  const h = Buffer.alloc(Math.max(20, ihl * 4));
  h[0] = 0x40 | ihl;
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(o.totalLen ?? h.length + payload.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h.writeUInt16BE(o.frag ?? 0x4000, 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  Buffer.from(o.src ?? [198, 18, 0, 1]).copy(h, 12);
  Buffer.from(o.dst ?? [198, 18, 0, 2]).copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

function ipv6(next: number, payload: Uint8Array, hop = 64, dstLast = 2): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = hop;
  Buffer.from("fd000000000000000000000000000001", "hex").copy(h, 8);
  Buffer.from("fd0000000000000000000000000000", "hex").copy(h, 24);
  h[38] = 0;
  h[39] = dstLast;
  return Buffer.concat([h, payload]);
}

function udp(sport: number, dport: number, payload: Uint8Array): Buffer {
  return Buffer.from([...u16(sport), ...u16(dport), ...u16(8 + payload.length), 0, 0, ...payload]);
}

/** flags: FIN 1, SYN 2, RST 4, PSH 8, ACK 16. */
function tcp(sport: number, dport: number, flags: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(1000, 4);
  h.writeUInt32BE(flags & 16 ? 2000 : 0, 8);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  return Buffer.concat([h, payload]);
}

function icmpEcho(type: number, payload: Uint8Array): Buffer {
  const h = Buffer.from([type, 0, 0, 0, 0, 1, 0, 7, ...payload]);
  h.writeUInt16BE(checksum(h), 2);
  return h;
}

function arp(op: number): Buffer {
  return Buffer.from([
    ...u16(1),
    ...u16(0x0800),
    6,
    4,
    ...u16(op),
    ...MAC_A,
    198,
    18,
    0,
    1,
    ...ZERO,
    198,
    18,
    0,
    2,
  ]);
}

const bytes = (n: number, seed = 1): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

export interface CorpusFrame {
  name: string;
  data: Buffer;
}

export function packetCorpus(): CorpusFrame[] {
  const f: CorpusFrame[] = [];
  const add = (name: string, data: Buffer): void => {
    f.push({ name, data });
  };
  add("ipv4-udp", eth(0x0800, ipv4({ proto: 17 }, udp(1234, 5678, bytes(18)))));
  add("ipv4-udp-dns", eth(0x0800, ipv4({ proto: 17, ttl: 9 }, udp(40000, 53, bytes(30)))));
  add("ipv4-udp-ttl1", eth(0x0800, ipv4({ proto: 17, ttl: 1 }, udp(1, 2, bytes(4)))));
  add("ipv4-tcp-syn-22", eth(0x0800, ipv4({ proto: 6 }, tcp(50000, 22, 2))));
  add("ipv4-tcp-syn-8080", eth(0x0800, ipv4({ proto: 6 }, tcp(50000, 8080, 2))));
  add("ipv4-tcp-synack-80", eth(0x0800, ipv4({ proto: 6, src: [198, 18, 1, 1] }, tcp(80, 50000, 18))));
  add("ipv4-tcp-ack-data", eth(0x0800, ipv4({ proto: 6 }, tcp(50000, 443, 24, bytes(100)))));
  add("ipv4-tcp-rst", eth(0x0800, ipv4({ proto: 6, dst: [198, 19, 255, 254] }, tcp(1, 2, 4))));
  add("ipv4-icmp-echo", eth(0x0800, ipv4({ proto: 1 }, icmpEcho(8, bytes(32)))));
  add("ipv4-icmp-reply", eth(0x0800, ipv4({ proto: 1 }, icmpEcho(0, bytes(8)))));
  add("ipv4-options", eth(0x0800, ipv4({ proto: 17, ihl: 6 }, udp(7, 9, bytes(8)))));
  add("ipv4-fragment", eth(0x0800, ipv4({ proto: 17, frag: 0x2001 }, udp(7, 9, bytes(8)))));
  add(
    "ipv4-broadcast",
    eth(0x0800, ipv4({ proto: 17, dst: [255, 255, 255, 255] }, udp(68, 67, bytes(40))), BCAST),
  );
  add("ipv4-other-proto", eth(0x0800, ipv4({ proto: 47 }, bytes(24))));
  add("ipv4-1500", eth(0x0800, ipv4({ proto: 17 }, udp(9, 9, bytes(1472)))));
  add("ipv6-udp", eth(0x86dd, ipv6(17, udp(1234, 53, bytes(20)))));
  add("ipv6-tcp-syn", eth(0x86dd, ipv6(6, tcp(40000, 22, 2))));
  add("ipv6-icmp", eth(0x86dd, ipv6(58, icmpEcho(128, bytes(16))), MCAST));
  add("ipv6-hop1", eth(0x86dd, ipv6(17, udp(1, 2, bytes(8)), 1)));
  add(
    "ipv6-outside-fd",
    (() => {
      const p = eth(0x86dd, ipv6(17, udp(1, 2, bytes(8))));
      p[38] = 0x20; // destination 2000::...
      return p;
    })(),
  );
  add("arp-request", eth(0x0806, arp(1), BCAST));
  add("arp-reply", eth(0x0806, arp(2)));
  add("vlan-ipv4-udp", eth(0x8100, vlan(100, 0x0800, ipv4({ proto: 17 }, udp(1000, 53, bytes(12))))));
  add("vlan-ipv6", eth(0x8100, vlan(0x2005, 0x86dd, ipv6(17, udp(1, 2, bytes(8))))));
  add("qinq-ipv4", eth(0x88a8, vlan(10, 0x8100, vlan(20, 0x0800, ipv4({ proto: 6 }, tcp(1, 80, 2))))));
  add("vlan-arp", eth(0x8100, vlan(7, 0x0806, arp(1)), BCAST));
  add("lldp", eth(0x88cc, bytes(40), [0x01, 0x80, 0xc2, 0, 0, 0x0e]));
  add("ieee8023-llc", eth(0x0026, Buffer.from([0x42, 0x42, 0x03, ...bytes(35)])));
  add("ieee8023-raw", eth(0x0030, Buffer.from([0xff, 0xff, ...bytes(30)])));
  add("zero-dst-mac", eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, bytes(8))), ZERO));
  add("eth-only", eth(0x0800, new Uint8Array(0)));
  add("eth-only-ipv6", eth(0x86dd, new Uint8Array(0)));
  add("ipv4-truncated-header", eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, bytes(8))).subarray(0, 12)));
  add("ipv4-truncated-udp", eth(0x0800, ipv4({ proto: 17 }, udp(1, 2, bytes(8))).subarray(0, 24)));
  add("ipv4-truncated-tcp", eth(0x0800, ipv4({ proto: 6 }, tcp(1, 2, 2)).subarray(0, 30)));
  add("ipv4-bad-ihl", eth(0x0800, ipv4({ proto: 17, ihl: 3 }, udp(1, 2, bytes(8)))));
  add("ipv4-ihl-past-end", eth(0x0800, ipv4({ proto: 17, ihl: 15 }, Buffer.alloc(0)).subarray(0, 24)));
  add("ipv4-length-lies", eth(0x0800, ipv4({ proto: 17, totalLen: 1400 }, udp(1, 2, bytes(8)))));
  add("ipv6-truncated", eth(0x86dd, ipv6(17, udp(1, 2, bytes(8))).subarray(0, 30)));
  add("vlan-truncated", eth(0x8100, Buffer.from([0, 100])));
  add("garbage-60", Buffer.from(bytes(60, 0xab)));
  return f;
}

/**
 * VLAN-tagged frames for the VLAN helpers: the first TCI byte (a program's selector) takes every
 * value 0..15; QinQ; tags around 802.3 length frames (raw and LLC); tags cut short.
 */
export function vlanFrames(): CorpusFrame[] {
  const f: CorpusFrame[] = [];
  const inner = ipv4({ proto: 17 }, udp(1000, 53, bytes(12)));
  for (let sel = 0; sel < 16; sel++) {
    f.push({ name: `vlan-sel-${sel}`, data: eth(0x8100, vlan((sel << 8) | 5, 0x0800, inner)) });
    f.push({
      name: `qinq-sel-${sel}`,
      data: eth(0x88a8, vlan((sel << 8) | 1, 0x8100, vlan(0x0203, 0x86dd, ipv6(17, udp(1, 2, bytes(8)))))),
    });
  }
  f.push({
    name: "triple-tag",
    data: eth(0x8100, vlan(0x0601, 0x8100, vlan(2, 0x88a8, vlan(3, 0x0800, inner)))),
  });
  f.push({
    name: "vlan-8023-raw",
    data: eth(0x8100, vlan(0x0609, 0x0030, Buffer.from([0xff, 0xff, ...bytes(30)]))),
  });
  f.push({
    name: "vlan-8023-llc",
    data: eth(0x8100, vlan(0x0609, 0x0030, Buffer.from([0x42, 0x42, ...bytes(30)]))),
  });
  f.push({ name: "vlan-18-bytes", data: eth(0x8100, Buffer.from([0x06, 0, 0x08, 0x06])) });
  f.push({ name: "vlan-17-bytes", data: eth(0x8100, Buffer.from([0x06, 0, 0x08])) });
  f.push({ name: "ad-untagged-inner", data: eth(0x88a8, vlan(0x0e00, 0x0806, arp(2))) });
  return f;
}

/** TCP SYNs with an MSS option (or none), IPv4 and IPv6: the SYN cookie helpers' inputs. */
export function synFrames(): CorpusFrame[] {
  const syn = (mss: number | undefined, sport: number): Buffer => {
    const h = tcp(sport, 80, 2);
    if (mss === undefined) return Buffer.concat([h, Buffer.alloc(4)]); // payload bytes, doff 5
    h[12] = 6 << 4;
    return Buffer.concat([h, Buffer.from([2, 4, ...u16(mss)])]);
  };
  const f: CorpusFrame[] = [];
  for (const mss of [undefined, 100, 536, 1300, 1440, 1460, 9000]) {
    f.push({ name: `syn4-mss-${mss ?? "none"}`, data: eth(0x0800, ipv4({ proto: 6 }, syn(mss, 41000))) });
    f.push({ name: `syn6-mss-${mss ?? "none"}`, data: eth(0x86dd, ipv6(6, syn(mss, 42000))) });
  }
  return f;
}
