// The generator's frame builder (no kernel): headers, checksums, flow order, spec checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildFrame, checkSpec, flowOf, genConfig, onesSum, type FrameSpec } from "../../bench/rig/frames.js";
import { checksum } from "../helpers/packets.js";

const spec = (over: Partial<FrameSpec> = {}): FrameSpec => ({
  size: 64,
  srcMac: "02:00:00:00:00:01",
  dstMac: "02:00:00:00:00:02",
  src: "198.18.1.1",
  dst: "198.19.0.1",
  sport: 10000,
  dport: 9,
  ttl: 64,
  epoch: 7,
  flows: { srcAddrs: 1, srcPorts: 1, dstAddrs: 1 },
  ...over,
});

/** UDP checksum over pseudo-header + segment, as a receiver checks it (0 when valid). */
function udpCheck(f: Buffer, v6: boolean): number {
  const l4 = v6 ? 54 : 34;
  const seg = f.subarray(l4);
  const addrs = v6 ? f.subarray(22, 54) : f.subarray(26, 34);
  const pseudo = Buffer.concat([addrs, Buffer.from([0, 17, seg.length >> 8, seg.length & 0xff])]);
  return checksum(Buffer.concat([pseudo, seg]));
}

test("IPv4 frames: 64 bytes, valid IPv4 header and UDP checksums, epoch in the payload", () => {
  const f = buildFrame(spec());
  assert.equal(f.length, 64);
  assert.equal(f.readUInt16BE(12), 0x0800);
  assert.equal(f[14], 0x45);
  assert.equal(f.readUInt16BE(16), 50, "IP total length");
  assert.equal(checksum(f.subarray(14, 34)), 0, "IPv4 header checksum");
  assert.equal(f.readUInt16BE(38), 30, "UDP length");
  assert.equal(udpCheck(f, false), 0);
  assert.equal(f.readUInt16BE(42), 7, "epoch");
  assert.equal([...f.subarray(30, 34)].join("."), "198.19.0.1");
});

test("IPv6 frames: payload length, hop limit, UDP checksum over the IPv6 pseudo-header", () => {
  for (const size of [64, 65, 128, 1514]) {
    const f = buildFrame(spec({ src: "fd00:1::1", dst: "fd00:19::1", size }));
    assert.equal(f.length, size);
    assert.equal(f.readUInt16BE(12), 0x86dd);
    assert.equal(f.readUInt16BE(18), size - 54, "payload length");
    assert.equal(f[21], 64);
    assert.equal(udpCheck(f, true), 0, `size ${size}`);
    assert.notEqual(f.readUInt16BE(60), 0, "UDP over IPv6 must carry a checksum");
  }
});

test("flows: sources vary fastest, then ports, then destinations, and wrap", () => {
  const s = spec({ flows: { srcAddrs: 2, srcPorts: 3, dstAddrs: 2 } });
  const seen = Array.from({ length: 12 }, (_, i) => {
    const f = flowOf(s, i);
    return `${f.src.join(".")} ${f.sport} ${f.dst.join(".")}`;
  });
  assert.equal(new Set(seen).size, 12);
  assert.equal(seen[0], "198.18.1.1 10000 198.19.0.1");
  assert.equal(seen[1], "198.18.1.2 10000 198.19.0.1");
  assert.equal(seen[2], "198.18.1.1 10001 198.19.0.1");
  assert.equal(seen[6], "198.18.1.1 10000 198.19.0.2");
  const f13 = buildFrame(s, 13);
  assert.deepEqual(f13, buildFrame(s, 1), "packet 13 is flow 1 again");
  assert.equal(checksum(f13.subarray(14, 34)), 0);
  assert.equal(udpCheck(f13, false), 0);
});

test("the generator config's partial sums finish into the from-scratch checksums", () => {
  // rig_gen.c adds the varying words to the base sums; do the same here for a few flows.
  for (const v6 of [false, true]) {
    const s = spec({
      ...(v6 ? { src: "fd00:1::1", dst: "fd00:19::1" } : {}),
      size: 100,
      flows: { srcAddrs: 3, srcPorts: 5, dstAddrs: 7 },
    });
    const c = genConfig(s, 5);
    const ipBase = c.readUInt32LE(96);
    const udpBase = c.readUInt32LE(100);
    for (let seq = 0; seq < 105; seq += 13) {
      const { src, dst, sport } = flowOf(s, seq);
      const lo = (b: Buffer) => b.readUInt32BE(b.length - 4);
      const words = (x: number) => (x >>> 16) + (x & 0xffff);
      const addrSum = words(lo(src)) + words(lo(dst));
      let udp = ~onesSum(Buffer.alloc(0), udpBase + addrSum + sport) & 0xffff;
      if (udp === 0) udp = 0xffff;
      const want = buildFrame(s, seq);
      assert.equal(udp, want.readUInt16BE(v6 ? 60 : 40), `UDP checksum, seq ${seq}`);
      if (!v6) assert.equal(~onesSum(Buffer.alloc(0), ipBase + addrSum) & 0xffff, want.readUInt16BE(24));
    }
  }
});

test("bad specs are refused with a reason", () => {
  assert.throws(() => checkSpec(spec({ size: 60 })), /frame size 60/);
  assert.throws(() => checkSpec(spec({ size: 1515 })), /frame size/);
  assert.throws(() => checkSpec(spec({ dst: "fd00:19::1" })), /mix IPv4 and IPv6/);
  assert.throws(
    () => checkSpec(spec({ sport: 65000, flows: { srcAddrs: 1, srcPorts: 1000, dstAddrs: 1 } })),
    /65535/,
  );
  assert.throws(
    () => checkSpec(spec({ flows: { srcAddrs: 0, srcPorts: 1, dstAddrs: 1 } })),
    /positive integer/,
  );
  assert.throws(() => buildFrame(spec({ src: "198.18.1" })), /bad IP address/);
});
