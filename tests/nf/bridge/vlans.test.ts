// Port VLAN settings and the flood sets derived from them (pure functions, no kernel).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PortMode, decodeFlood, encodeFlood, encodePort } from "../../../nf/bridge/abi.js";
import { broadcastSets, bridgePorts, floodLists } from "../../../nf/bridge/layout.js";
import { VlanListError, parseVlanList, portRecord } from "../../../nf/bridge/vlans.js";
import type { PortInfo } from "../../../src/core/nf-api.js";

describe("VLAN lists", () => {
  test("lists, ranges (either way round), arrays and single ids", () => {
    assert.deepEqual(parseVlanList("10,20-23, 5"), [5, 10, 20, 21, 22, 23]);
    assert.deepEqual(parseVlanList("30-28"), [28, 29, 30]);
    assert.deepEqual(parseVlanList([7, "1-2", 7]), [1, 2, 7]);
    assert.deepEqual(parseVlanList(4094), [4094]);
  });

  test("ids outside 1..4094 and malformed parts are refused with the offending part named", () => {
    assert.throws(
      () => parseVlanList("10,4095"),
      (e: Error) => e instanceof VlanListError && e.message.includes("'4095'"),
    );
    assert.throws(() => parseVlanList("0"), VlanListError);
    assert.throws(() => parseVlanList("1-2-3"), /'1-2-3'/);
    assert.throws(() => parseVlanList("a"), /'a'/);
    assert.throws(() => parseVlanList({}), VlanListError);
  });
});

describe("port records", () => {
  test("access ports: one VLAN, untagged (default 1)", () => {
    assert.deepEqual(portRecord({}), { mode: PortMode.ACCESS, pvid: 1, vlans: new Set([1]) });
    assert.deepEqual(portRecord({ mode: "access", vlan: 30 }), {
      mode: PortMode.ACCESS,
      pvid: 30,
      vlans: new Set([30]),
    });
  });

  test("trunks: listed VLANs tagged, the native one untagged and a member; all VLANs when none are listed", () => {
    assert.deepEqual(portRecord({ mode: "trunk", vlans: "10-11", native: 5 }), {
      mode: PortMode.TRUNK,
      pvid: 5,
      vlans: new Set([5, 10, 11]),
    });
    const all = portRecord({ mode: "trunk" });
    assert.equal(all.pvid, 0);
    assert.equal(all.vlans.size, 4094);
  });

  test("the record's VLAN bitmap has one bit per VLAN id, as the data plane reads it (u64 words)", () => {
    const b = encodePort(portRecord({ mode: "trunk", vlans: "1,64,4094", native: 100 }));
    assert.equal(b.length, 520);
    assert.equal(b[0], PortMode.TRUNK);
    assert.equal(b.readUInt16LE(2), 100);
    const bit = (v: number) => (b.readBigUInt64LE(8 + Math.floor(v / 64) * 8) >> BigInt(v % 64)) & 1n;
    assert.deepEqual(
      [1, 2, 63, 64, 100, 4094, 4095].map((v) => bit(v)),
      [1n, 0n, 0n, 1n, 1n, 1n, 0n],
    );
  });
});

describe("flood sets", () => {
  const info = (index: number, config: Record<string, unknown>, connected = true): PortInfo => ({
    name: `p${index}`,
    index,
    config,
    ...(connected
      ? {
          peer: { kind: "iface", ifname: `e${index}`, ifindex: 100 + index, mac: "" },
          floodIfindex: 100 + index,
        }
      : {}),
  });

  test("per VLAN, the connected members with untagged ports first; a broken config takes part in nothing", () => {
    const errors: string[] = [];
    const ports = bridgePorts(
      [
        info(3, { mode: "trunk", vlans: "10,20" }),
        info(0, { mode: "access", vlan: 10 }),
        info(1, { mode: "access", vlan: 10 }, false),
        info(2, { mode: "trunk", vlans: "20", native: 10 }),
        info(4, { mode: "trunk", vlans: "99999" }),
      ],
      (m) => errors.push(m),
    );
    const lists = floodLists(ports);
    assert.deepEqual([...lists.keys()].sort(), [10, 20]);
    assert.deepEqual(lists.get(10), { untagged: [0, 2], tagged: [3] });
    assert.deepEqual(lists.get(20), { untagged: [], tagged: [2, 3] });
    assert.equal(errors.length, 1);
    assert.match(errors[0], /port p4: .*99999/);
    assert.deepEqual(decodeFlood(encodeFlood(lists.get(10)!)), lists.get(10));
  });

  test("broadcast sets only for VLANs with two or more reachable members", () => {
    const sets = broadcastSets(
      bridgePorts(
        [info(0, { vlan: 10 }), info(1, { vlan: 10 }), info(2, { vlan: 20 }), info(3, { vlan: 30 }, false)],
        () => {},
      ),
    );
    assert.deepEqual([...sets.keys()], [10]);
    assert.deepEqual(
      sets.get(10)!.map((p) => p.floodIfindex),
      [100, 101],
    );
  });
});
