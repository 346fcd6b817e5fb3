// The router control plane's own packet and address code, without a kernel: address text both
// ways, prefixes, derived addresses, and the frames it sends (checked against independently
// built frames and checksums).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  formatIpv6,
  linkLocalFromMac,
  multicastMac6,
  parseIfAddr,
  parseIpv6,
  parsePrefix,
  formatPrefix,
  solicitedNode,
} from "../../../nf/router/cp/addr.js";
import {
  arpRequest,
  hostUnreachable,
  inetChecksum,
  mayReplyWithError,
  neighSolicit,
  parseNeighAdvert,
} from "../../../nf/router/cp/frames.js";
import { checksum } from "../../helpers/packets.js";
import {
  arp,
  eth,
  icmp4,
  icmp6ChecksumOk,
  ip4,
  ip6,
  ipv4,
  ipv4ChecksumsOk,
  ipv6,
  mac,
  naFrame,
  udpPayload,
} from "./support.js";

describe("router addresses", () => {
  test("IPv6 text both ways (RFC 5952 output)", () => {
    const cases: [string, string][] = [
      ["fd00:1::fe", "fd00:1::fe"],
      ["FD00:0001:0000:0000:0000:0000:0000:00FE", "fd00:1::fe"],
      ["::", "::"],
      ["::1", "::1"],
      ["fd00::1:0:0:1", "fd00::1:0:0:1"],
      ["fd00:0:0:1:0:0:0:1", "fd00:0:0:1::1"],
      ["::ffff:198.18.0.1", "::ffff:c612:1"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ];
    for (const [text, canonical] of cases) {
      const b = parseIpv6(text);
      assert.ok(b, text);
      assert.equal(formatIpv6(b), canonical, text);
    }
    for (const bad of ["1:2:3:4:5:6:7:8:9", "fd00::1::2", "fd00:12345::1", "198.18.0.1", "g::1", "1:2:3"])
      assert.equal(parseIpv6(bad), undefined, bad);
  });

  test("prefixes: canonical form, host bits refused, default routes", () => {
    assert.equal(formatPrefix(parsePrefix("fd00:0099:0000::/48")), "fd00:99::/48");
    assert.equal(formatPrefix(parsePrefix("default")), "0.0.0.0/0");
    assert.equal(formatPrefix(parsePrefix("::/0")), "::/0");
    assert.equal(formatPrefix(parsePrefix("198.18.2.7")), "198.18.2.7/32", "a bare address is a host route");
    assert.throws(() => parsePrefix("198.18.2.7/24"), /did you mean 198\.18\.2\.0\/24/);
    assert.throws(() => parsePrefix("fd00::1/64"), /did you mean fd00::\/64/);
    assert.throws(() => parsePrefix("fd00::/129"), /more than 128/);
  });

  test("port addresses: a prefix length, not the network or broadcast address", () => {
    assert.deepEqual(parseIfAddr("198.18.1.254/24"), { family: 4, addr: ip4("198.18.1.254"), plen: 24 });
    assert.throws(() => parseIfAddr("198.18.1.254"), /needs a prefix length/);
    assert.throws(() => parseIfAddr("198.18.1.0/24"), /network address/);
    assert.throws(() => parseIfAddr("198.18.1.255/24"), /broadcast address/);
    assert.deepEqual(parseIfAddr("198.18.1.0/31").plen, 31, "point-to-point /31s have no broadcast");
    assert.throws(() => parseIfAddr("224.0.0.1/4"), /cannot be a port address/);
  });

  test("derived addresses: EUI-64 link-local, solicited-node group and its MAC", () => {
    assert.deepEqual(linkLocalFromMac(mac("02:00:00:00:01:fe")), ip6("fe80::ff:fe00:1fe"));
    assert.deepEqual(linkLocalFromMac(mac("52:54:00:12:34:56")), ip6("fe80::5054:ff:fe12:3456"));
    assert.deepEqual(solicitedNode(ip6("fd00:2::1:2345:6789")), ip6("ff02::1:ff45:6789"));
    assert.deepEqual(multicastMac6(ip6("ff02::1:ff45:6789")), mac("33:33:ff:45:67:89"));
  });
});

describe("router control-plane frames", () => {
  test("ARP request: broadcast, or unicast to a known MAC for a probe", () => {
    const want = eth(
      "ff:ff:ff:ff:ff:ff",
      "02:00:00:00:02:fe",
      0x0806,
      arp(1, "02:00:00:00:02:fe", "198.18.2.254", "00:00:00:00:00:00", "198.18.2.7"),
    );
    assert.deepEqual(arpRequest(mac("02:00:00:00:02:fe"), ip4("198.18.2.254"), ip4("198.18.2.7")), want);
    const probe = arpRequest(
      mac("02:00:00:00:02:fe"),
      ip4("198.18.2.254"),
      ip4("198.18.2.7"),
      mac("02:00:00:00:0c:07"),
    );
    assert.deepEqual(probe.subarray(0, 6), mac("02:00:00:00:0c:07"));
  });

  test("neighbour solicitation: solicited-node group, hop limit 255, our link-layer address, checksum", () => {
    const f = neighSolicit(mac("02:00:00:00:02:fe"), ip6("fd00:2::fe"), ip6("fd00:2::7"));
    assert.deepEqual(
      f.subarray(0, 14),
      eth("33:33:ff:00:00:07", "02:00:00:00:02:fe", 0x86dd, Buffer.alloc(0)),
    );
    const ip = f.subarray(14);
    assert.equal(ip[7], 255);
    assert.deepEqual(ip.subarray(24, 40), ip6("ff02::1:ff00:7"));
    assert.equal(ip[40], 135);
    assert.deepEqual(ip.subarray(48, 64), ip6("fd00:2::7"));
    assert.deepEqual(ip.subarray(64, 72), Buffer.concat([Buffer.from([1, 1]), mac("02:00:00:00:02:fe")]));
    assert.ok(icmp6ChecksumOk(ip));
    const uni = neighSolicit(
      mac("02:00:00:00:02:fe"),
      ip6("fd00:2::fe"),
      ip6("fd00:2::7"),
      mac("02:00:00:00:0c:07"),
    );
    assert.deepEqual(uni.subarray(14 + 24, 14 + 40), ip6("fd00:2::7"), "a probe goes to the address itself");
    assert.ok(icmp6ChecksumOk(uni.subarray(14)));
  });

  test("host unreachable: back to the sender's MAC, quoting the packet, checksums right", () => {
    const orig = ipv4({ src: "198.18.1.1", dst: "198.18.2.9", ttl: 63 }, udpPayload(700));
    const f = hostUnreachable(
      eth("02:00:00:00:01:fe", "02:00:00:00:01:01", 0x0800, orig),
      mac("02:00:00:00:01:fe"),
      ip4("198.18.1.254"),
    );
    assert.ok(f);
    assert.deepEqual(f.subarray(0, 12), Buffer.concat([mac("02:00:00:00:01:01"), mac("02:00:00:00:01:fe")]));
    const ip = f.subarray(14);
    assert.ok(ipv4ChecksumsOk(ip));
    assert.equal(ip.readUInt16BE(2), 576, "at most 576 bytes");
    assert.deepEqual(ip.subarray(28), orig.subarray(0, 548));

    const orig6 = ipv6({ src: "fd00:1::1", dst: "fd00:2::9" }, udpPayload(40));
    const f6 = hostUnreachable(
      eth("02:00:00:00:01:fe", "02:00:00:00:01:01", 0x86dd, orig6),
      mac("02:00:00:00:01:fe"),
      ip6("fd00:1::fe"),
    );
    assert.ok(f6);
    assert.deepEqual([f6[54], f6[55]], [1, 3], "address unreachable");
    assert.ok(icmp6ChecksumOk(f6.subarray(14)));
    assert.deepEqual(f6.subarray(62), orig6);
  });

  test("no error about errors, broadcasts or bad sources", () => {
    const frame = (o: Parameters<typeof ipv4>[0], p: Buffer) =>
      eth("02:00:00:00:01:fe", "02:00:00:00:01:01", 0x0800, ipv4(o, p));
    assert.equal(mayReplyWithError(frame({ src: "198.18.1.1", dst: "198.18.2.9" }, udpPayload(8))), true);
    assert.equal(
      mayReplyWithError(
        frame({ src: "198.18.1.1", dst: "198.18.2.9", proto: 1 }, icmp4(8, 0, 0, Buffer.alloc(8))),
      ),
      true,
      "echo request",
    );
    assert.equal(
      mayReplyWithError(
        frame({ src: "198.18.1.1", dst: "198.18.2.9", proto: 1 }, icmp4(3, 1, 0, Buffer.alloc(28))),
      ),
      false,
      "an error",
    );
    assert.equal(mayReplyWithError(frame({ src: "0.0.0.0", dst: "198.18.2.9" }, udpPayload(8))), false);
    assert.equal(mayReplyWithError(frame({ src: "224.0.0.5", dst: "198.18.2.9" }, udpPayload(8))), false);
  });

  test("reads ARP replies, announcements and neighbour advertisements", () => {
    const reply = parseNeighAdvert(
      eth(
        "02:00:00:00:02:fe",
        "02:00:00:00:0c:07",
        0x0806,
        arp(2, "02:00:00:00:0c:07", "198.18.2.7", "02:00:00:00:02:fe", "198.18.2.254"),
      ),
    );
    assert.deepEqual(reply, {
      family: 4,
      addr: ip4("198.18.2.7"),
      mac: mac("02:00:00:00:0c:07"),
      override: true,
      solicited: true,
    });
    const na = parseNeighAdvert(naFrame("02:00:00:00:0c:07", "fd00:2::7", "02:00:00:00:02:fe", "fd00:2::fe"));
    assert.deepEqual(na, {
      family: 6,
      addr: ip6("fd00:2::7"),
      mac: mac("02:00:00:00:0c:07"),
      override: true,
      solicited: true,
    });
  });

  test("checksum agrees with an independent implementation, odd lengths included", () => {
    for (const n of [0, 1, 2, 3, 19, 20, 1023]) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));
      assert.equal(inetChecksum(b), checksum(b), `${n} bytes`);
      for (const cut of [0, 1, n >> 1, n])
        assert.equal(
          inetChecksum(b.subarray(0, cut), b.subarray(cut)),
          checksum(b),
          `${n} bytes cut at ${cut}`,
        );
    }
  });
});
