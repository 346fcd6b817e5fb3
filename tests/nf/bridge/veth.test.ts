// The bridge on real veths (rig.ts), in both hooks: frames sent by hosts, captured as they leave.
// Flooding reaches exactly the VLAN's other ports with the tag each port wants (TC clones; XDP
// devmap broadcast and its egress program), learned and static addresses go to one port, aging
// forgets, VLAN filtering drops with its reason, and the framework counts every copy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BpfMap } from "../../../src/bpf/map/map.js";
import {
  BridgeDrop,
  EGRESS_PROGRAM,
  FdbFlags,
  Maps,
  decodeFdbEntry,
  decodeFlood,
  encodeFdbEntry,
  encodeFdbKey,
  u32,
} from "../../../nf/bridge/abi.js";
import { ageFdb, fdbTable, monotonicNs } from "../../../nf/bridge/fdb.js";
import { BROADCAST, frame, mac, tag, untag, vlanOf } from "./frames.js";
import { BridgeRig, type Captured, type Counts, type Hook } from "./rig.js";

/** [port, VLAN tag or undefined] per frame that left. */
const where = (got: Captured[]) => got.map((c) => [c.port, vlanOf(c.frame)]);
const diff = (a: Counts, b: Counts) => ({
  rx: b.rx.map((v, i) => v - a.rx[i]),
  tx: b.tx.map((v, i) => v - a.tx[i]),
  drops: b.drops.flatMap((v, r) => (v !== a.drops[r] ? [r] : [])),
});

for (const hook of ["xdp", "tc"] as Hook[]) {
  describe(`bridge on veths (${hook})`, () => {
    let rig: BridgeRig;
    before(async () => {
      rig = await BridgeRig.create(hook, [
        { mode: "access", vlan: 10 }, // p0
        { mode: "access", vlan: 10 }, // p1
        { mode: "access", vlan: 20 }, // p2
        { mode: "trunk", vlans: "10,20" }, // p3
        { mode: "trunk", vlans: "10", native: 20 }, // p4
      ]);
    });
    after(() => rig?.close());

    test("a broadcast from an access port reaches the VLAN's other ports, untagged or tagged as each wants, counted", async () => {
      const f = frame(BROADCAST, mac(1), 1);
      const c0 = rig.counts();
      const got = await rig.exchange(0, f, 3);
      assert.deepEqual(where(got), [
        [1, undefined],
        [3, 10],
        [4, 10],
      ]);
      for (const c of got) assert.deepEqual(untag(c.frame), f, "only the tag changes");
      const d = diff(c0, rig.counts());
      assert.deepEqual(d.tx, [0, 1, 0, 1, 1]);
      assert.deepEqual(d.rx, [1, 0, 0, 0, 0]);
      assert.deepEqual(d.drops, []);
    });

    test("a tagged broadcast from a trunk stays in its VLAN: untagged on access and native ports", async () => {
      const f = tag(frame(BROADCAST, mac(2), 2), 20);
      const got = await rig.exchange(3, f, 2);
      assert.deepEqual(where(got), [
        [2, undefined],
        [4, undefined],
      ]);
      assert.deepEqual(got[0].frame, untag(f));
    });

    test("an untagged frame on a trunk belongs to its native VLAN", async () => {
      const got = await rig.exchange(4, frame(BROADCAST, mac(3), 3), 2);
      assert.deepEqual(where(got), [
        [2, undefined],
        [3, 20],
      ]);
    });

    test("a priority-tagged frame joins the port's VLAN and keeps its priority", async () => {
      const got = await rig.exchange(0, tag(frame(BROADCAST, mac(4), 4), 0, 5), 3);
      assert.deepEqual(where(got), [
        [1, undefined],
        [3, 10],
        [4, 10],
      ]);
      assert.equal(got[1].frame.readUInt16BE(14) >> 13, 5, "PCP kept");
    });

    test("frames a port does not accept are dropped with vlan_ingress_filtered", async () => {
      for (const [port, f] of [
        [3, frame(BROADCAST, mac(5), 5)], // untagged on a trunk without a native VLAN
        [3, tag(frame(BROADCAST, mac(5), 6), 30)], // a VLAN the trunk does not carry
        [0, tag(frame(BROADCAST, mac(5), 7), 20)], // another VLAN on an access port
      ] as [number, Buffer][]) {
        const c0 = rig.counts();
        assert.deepEqual(await rig.exchange(port, f, 0), []);
        assert.deepEqual(diff(c0, rig.counts()).drops, [BridgeDrop.VLAN_INGRESS]);
      }
    });

    test("multicast and unknown unicast are flooded like broadcast", async () => {
      for (const dst of ["01:00:5e:00:00:fb", mac(999)]) {
        const got = await rig.exchange(1, frame(dst, mac(6), 8), 3);
        assert.deepEqual(where(got), [
          [0, undefined],
          [3, 10],
          [4, 10],
        ]);
      }
    });

    test("a learned address gets unicast to its port only, in both directions", async () => {
      await rig.exchange(1, frame(BROADCAST, mac(11), 10), 3);
      const there = await rig.exchange(0, frame(mac(11), mac(10), 11), 1);
      assert.deepEqual(where(there), [[1, undefined]]);
      const back = await rig.exchange(1, frame(mac(10), mac(11), 12), 1);
      assert.deepEqual(where(back), [[0, undefined]]);
    });

    test("an address learned on a trunk is reached tagged, from access and native ports", async () => {
      await rig.exchange(3, tag(frame(BROADCAST, mac(21), 13), 20), 2);
      assert.deepEqual(where(await rig.exchange(2, frame(mac(21), mac(22), 14), 1)), [[3, 20]]);
      assert.deepEqual(where(await rig.exchange(4, frame(mac(21), mac(23), 15), 1)), [[3, 20]]);
    });

    test("VLANs learn separately: a MAC known in VLAN 10 is unknown in VLAN 20", async () => {
      await rig.exchange(1, frame(BROADCAST, mac(12), 16), 3);
      const got = await rig.exchange(2, frame(mac(12), mac(24), 17), 2);
      assert.deepEqual(where(got), [
        [3, 20],
        [4, undefined],
      ]);
    });

    test("a MAC that moves to another port is relearned there", async () => {
      await rig.exchange(0, frame(BROADCAST, mac(31), 18), 3);
      await rig.exchange(1, frame(BROADCAST, mac(31), 19), 3);
      assert.deepEqual(where(await rig.exchange(3, tag(frame(mac(31), mac(32), 20), 10), 1)), [
        [1, undefined],
      ]);
    });

    test("a frame for an address on its own ingress port is dropped", async () => {
      await rig.exchange(0, frame(BROADCAST, mac(41), 21), 3);
      const c0 = rig.counts();
      assert.deepEqual(await rig.exchange(0, frame(mac(41), mac(42), 22), 0), []);
      assert.deepEqual(diff(c0, rig.counts()).drops, [BridgeDrop.SAME_PORT]);
    });

    test("reserved 802.1D addresses are not forwarded (except BPDUs, as without STP); multicast sources are refused", async () => {
      let c0 = rig.counts();
      assert.deepEqual(await rig.exchange(0, frame("01:80:c2:00:00:0e", mac(43), 23), 0), []);
      assert.deepEqual(diff(c0, rig.counts()).drops, [BridgeDrop.LINK_LOCAL]);
      assert.equal((await rig.exchange(0, frame("01:80:c2:00:00:00", mac(43), 24), 3)).length, 3);
      c0 = rig.counts();
      assert.deepEqual(await rig.exchange(0, frame(BROADCAST, "03:00:00:00:00:01", 25), 0), []);
      assert.deepEqual(diff(c0, rig.counts()).drops, [BridgeDrop.INVALID_SRC]);
    });

    test("a frame that entered from another instance is not flooded back out of the port it came in on", async () => {
      rig.sendAside(1, frame(BROADCAST, mac(45), 35));
      assert.deepEqual(where(await rig.capture(3)), [
        [0, undefined],
        [3, 10],
        [4, 10],
      ]);
    });

    test("an entry older than the aging time is unknown at once, and the aging sweep frees it", async () => {
      await rig.exchange(1, frame(BROADCAST, mac(51), 26), 3);
      assert.deepEqual(where(await rig.exchange(0, frame(mac(51), mac(52), 27), 1)), [[1, undefined]]);
      const fdb = rig.ctx.map(Maps.fdb);
      const key = encodeFdbKey({ mac: mac(51), vlan: 10 });
      const e = decodeFdbEntry(fdb.lookup(key) as Buffer);
      fdb.update(key, encodeFdbEntry({ ...e, seen: monotonicNs() - 301n * 1_000_000_000n }));
      assert.equal((await rig.exchange(0, frame(mac(51), mac(52), 28), 3)).length, 3, "flooded: aged out");
      assert.ok(ageFdb(rig.ctx) >= 1);
      assert.equal(fdb.lookup(key), undefined);
    });

    test("a static entry forwards without learning, is not moved by learning and never ages", async () => {
      const entry: Record<string, unknown> = { mac: mac(61), port: "p1", vlan: 10 };
      await fdbTable.add?.(rig.ctx, entry);
      assert.deepEqual(where(await rig.exchange(0, frame(mac(61), mac(62), 29), 1)), [[1, undefined]]);
      await rig.exchange(3, tag(frame(BROADCAST, mac(61), 30), 10), 3); // the MAC shows up elsewhere
      const e = decodeFdbEntry(
        rig.ctx.map(Maps.fdb).lookup(encodeFdbKey({ mac: mac(61), vlan: 10 })) as Buffer,
      );
      assert.deepEqual(e, { port: 1, flags: FdbFlags.STATIC, seen: 0n });
      ageFdb(rig.ctx);
      assert.deepEqual(where(await rig.exchange(0, frame(mac(61), mac(62), 31), 1)), [[1, undefined]]);
    });

    test("reconfiguring a port moves it between VLANs and flushes what it learned", async () => {
      await rig.exchange(2, frame(BROADCAST, mac(71), 32), 2);
      await rig.configurePorts({ 2: { mode: "access", vlan: 10 } });
      try {
        assert.equal(rig.ctx.map(Maps.fdb).lookup(encodeFdbKey({ mac: mac(71), vlan: 20 })), undefined);
        assert.deepEqual(where(await rig.exchange(0, frame(BROADCAST, mac(72), 33), 4)), [
          [1, undefined],
          [2, undefined],
          [3, 10],
          [4, 10],
        ]);
      } finally {
        await rig.configurePorts({ 2: { mode: "access", vlan: 20 } });
      }
      assert.equal((await rig.exchange(0, frame(BROADCAST, mac(72), 34), 3)).length, 3);
    });

    test("flood lists: per VLAN, the connected members, untagged ones first", () => {
      const list = (v: number) => decodeFlood(rig.ctx.map(Maps.floodList).lookup(u32(v)) as Buffer);
      assert.deepEqual(list(10), { untagged: [0, 1], tagged: [3, 4] });
      assert.deepEqual(list(20), { untagged: [2, 4], tagged: [3] });
      assert.deepEqual(list(30), { untagged: [], tagged: [] });
    });

    if (hook === "xdp")
      test("XDP flood sets: one devmap per distinct member set, shared by VLANs, running bridge_egress; resyncing changes nothing", async () => {
        const outer = rig.ctx.map(Maps.floodXdp);
        const id = (v: number) => outer.lookup(u32(v))?.readUInt32LE(0);
        const contents = (v: number) => {
          const m = BpfMap.fromId(id(v) as number);
          try {
            return [...m.entries()]
              .map(([k, val]) => [k.readUInt32LE(0), val.readUInt32LE(0), val.readUInt32LE(4)])
              .sort((a, b) => a[0] - b[0]);
          } finally {
            m.close();
          }
        };
        const egress = rig.ctx.program(EGRESS_PROGRAM).id;
        const [b0, b1, b2, b3, b4] = rig.portIfindex;
        assert.deepEqual(
          contents(10),
          [b0, b1, b3, b4].map((i) => [i, i, egress]).sort((a, b) => a[0] - b[0]),
        );
        assert.deepEqual(
          contents(20),
          [b2, b3, b4].map((i) => [i, i, egress]).sort((a, b) => a[0] - b[0]),
        );
        assert.equal(id(30), undefined);
        const before = [id(10), id(20)];
        await rig.configurePorts({});
        assert.deepEqual([id(10), id(20)], before);

        // Two trunks carrying every VLAN: the 4092 VLANs with just those two share one devmap.
        await rig.configurePorts({ 3: { mode: "trunk" }, 4: { mode: "trunk", native: 20 } });
        try {
          assert.ok(id(100) !== undefined && id(100) === id(4094) && id(100) === id(1));
          assert.deepEqual(new Set([id(10), id(20), id(100)]).size, 3);
          assert.deepEqual(
            contents(4094),
            [b3, b4].map((i) => [i, i, egress]).sort((a, b) => a[0] - b[0]),
          );
        } finally {
          await rig.configurePorts({
            3: { mode: "trunk", vlans: "10,20" },
            4: { mode: "trunk", vlans: "10", native: 20 },
          });
        }
        // VLAN 100 lost its set: it points at an empty devmap, and its flood list is empty.
        assert.deepEqual(contents(100), []);
        assert.equal(decodeFlood(rig.ctx.map(Maps.floodList).lookup(u32(100)) as Buffer).tagged.length, 0);
      });
  });
}
