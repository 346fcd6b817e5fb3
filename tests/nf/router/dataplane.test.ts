// The router's data plane, run alone with BPF_PROG_TEST_RUN in both hooks, configured by its own
// control plane: forwarding with TTL / hop limit and checksums checked byte by byte, longest-prefix
// match, ARP and neighbour-discovery answers, echo replies, and the ICMP errors it builds itself.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { Drop } from "../../../nf/router/cp/abi.js";
import {
  MAC_H1,
  MAC_H2,
  MAC_P0,
  MAC_P1,
  arp,
  eth,
  icmp4,
  icmp6,
  icmp6ChecksumOk,
  ip6,
  ipv4,
  ipv4ChecksumsOk,
  ipv6,
  mac,
  nsFrame,
  openRig,
  port,
  udpPayload,
  type Rig,
} from "./support.js";

const ETH_IP = 0x0800;
const ETH_IP6 = 0x86dd;
const ETH_ARP = 0x0806;

/** The parts of an ICMPv4 error that do not vary (the IP id is random). */
function assertIcmp4Error(
  out: Buffer,
  o: {
    toMac: string;
    fromMac: string;
    from: string;
    to: string;
    type: number;
    code: number;
    rest?: number;
    quote: Buffer;
  },
) {
  assert.deepEqual(
    out.subarray(0, 14),
    eth(o.toMac, o.fromMac, ETH_IP, Buffer.alloc(0)),
    "Ethernet header back to the sender",
  );
  const ip = out.subarray(14);
  assert.equal(ip[0], 0x45);
  assert.equal(ip[1], 0xc0, "TOS internetwork control, like Linux");
  assert.equal(ip.readUInt16BE(2), 20 + 8 + o.quote.length, "total length");
  assert.equal(out.length, 14 + 20 + 8 + o.quote.length, "frame cut to the message");
  assert.equal(ip[8], 64, "TTL");
  assert.equal(ip[9], 1, "protocol ICMP");
  assert.deepEqual([...ip.subarray(12, 16)].join("."), o.from);
  assert.deepEqual([...ip.subarray(16, 20)].join("."), o.to);
  assert.equal(ip[20], o.type, "ICMP type");
  assert.equal(ip[21], o.code, "ICMP code");
  assert.equal(ip.readUInt32BE(24), o.rest ?? 0);
  assert.deepEqual(ip.subarray(28), o.quote, "quotes the original packet");
  assert.ok(ipv4ChecksumsOk(ip), "IP and ICMP checksums");
}

function assertIcmp6Error(
  out: Buffer,
  o: {
    toMac: string;
    fromMac: string;
    from: string;
    to: string;
    type: number;
    code: number;
    rest?: number;
    quote: Buffer;
  },
) {
  assert.deepEqual(out.subarray(0, 14), eth(o.toMac, o.fromMac, ETH_IP6, Buffer.alloc(0)));
  const ip = out.subarray(14);
  assert.equal(ip.readUInt32BE(0), 0x60000000);
  assert.equal(ip.readUInt16BE(4), 8 + o.quote.length, "payload length");
  assert.equal(out.length, 14 + 40 + 8 + o.quote.length);
  assert.equal(ip[6], 58);
  assert.equal(ip[7], 64, "hop limit");
  assert.deepEqual(ip.subarray(8, 24), ip6(o.from));
  assert.deepEqual(ip.subarray(24, 40), ip6(o.to));
  assert.equal(ip[40], o.type);
  assert.equal(ip[41], o.code);
  assert.equal(ip.readUInt32BE(44), o.rest ?? 0);
  assert.deepEqual(ip.subarray(48), o.quote);
  assert.ok(icmp6ChecksumOk(ip), "ICMPv6 checksum over the pseudo-header");
}

for (const hook of ["xdp", "tc"] as const) {
  const REDIRECT = hook === "xdp" ? XdpAction.REDIRECT : TcAction.REDIRECT;
  const DROP = hook === "xdp" ? XdpAction.DROP : TcAction.SHOT;

  describe(`router data plane (${hook})`, () => {
    let rig: Rig;
    before(async () => {
      rig = await openRig(hook, {
        ports: [
          port("p0", 0, { ipv4: ["198.18.1.254/24"], ipv6: ["fd00:1::fe/64"], mac: MAC_P0 }),
          port("p1", 1, { ipv4: ["198.18.2.254/24"], ipv6: ["fd00:2::fe/64"], mac: MAC_P1, mtu: 1000 }),
        ],
      });
      rig.router.neighAdd({ address: "198.18.2.1", mac: MAC_H2 });
      rig.router.neighAdd({ address: "fd00:2::1", mac: MAC_H2 });
    });
    after(() => rig.close());

    test("forwards IPv4: TTL down by one, checksum updated, MACs rewritten, out of the route's port", () => {
      const payload = udpPayload(200);
      const frame = eth(
        MAC_P0,
        MAC_H1,
        ETH_IP,
        ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: 64 }, payload),
      );
      const r = rig.t.run(frame, 0);
      assert.equal(r.retval, REDIRECT);
      assert.deepEqual(r.txPorts, [1]);
      assert.deepEqual(r.drops, []);
      assert.deepEqual(
        r.data,
        eth(MAC_H2, MAC_P1, ETH_IP, ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: 63 }, payload)),
      );
      // Every TTL, so the incremental checksum update is checked across carries.
      for (const ttl of [2, 3, 128, 255]) {
        const f = eth(
          MAC_P0,
          MAC_H1,
          ETH_IP,
          ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl, id: ttl * 257 }, payload),
        );
        const want = eth(
          MAC_H2,
          MAC_P1,
          ETH_IP,
          ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: ttl - 1, id: ttl * 257 }, payload),
        );
        assert.deepEqual(rig.t.run(f, 0).data, want, `ttl ${ttl}`);
      }
    });

    test("forwards IPv6: hop limit down by one, MACs rewritten", () => {
      const payload = udpPayload(100);
      const frame = eth(
        MAC_P0,
        MAC_H1,
        ETH_IP6,
        ipv6({ src: "fd00:1::1", dst: "fd00:2::1", hlim: 64 }, payload),
      );
      const r = rig.t.run(frame, 0);
      assert.equal(r.retval, REDIRECT);
      assert.deepEqual(r.txPorts, [1]);
      assert.deepEqual(
        r.data,
        eth(MAC_H2, MAC_P1, ETH_IP6, ipv6({ src: "fd00:1::1", dst: "fd00:2::1", hlim: 63 }, payload)),
      );
    });

    test("takes the longest matching prefix among overlapping routes", () => {
      const hops: [string, number, string][] = [
        ["198.18.2.10", 1, "02:00:00:00:0a:01"],
        ["198.18.1.10", 0, "02:00:00:00:0a:02"],
        ["198.18.2.20", 1, "02:00:00:00:0a:03"],
        ["198.18.1.20", 0, "02:00:00:00:0a:04"],
      ];
      for (const [address, , m] of hops) rig.router.neighAdd({ address, mac: m });
      rig.router.routeAdd({ prefix: "0.0.0.0/0", via: "198.18.1.20" });
      rig.router.routeAdd({ prefix: "198.19.0.0/16", via: "198.18.2.10" });
      rig.router.routeAdd({ prefix: "198.19.5.0/24", via: "198.18.1.10" });
      rig.router.routeAdd({ prefix: "198.19.5.128/25", via: "198.18.2.20" });
      const cases: [string, number][] = [
        ["198.19.7.1", 0],
        ["198.19.5.1", 1],
        ["198.19.5.127", 1],
        ["198.19.5.128", 2],
        ["198.19.5.255", 2],
        ["198.20.0.1", 3],
      ];
      for (const [dst, hop] of cases) {
        const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, ipv4({ src: "198.18.1.1", dst }, udpPayload(8))), 0);
        assert.equal(r.retval, REDIRECT, dst);
        assert.deepEqual(r.txPorts, [hops[hop][1]], `${dst} leaves through the port of ${hops[hop][0]}`);
        assert.deepEqual(r.data.subarray(0, 6), mac(hops[hop][2]), `${dst} goes to ${hops[hop][0]}`);
      }
      rig.router.routeDelete({ prefix: "0.0.0.0/0" });

      for (const [address, m] of [
        ["fd00:2::10", "02:00:00:00:0b:01"],
        ["fd00:1::10", "02:00:00:00:0b:02"],
      ])
        rig.router.neighAdd({ address, mac: m });
      rig.router.routeAdd({ prefix: "fd00:99::/32", via: "fd00:2::10" });
      rig.router.routeAdd({ prefix: "fd00:99:5::/48", via: "fd00:1::10" });
      for (const [dst, m, p] of [
        ["fd00:99:6::1", "02:00:00:00:0b:01", 1],
        ["fd00:99:5::1", "02:00:00:00:0b:02", 0],
      ] as const) {
        const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, ipv6({ src: "fd00:1::1", dst }, udpPayload(8))), 0);
        assert.deepEqual(r.txPorts, [p], dst);
        assert.deepEqual(r.data.subarray(0, 6), mac(m), dst);
      }
    });

    test("answers ARP requests for its address on that port, and learns the asker", () => {
      const req = eth(
        "ff:ff:ff:ff:ff:ff",
        MAC_H1,
        ETH_ARP,
        arp(1, MAC_H1, "198.18.1.1", "00:00:00:00:00:00", "198.18.1.254"),
      );
      const r = rig.t.run(req, 0);
      assert.equal(r.retval, REDIRECT);
      assert.deepEqual(r.txPorts, [0]);
      assert.deepEqual(
        r.data,
        eth(MAC_H1, MAC_P0, ETH_ARP, arp(2, MAC_P0, "198.18.1.254", MAC_H1, "198.18.1.1")),
      );
      const learned = rig.router.neighList().find((n) => n.address === "198.18.1.1");
      assert.deepEqual(
        { ...learned, age: undefined },
        { address: "198.18.1.1", port: "p0", mac: MAC_H1, state: "reachable", age: undefined },
      );

      // Not for the other port's address, and not for other hosts.
      const other = eth(
        "ff:ff:ff:ff:ff:ff",
        MAC_H1,
        ETH_ARP,
        arp(1, MAC_H1, "198.18.1.1", "00:00:00:00:00:00", "198.18.2.254"),
      );
      assert.deepEqual(rig.t.run(other, 0).drops, [Drop.NOT_FOR_ROUTER]);
      const someone = eth(
        "ff:ff:ff:ff:ff:ff",
        MAC_H1,
        ETH_ARP,
        arp(1, MAC_H1, "198.18.1.1", "00:00:00:00:00:00", "198.18.1.7"),
      );
      const rs = rig.t.run(someone, 0);
      assert.equal(rs.retval, DROP);
      assert.deepEqual(rs.drops, [Drop.NOT_FOR_ROUTER]);
    });

    test("answers echo requests to any of its addresses, checksums right", () => {
      const data = Buffer.from("plexus router echo payload 0123456789");
      for (const target of ["198.18.1.254", "198.18.2.254"]) {
        const req = eth(
          MAC_P0,
          MAC_H1,
          ETH_IP,
          ipv4({ src: "198.18.1.1", dst: target, ttl: 50, proto: 1, id: 7 }, icmp4(8, 0, 0x4d2_0001, data)),
        );
        const r = rig.t.run(req, 0);
        assert.equal(r.retval, REDIRECT);
        assert.deepEqual(r.txPorts, [0], "back out of the port it came in");
        const want = eth(
          MAC_H1,
          MAC_P0,
          ETH_IP,
          ipv4({ src: target, dst: "198.18.1.1", ttl: 64, proto: 1, id: 7 }, icmp4(0, 0, 0x4d2_0001, data)),
        );
        assert.deepEqual(r.data, want, target);
        assert.ok(ipv4ChecksumsOk(r.data.subarray(14)));
      }
      const req6 = eth(
        MAC_P0,
        MAC_H1,
        ETH_IP6,
        ipv6(
          { src: "fd00:1::1", dst: "fd00:2::fe", hlim: 50, next: 58 },
          icmp6("fd00:1::1", "fd00:2::fe", 128, 0, Buffer.concat([Buffer.from([0, 7, 0, 1]), data])),
        ),
      );
      const r6 = rig.t.run(req6, 0);
      assert.equal(r6.retval, REDIRECT);
      const want6 = eth(
        MAC_H1,
        MAC_P0,
        ETH_IP6,
        ipv6(
          { src: "fd00:2::fe", dst: "fd00:1::1", hlim: 64, next: 58 },
          icmp6("fd00:2::fe", "fd00:1::1", 129, 0, Buffer.concat([Buffer.from([0, 7, 0, 1]), data])),
        ),
      );
      assert.deepEqual(r6.data, want6);
      assert.ok(icmp6ChecksumOk(r6.data.subarray(14)));
    });

    test("answers neighbour solicitations for its addresses with advertisements, and learns the asker", () => {
      for (const target of ["fd00:1::fe", "fe80::ff:fe00:1fe"]) {
        const r = rig.t.run(nsFrame(MAC_H1, "fd00:1::1", target), 0);
        assert.equal(r.retval, REDIRECT, target);
        assert.deepEqual(r.txPorts, [0]);
        const body = Buffer.concat([
          Buffer.from([0xe0, 0, 0, 0]),
          ip6(target),
          Buffer.from([2, 1]),
          mac(MAC_P0),
        ]);
        const want = eth(
          MAC_H1,
          MAC_P0,
          ETH_IP6,
          ipv6(
            { src: target, dst: "fd00:1::1", hlim: 255, next: 58 },
            icmp6(target, "fd00:1::1", 136, 0, body),
          ),
        );
        assert.deepEqual(r.data, want, target);
      }
      const learned = rig.router.neighList().find((n) => n.address === "fd00:1::1");
      assert.equal(learned?.mac, MAC_H1);
      assert.equal(learned?.port, "p0");

      const bad = nsFrame(MAC_H1, "fd00:1::1", "fd00:1::fe");
      bad[14 + 40 + 2] ^= 0xff; // checksum
      assert.deepEqual(rig.t.run(bad, 0).drops, [Drop.MALFORMED]);
      assert.deepEqual(rig.t.run(nsFrame(MAC_H1, "fd00:1::1", "fd00:1::77"), 0).drops, [Drop.NOT_FOR_ROUTER]);
    });

    test("TTL 1: ICMP time exceeded from the ingress port's address, quoting the packet", () => {
      const orig = ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: 1 }, udpPayload(22));
      const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, orig), 0);
      assert.equal(r.retval, REDIRECT);
      assert.deepEqual(r.txPorts, [0]);
      assert.deepEqual(r.drops, [Drop.TTL]);
      assertIcmp4Error(r.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "198.18.1.254",
        to: "198.18.1.1",
        type: 11,
        code: 0,
        quote: orig,
      });

      // A large packet is quoted up to 576 bytes of error (RFC 1812).
      const big = ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: 1 }, udpPayload(1300));
      const rb = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, big), 0);
      assertIcmp4Error(rb.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "198.18.1.254",
        to: "198.18.1.1",
        type: 11,
        code: 0,
        quote: big.subarray(0, 548),
      });
    });

    test("hop limit 1: ICMPv6 time exceeded, quoting up to 1280 bytes", () => {
      const orig = ipv6({ src: "fd00:1::1", dst: "fd00:2::1", hlim: 1 }, udpPayload(30));
      const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, orig), 0);
      assert.equal(r.retval, REDIRECT);
      assert.deepEqual(r.drops, [Drop.TTL]);
      assertIcmp6Error(r.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "fd00:1::fe",
        to: "fd00:1::1",
        type: 3,
        code: 0,
        quote: orig,
      });
      const big = ipv6({ src: "fd00:1::1", dst: "fd00:2::1", hlim: 1 }, udpPayload(1400));
      const rb = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, big), 0);
      assertIcmp6Error(rb.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "fd00:1::fe",
        to: "fd00:1::1",
        type: 3,
        code: 0,
        quote: big.subarray(0, 1232),
      });
    });

    test("no route: ICMP net unreachable / ICMPv6 no route", () => {
      const orig = ipv4({ src: "198.18.1.1", dst: "198.18.200.1" }, udpPayload(10));
      const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, orig), 0);
      assert.deepEqual(r.drops, [Drop.NO_ROUTE]);
      assertIcmp4Error(r.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "198.18.1.254",
        to: "198.18.1.1",
        type: 3,
        code: 0,
        quote: orig,
      });
      const orig6 = ipv6({ src: "fd00:1::1", dst: "fd00:dead::1" }, udpPayload(10));
      const r6 = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, orig6), 0);
      assert.deepEqual(r6.drops, [Drop.NO_ROUTE]);
      assertIcmp6Error(r6.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "fd00:1::fe",
        to: "fd00:1::1",
        type: 1,
        code: 0,
        quote: orig6,
      });
    });

    test("reject routes: unreachable and prohibit answer, blackhole drops silently", () => {
      rig.router.routeAdd({ prefix: "198.19.9.0/24", type: "unreachable" });
      rig.router.routeAdd({ prefix: "198.19.10.0/24", type: "prohibit" });
      rig.router.routeAdd({ prefix: "198.19.11.0/24", type: "blackhole" });
      for (const [dst, code] of [
        ["198.19.9.1", 1],
        ["198.19.10.1", 13],
      ] as const) {
        const orig = ipv4({ src: "198.18.1.1", dst }, udpPayload(10));
        const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, orig), 0);
        assert.deepEqual(r.drops, [Drop.REJECT]);
        assertIcmp4Error(r.data, {
          toMac: MAC_H1,
          fromMac: MAC_P0,
          from: "198.18.1.254",
          to: "198.18.1.1",
          type: 3,
          code,
          quote: orig,
        });
      }
      const r = rig.t.run(
        eth(MAC_P0, MAC_H1, ETH_IP, ipv4({ src: "198.18.1.1", dst: "198.19.11.1" }, udpPayload(10))),
        0,
      );
      assert.equal(r.retval, DROP);
      assert.deepEqual(r.drops, [Drop.REJECT]);
      assert.deepEqual(r.txPorts, []);
    });

    test("UDP to the router: port unreachable from the address asked, like a host", () => {
      const orig = ipv4({ src: "198.18.1.1", dst: "198.18.2.254" }, udpPayload(10));
      const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, orig), 0);
      assert.deepEqual(r.drops, [Drop.LOCAL]);
      assertIcmp4Error(r.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "198.18.2.254",
        to: "198.18.1.1",
        type: 3,
        code: 3,
        quote: orig,
      });
      const orig6 = ipv6({ src: "fd00:1::1", dst: "fd00:2::fe" }, udpPayload(10));
      const r6 = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, orig6), 0);
      assertIcmp6Error(r6.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "fd00:2::fe",
        to: "fd00:1::1",
        type: 1,
        code: 4,
        quote: orig6,
      });
      const tcp = ipv4({ src: "198.18.1.1", dst: "198.18.1.254", proto: 6 }, Buffer.alloc(20));
      assert.deepEqual(rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, tcp), 0).drops, [Drop.LOCAL]);
    });

    test("larger than the egress MTU: fragmentation needed / packet too big", () => {
      const df = ipv4({ src: "198.18.1.1", dst: "198.18.2.1", df: true }, udpPayload(1100));
      const r = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, df), 0);
      assert.deepEqual(r.drops, [Drop.TOO_BIG]);
      assertIcmp4Error(r.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "198.18.1.254",
        to: "198.18.1.1",
        type: 3,
        code: 4,
        rest: 1000,
        quote: df.subarray(0, 548),
      });
      const noDf = ipv4({ src: "198.18.1.1", dst: "198.18.2.1" }, udpPayload(1100));
      const rn = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, noDf), 0);
      assert.equal(rn.retval, DROP);
      assert.deepEqual(rn.drops, [Drop.TOO_BIG]);
      const v6 = ipv6({ src: "fd00:1::1", dst: "fd00:2::1" }, udpPayload(1000));
      const r6 = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, v6), 0);
      assertIcmp6Error(r6.data, {
        toMac: MAC_H1,
        fromMac: MAC_P0,
        from: "fd00:1::fe",
        to: "fd00:1::1",
        type: 2,
        code: 0,
        rest: 1000,
        quote: v6,
      });
      // Exactly the MTU passes.
      const fits = ipv4({ src: "198.18.1.1", dst: "198.18.2.1", df: true }, udpPayload(1000 - 28));
      assert.equal(rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, fits), 0).retval, REDIRECT);
    });

    test("drops what is not its to route, with the reason", () => {
      const good = ipv4({ src: "198.18.1.1", dst: "198.18.2.1" }, udpPayload(10));
      assert.deepEqual(rig.t.run(eth("02:00:00:00:09:09", MAC_H1, ETH_IP, good), 0).drops, [
        Drop.NOT_FOR_ROUTER,
      ]);
      const bad = Buffer.from(good);
      bad[10] ^= 0x01;
      assert.deepEqual(rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, bad), 0).drops, [Drop.MALFORMED]);
      const short = eth(MAC_P0, MAC_H1, ETH_IP, good.subarray(0, 30));
      assert.deepEqual(rig.t.run(short, 0).drops, [Drop.MALFORMED]);
      assert.deepEqual(
        rig.t.run(
          eth(MAC_P0, MAC_H1, ETH_IP, ipv4({ src: "198.18.1.1", dst: "198.18.2.255" }, udpPayload(10))),
          0,
        ).drops,
        [Drop.NOT_ROUTABLE],
        "subnet broadcast",
      );
      assert.deepEqual(
        rig.t.run(
          eth(
            "01:00:5e:00:00:01",
            MAC_H1,
            ETH_IP,
            ipv4({ src: "198.18.1.1", dst: "224.0.0.1" }, udpPayload(10)),
          ),
          0,
        ).drops,
        [Drop.NOT_ROUTABLE],
        "multicast",
      );
      assert.deepEqual(rig.t.run(eth(MAC_P0, MAC_H1, 0x88cc, Buffer.alloc(46)), 0).drops, [Drop.PROTO]);
      assert.deepEqual(
        rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP6, ipv6({ src: "fd00:1::1", dst: "fe80::5" }, udpPayload(10))), 0)
          .drops,
        [Drop.NOT_ROUTABLE],
        "link-local",
      );
      assert.deepEqual(
        rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, good), 5).drops,
        [Drop.NO_PORT],
        "a port not set up",
      );
      // No ICMP error about an ICMP error.
      const err = ipv4(
        { src: "198.18.1.1", dst: "198.18.2.1", ttl: 1, proto: 1 },
        icmp4(3, 1, 0, Buffer.alloc(28)),
      );
      const re = rig.t.run(eth(MAC_P0, MAC_H1, ETH_IP, err), 0);
      assert.equal(re.retval, DROP);
      assert.deepEqual(re.drops, [Drop.TTL]);
    });
  });
}
