// A corpus of varied frames for checking filters against tcpdump: Ethernet II and 802.3/LLC,
// 802.1Q and QinQ tags, ARP, IPv4 with and without options, fragments, TCP with every flag and
// with options, UDP, ICMP, IPv6 with extension headers, ICMPv6, multicast and broadcast, and
// frames cut short in the middle of a header. Addresses from 198.18.0.0/15 and fd00::/8. Every
// frame is different (tests find them again by their bytes).
import { checksum } from "../../helpers/packets.js";

export const MAC1 = "02:00:00:00:00:01";
export const MAC2 = "02:00:00:00:00:02";
export const BCAST = "ff:ff:ff:ff:ff:ff";

const mac = (s: string): Buffer => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));
const ip4 = (s: string): Buffer => Buffer.from(s.split(".").map(Number));

export function ip6(s: string): Buffer {
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const words = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
  return b;
}

export interface EthOpts {
  dst?: string;
  src?: string;
  /** 802.1Q tags, outermost first: [tpid, vid]. */
  tags?: [number, number][];
}

export function eth(type: number, payload: Uint8Array, o: EthOpts = {}): Buffer {
  const tags = (o.tags ?? []).map(([tpid, vid]) => {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(tpid, 0);
    t.writeUInt16BE(vid, 2);
    return t;
  });
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type, 0);
  return Buffer.concat([mac(o.dst ?? MAC2), mac(o.src ?? MAC1), ...tags, t, payload]);
}

export interface V4Opts {
  src?: string;
  dst?: string;
  proto?: number;
  ttl?: number;
  tos?: number;
  id?: number;
  /** Fragment offset in 8-byte units, and more-fragments. */
  frag?: number;
  mf?: boolean;
  df?: boolean;
  /** IP options (padded to 4 bytes). */
  options?: number[];
}

export function ipv4(payload: Uint8Array, o: V4Opts = {}): Buffer {
  const opts = Buffer.from(o.options ?? []);
  const optLen = (opts.length + 3) & ~3;
  const h = Buffer.alloc(20 + optLen);
  h[0] = 0x40 | ((20 + optLen) / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.frag ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto ?? 17;
  ip4(o.src ?? "198.18.0.1").copy(h, 12);
  ip4(o.dst ?? "198.18.0.2").copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function ipv6(
  payload: Uint8Array,
  o: { src?: string; dst?: string; next?: number; hlim?: number } = {},
): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = o.next ?? 17;
  h[7] = o.hlim ?? 64;
  ip6(o.src ?? "fd00::1").copy(h, 8);
  ip6(o.dst ?? "fd00::2").copy(h, 24);
  return Buffer.concat([h, payload]);
}

export const TCP = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32 } as const;

export function tcp(
  sport: number,
  dport: number,
  flags: number,
  payload: Uint8Array = Buffer.alloc(0),
  options: number[] = [],
): Buffer {
  const optLen = (options.length + 3) & ~3;
  const h = Buffer.alloc(20 + optLen);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(1000, 4);
  h.writeUInt32BE(flags & TCP.ACK ? 2000 : 0, 8);
  h[12] = ((20 + optLen) / 4) << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  Buffer.from(options).copy(h, 20);
  return Buffer.concat([h, payload]);
}

export function udp(sport: number, dport: number, payload: Uint8Array = Buffer.alloc(8)): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function icmp(
  type: number,
  code: number,
  rest = 0x00010001,
  data: Uint8Array = Buffer.alloc(16),
): Buffer {
  const m = Buffer.alloc(8);
  m[0] = type;
  m[1] = code;
  m.writeUInt32BE(rest >>> 0, 4);
  const all = Buffer.concat([m, data]);
  all.writeUInt16BE(checksum(all), 2);
  return all;
}

export function arp(op: number, spa: string, tpa: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  mac(MAC1).copy(a, 8);
  ip4(spa).copy(a, 14);
  ip4(tpa).copy(a, 24);
  return a;
}

const payload = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

/** The corpus, each frame with a short name (for failure messages). */
export function corpus(): { name: string; frame: Buffer }[] {
  const out: { name: string; frame: Buffer }[] = [];
  const add = (name: string, frame: Buffer) => out.push({ name, frame });
  const v4 = (name: string, l4: Buffer, o: V4Opts, e: EthOpts = {}) => add(name, eth(0x0800, ipv4(l4, o), e));
  const v6 = (name: string, l4: Buffer, o: Parameters<typeof ipv6>[1], e: EthOpts = {}) =>
    add(name, eth(0x86dd, ipv6(l4, o), e));

  v4("tcp syn 198.18.0.1:40000 > .2:80", tcp(40000, 80, TCP.SYN), { proto: 6 });
  v4("tcp syn-ack .2:80 > .1:40000", tcp(80, 40000, TCP.SYN | TCP.ACK), {
    proto: 6,
    src: "198.18.0.2",
    dst: "198.18.0.1",
  });
  v4("tcp ack+data to :80", tcp(40000, 80, TCP.ACK | TCP.PSH, payload(100, 1)), { proto: 6 });
  v4("tcp fin to :443", tcp(40001, 443, TCP.FIN | TCP.ACK), { proto: 6, dst: "198.18.1.9" });
  v4("tcp rst from :443", tcp(443, 40001, TCP.RST), { proto: 6, src: "198.18.1.9", dst: "198.18.0.1" });
  v4("tcp urg to :8080", tcp(1025, 8080, TCP.URG | TCP.ACK, payload(10, 2)), { proto: 6 });
  v4("tcp syn with options to :22", tcp(50000, 22, TCP.SYN, Buffer.alloc(0), [2, 4, 5, 0xb4, 1, 3, 3, 7]), {
    proto: 6,
  });
  v4("tcp in ip with options", tcp(40002, 80, TCP.ACK, payload(20, 3)), {
    proto: 6,
    options: [0x94, 4, 0, 0],
  });
  v4("tcp port 1500 portrange", tcp(1500, 2500, TCP.ACK), { proto: 6, ttl: 5 });
  v4("tcp high ports", tcp(65535, 65534, TCP.ACK), { proto: 6, ttl: 255, tos: 0x10 });
  v4("udp dns query", udp(33000, 53, payload(30, 4)), { proto: 17, dst: "198.18.0.53" });
  v4("udp dns answer", udp(53, 33000, payload(120, 5)), { proto: 17, src: "198.18.0.53", dst: "198.18.0.1" });
  v4("udp discard :9", udp(10000, 9), { proto: 17, dst: "198.19.0.1" });
  v4("udp big", udp(10001, 9000, payload(1400, 6)), { proto: 17, df: true });
  v4("udp tos 0", udp(10002, 9001, payload(4, 7)), { proto: 17, tos: 0 });
  v4("udp tos 4", udp(10005, 9004, payload(72, 26)), { proto: 17, tos: 4 });
  v4(
    "udp to multicast",
    udp(5353, 5353, payload(40, 8)),
    { proto: 17, dst: "224.0.0.251" },
    { dst: "01:00:5e:00:00:fb" },
  );
  v4(
    "udp to broadcast",
    udp(68, 67, payload(240, 9)),
    { proto: 17, src: "0.0.0.0", dst: "255.255.255.255" },
    { dst: BCAST },
  );
  v4("icmp echo request", icmp(8, 0), { proto: 1 });
  v4("icmp echo reply", icmp(0, 0), { proto: 1, src: "198.18.0.2", dst: "198.18.0.1" });
  v4("icmp unreachable", icmp(3, 3, 0, ipv4(udp(1, 2), {})), { proto: 1, src: "198.18.0.254" });
  v4("icmp time exceeded", icmp(11, 0, 0, payload(28, 10)), { proto: 1, ttl: 1 });
  v4("first fragment", udp(10003, 9002, payload(100, 11)), { proto: 17, mf: true, id: 7 });
  v4("later fragment", payload(80, 12), { proto: 17, frag: 13, id: 7 });
  v4("last fragment tcp", payload(40, 13), { proto: 6, frag: 100, id: 8 });
  v4("gre", payload(24, 14), { proto: 47 });
  v4("sctp-ish proto 132", payload(12, 15), { proto: 132 });
  v4("udp from other net", udp(2000, 3000), { proto: 17, src: "198.19.200.7", dst: "198.18.0.1" });
  v6("tcp6 syn to :80", tcp(40000, 80, TCP.SYN), { next: 6 });
  v6("tcp6 ack from :443", tcp(443, 40000, TCP.ACK, payload(50, 16)), {
    next: 6,
    src: "fd00:1::9",
    dst: "fd00::1",
  });
  v6("udp6 dns", udp(33001, 53, payload(32, 17)), { next: 17, dst: "fd00::53" });
  v6("udp6 other", udp(7000, 7001, payload(64, 18)), { next: 17, src: "fd00:2::1", dst: "fd00:3::1" });
  v6("icmp6 echo", Buffer.from([128, 0, 0, 0, 0, 1, 0, 1, ...payload(16, 19)]), { next: 58 });
  v6("icmp6 echo reply", Buffer.from([129, 0, 0, 0, 0, 1, 0, 1, ...payload(16, 20)]), {
    next: 58,
    src: "fd00::2",
    dst: "fd00::1",
  });
  v6(
    "icmp6 neighbour solicitation",
    Buffer.from([135, 0, 0, 0, 0, 0, 0, 0, ...ip6("fd00::2"), 1, 1, 2, 0, 0, 0, 0, 1]),
    { next: 58, dst: "ff02::1:ff00:2", hlim: 255 },
    { dst: "33:33:ff:00:00:02" },
  );
  v6(
    "ip6 hop-by-hop then tcp",
    Buffer.concat([Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]), tcp(40003, 80, TCP.SYN)]),
    { next: 0 },
  );
  v6("ip6 fragment header then udp", Buffer.concat([Buffer.from([17, 0, 0, 1, 0, 0, 0, 9]), udp(1, 53)]), {
    next: 44,
  });
  v6(
    "udp6 to multicast",
    udp(5353, 5353, payload(20, 21)),
    { next: 17, dst: "ff02::fb" },
    { dst: "33:33:00:00:00:fb" },
  );
  add("arp request", eth(0x0806, arp(1, "198.18.0.1", "198.18.0.2"), { dst: BCAST }));
  add("arp reply", eth(0x0806, arp(2, "198.18.0.2", "198.18.0.1")));
  add("vlan 10 tcp :80", eth(0x0800, ipv4(tcp(40004, 80, TCP.SYN), { proto: 6 }), { tags: [[0x8100, 10]] }));
  add("vlan 20 udp :53", eth(0x0800, ipv4(udp(33002, 53), { proto: 17 }), { tags: [[0x8100, 20]] }));
  add("vlan 10 prio 5 icmp", eth(0x0800, ipv4(icmp(8, 0), { proto: 1 }), { tags: [[0x8100, 0xa00a]] }));
  add("vlan 30 ipv6 udp", eth(0x86dd, ipv6(udp(4000, 4001), { next: 17 }), { tags: [[0x8100, 30]] }));
  add("vlan 10 arp", eth(0x0806, arp(1, "198.18.0.3", "198.18.0.4"), { dst: BCAST, tags: [[0x8100, 10]] }));
  add(
    "qinq 100/10 tcp",
    eth(0x0800, ipv4(tcp(40005, 80, TCP.ACK), { proto: 6 }), {
      tags: [
        [0x88a8, 100],
        [0x8100, 10],
      ],
    }),
  );
  add("lldp", eth(0x88cc, payload(46, 22), { dst: "01:80:c2:00:00:0e" }));
  add(
    "802.3 llc stp",
    Buffer.concat([
      mac("01:80:c2:00:00:00"),
      mac(MAC1),
      Buffer.from([0, 38, 0x42, 0x42, 0x03]),
      payload(35, 23),
    ]),
  );
  add("unknown ethertype", eth(0x1234, payload(50, 24)));
  // Cut short: headers that end early, so loads past the end must reject.
  add("ipv4 cut after 10 bytes", eth(0x0800, ipv4(tcp(1, 80, TCP.SYN), { proto: 6 }).subarray(0, 10)));
  add("tcp cut after ports", eth(0x0800, ipv4(tcp(40006, 80, TCP.SYN), { proto: 6 }).subarray(0, 24)));
  add("udp cut inside ports", eth(0x0800, ipv4(udp(53, 53), { proto: 17 }).subarray(0, 21)));
  add("ipv6 cut inside header", eth(0x86dd, ipv6(udp(1, 2), { next: 17 }).subarray(0, 30)));
  add("ethernet header only", eth(0x0800, Buffer.alloc(0)));
  add("runt 13 bytes", eth(0x0800, Buffer.alloc(0)).subarray(0, 13));
  add("vlan tag then nothing", eth(0x0800, Buffer.alloc(0), { tags: [[0x8100, 10]] }));
  v4("ip header length 4 (bogus)", tcp(1, 2, 0), { proto: 6 });
  out[out.length - 1].frame[14] = 0x44;
  v4("jumbo-ish udp 3000", udp(10004, 9003, payload(2950, 25)), { proto: 17 });
  return out;
}
