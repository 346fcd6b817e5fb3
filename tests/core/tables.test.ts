// Table entries as JSON objects, laid out from the maps' BTF: formats, bitfields, signed values,
// round trips, and errors that name the field.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BpfObject } from "../../src/bpf/object/object.js";
import { ValidationError } from "../../src/core/errors.js";
import { TableCodec, formatIpv6, layoutFields, parseIpv6 } from "../../src/core/tables.js";
import { fixture } from "../helpers/fixtures.js";

async function codec(map: string, formats: Record<string, string>) {
  const spec = BpfObject.open(await fixture("core_tables")).spec;
  const m = spec.maps.get(map);
  assert.ok(m && spec.btf);
  const ports = {
    name: (i: number) => ["p0", "p1", "p2"][i],
    index: (n: string) => ["p0", "p1", "p2"].indexOf(n),
  };
  return new TableCodec(
    layoutFields(spec.btf, m.btfKeyTypeId, formats),
    layoutFields(spec.btf, m.btfValueTypeId, formats),
    m.keySize,
    m.valueSize,
    ports,
  );
}

describe("table codec", () => {
  test("fields come from the BTF layout, in the formats asked for", async () => {
    const c = await codec("fdb", { port: "port" });
    assert.deepEqual(
      c.keyFields.map((f) => [f.name, f.offset, f.size, f.format]),
      [
        ["vlan", 0, 2, "int"],
        ["mac", 2, 6, "mac"],
      ],
    );
    const entry = {
      vlan: 10,
      mac: "02:00:00:00:00:0a",
      port: "p2",
      is_static: 1,
      hits: 12345,
      last_seen: 99,
    };
    const key = c.encodeKey(entry);
    const value = c.encodeValue(entry);
    assert.equal(key.toString("hex"), "0a00" + "02000000000a", "little-endian vlan, then the MAC bytes");
    assert.deepEqual(c.decode(key, value), { ...entry, is_static: 1 });
    assert.equal(value.readUInt32LE(4), (12345 << 1) | 1, "bitfields share their word");
  });

  test("IPv6 addresses, signed numbers, booleans and strings", async () => {
    const c = await codec("routes", { addr: "ipv6", via: "ipv4" });
    const entry = {
      prefixlen: 64,
      addr: "fd00:1::",
      via: "198.18.1.2",
      metric: -5,
      up: true,
      label: "uplink",
    };
    const back = c.decode(c.encodeKey(entry), c.encodeValue(entry));
    assert.deepEqual(back, { ...entry, addr: "fd00:1::" });
  });

  test("bad values name the field and say what was expected", async () => {
    const c = await codec("routes", { addr: "ipv6", via: "ipv4" });
    assert.throws(() => c.encodeKey({ prefixlen: 64 }), /missing key field 'addr'/);
    assert.throws(
      () => c.encodeKey({ prefixlen: 64, addr: "fd00::zz" }),
      /field 'addr': expected an IPv6 address/,
    );
    assert.throws(() => c.encodeValue({ via: "198.18.1.256" }), /field 'via': expected an IPv4 address/);
    assert.throws(() => c.encodeValue({ metric: 40000 }), /field 'metric': out of range \[-32768, 32767\]/);
    assert.throws(() => c.encodeValue({ label: "much-too-long" }), /longer than 8 bytes/);
    assert.throws(
      () => c.encodeValue({ nope: 1 }),
      (e: unknown) => e instanceof ValidationError && /unknown field 'nope'/.test(e.message),
    );
  });

  test("IPv6 text forms", () => {
    for (const [text, canon] of [
      ["fd00::1", "fd00::1"],
      ["FD00:0:0:0:0:0:0:1", "fd00::1"],
      ["::", "::"],
      ["::ffff:198.18.0.1", "::ffff:c612:1"],
      ["fd00:1:2:3:4:5:6:7", "fd00:1:2:3:4:5:6:7"],
    ]) {
      const b = parseIpv6(text);
      assert.ok(b, text);
      assert.equal(formatIpv6(b), canon);
    }
    for (const bad of ["fd00:::1", "1:2:3:4:5:6:7:8:9", "fd00::1::2", "g::1", "1:2:3:4:5:6:7"])
      assert.equal(parseIpv6(bad), undefined, bad);
  });
});
