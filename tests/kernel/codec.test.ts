// Codecs for map keys and values (pure, no kernel) and a typed map over them (kernel).
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapType } from "../../src/bpf/constants.js";
import { PlexusBpfError } from "../../src/bpf/errors.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import {
  array,
  be16,
  bytes,
  cstring,
  i32,
  i64,
  ipv4,
  ipv6,
  lpmKey,
  mac,
  struct,
  u16,
  u32,
  u64,
  u8,
} from "../../src/bpf/map/codec.js";

test("integers are host order, be16/be32 network order", () => {
  assert.deepEqual([...u32.encode(0x01020304)], [4, 3, 2, 1]);
  assert.deepEqual([...be16.encode(0x0102)], [1, 2]);
  assert.equal(i32.decode(Buffer.from([0xff, 0xff, 0xff, 0xff])), -1);
  assert.equal(u64.decode(u64.encode(2n ** 64n - 1n)), 2n ** 64n - 1n);
  assert.equal(i64.decode(i64.encode(-5n)), -5n);
});

test("addresses round-trip in their usual text forms", () => {
  assert.deepEqual([...ipv4.encode("198.18.0.1")], [198, 18, 0, 1]);
  assert.equal(ipv4.decode(Buffer.from([198, 19, 255, 254])), "198.19.255.254");
  for (const a of ["fd00::1", "::", "fd00:1:2:3:4:5:6:7", "fe80::1:0:0:2", "::ffff:198.18.0.1"]) {
    const back = ipv6.decode(ipv6.encode(a));
    assert.deepEqual(ipv6.encode(back), ipv6.encode(a), a);
  }
  assert.equal(ipv6.decode(ipv6.encode("fd00:0:0:0:0:0:0:1")), "fd00::1");
  assert.equal(ipv6.decode(ipv6.encode("fd00:0:0:1:0:0:0:1")), "fd00:0:0:1::1", "longest run");
  assert.equal(ipv6.decode(ipv6.encode("fd00:0:0:1:0:0:2:3")), "fd00::1:0:0:2:3", "first of equal runs");
  assert.equal(mac.decode(mac.encode("02:AA:bb:0c:0d:0e")), "02:aa:bb:0c:0d:0e");
  assert.throws(() => ipv4.encode("300.1.1.1"), PlexusBpfError);
  assert.throws(() => mac.encode("02:aa"), PlexusBpfError);
});

test("struct lays fields out like C: alignment, padding, tail padding", () => {
  const flow = struct({ proto: u8, port: be16, addr: ipv4, bytes: u64 });
  assert.deepEqual(flow.offsets, { proto: 0, port: 2, addr: 4, bytes: 8 });
  assert.equal(flow.size, 16);
  const v = { proto: 6, port: 443, addr: "198.18.0.9", bytes: 1500n };
  const b = flow.encode(v);
  assert.equal(b.readUInt16BE(2), 443);
  assert.deepEqual(flow.decode(b), v);
  const tail = struct({ a: u64, b: u8 });
  assert.equal(tail.size, 16, "padded to the alignment of its largest member");
  assert.equal(struct({ a: u8, b: u32 }, { packed: true }).size, 5);
  const nested = struct({ name: cstring(8), ids: array(u16, 3), raw: bytes(2) });
  const n = { name: "eth0", ids: [1, 2, 3], raw: Buffer.from([9, 8]) };
  assert.deepEqual(nested.decode(nested.encode(n)), n);
  assert.equal(lpmKey(ipv6).size, 20);
});

test("typed map: values through codecs, iteration decodes keys and values", () => {
  const key = struct({ addr: ipv4, port: be16, proto: u8 });
  const value = struct({ packets: u64, bytes: u64 });
  const m = BpfMap.create({ type: MapType.HASH, keySize: key.size, valueSize: value.size, maxEntries: 8 });
  try {
    const t = m.typed(key, value);
    const k = { addr: "198.18.0.2", port: 53, proto: 17 };
    t.update(k, { packets: 3n, bytes: 180n });
    assert.deepEqual(t.lookup(k), { packets: 3n, bytes: 180n });
    assert.deepEqual([...t.entries()], [[k, { packets: 3n, bytes: 180n }]]);
    assert.ok(t.delete(k));
    assert.equal(t.lookup(k), undefined);
    assert.throws(() => m.typed(u32, value), PlexusBpfError, "key codec size must match");
  } finally {
    m.close();
  }
});
