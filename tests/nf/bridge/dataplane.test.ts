// The bridge's data plane alone (NfTestRun, no interfaces), in both hooks: what learning writes
// and how rarely, the configured aging time, tags on forwarded frames (XDP shows them in the
// output) and runt frames.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { BridgeDrop, Maps, decodeFdbEntry, encodeFdbEntry, encodeFdbKey } from "../../../nf/bridge/abi.js";
import control from "../../../nf/bridge/control.js";
import { monotonicNs } from "../../../nf/bridge/fdb.js";
import type { PortInfo } from "../../../src/core/nf-api.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { standInContext, type StandInContext } from "./context.js";
import { BROADCAST, frame, mac, tag, vlanOf } from "./frames.js";
import { bridgeObject, type Hook } from "./rig.js";

const S = 1_000_000_000n;
/** Interfaces that do not exist: TC clones to them fail, and nothing leaves the test. */
const FAKE_IFINDEX = 3_000_000;

for (const hook of ["xdp", "tc"] as Hook[]) {
  describe(`bridge data plane alone (${hook})`, () => {
    let bpffs: Bpffs;
    let t: NfTestRun;
    let ctx: StandInContext;
    const key = (m: string, vlan = 1) => encodeFdbKey({ mac: m, vlan });
    const entry = (m: string, vlan = 1) => {
      const v = t.map(Maps.fdb).lookup(key(m, vlan));
      return v && decodeFdbEntry(v);
    };

    before(async () => {
      bpffs = mountBpffs();
      t = await NfTestRun.open(bridgeObject(hook), bpffs.path, { program: "bridge" });
      // XDP flooding needs devmaps of real interfaces: here there are none (no floodIfindex), so
      // a flood is visible as the no_destination drop; TC clones are counted as TX.
      const ports: PortInfo[] = [{}, {}, { mode: "trunk", vlans: "1,7" }].map((config, i) => ({
        name: `p${i}`,
        index: i,
        config,
        peer: { kind: "iface", ifname: `x${i}`, ifindex: FAKE_IFINDEX + i, mac: "" },
      }));
      for (const p of ports) t.connect(p.index, { kind: "iface", ifindex: FAKE_IFINDEX + p.index });
      ctx = standInContext(t.loaded, { mode: hook, slot: 1, ports, config: {} });
      await control.init?.(ctx, false);
    });
    after(() => {
      t?.close();
      bpffs?.cleanup();
    });
    beforeEach(() => {
      for (const k of [...t.map(Maps.fdb).keys()]) t.map(Maps.fdb).delete(k);
    });

    const flooded = (r: { txPorts: number[]; drops: number[] }, others: number[]) =>
      hook === "tc" ? assert.deepEqual(r.txPorts, others) : assert.deepEqual(r.drops, [BridgeDrop.NO_DEST]);

    test("learning records port and time, and rewrites the time at most once a second", () => {
      const t0 = monotonicNs();
      t.run(frame(BROADCAST, mac(1)), 0);
      const e = entry(mac(1));
      assert.equal(e?.port, 0);
      assert.equal(e?.flags, 0);
      assert.ok(e && e.seen > t0 - S / 10n && e.seen <= monotonicNs(), "stamped now");

      const recent = monotonicNs() - S / 2n;
      t.map(Maps.fdb).update(key(mac(1)), encodeFdbEntry({ port: 0, flags: 0, seen: recent }));
      t.run(frame(BROADCAST, mac(1)), 0);
      assert.equal(entry(mac(1))?.seen, recent, "not rewritten within a second");

      const old = monotonicNs() - 2n * S;
      t.map(Maps.fdb).update(key(mac(1)), encodeFdbEntry({ port: 0, flags: 0, seen: old }));
      t.run(frame(BROADCAST, mac(1)), 0);
      assert.ok((entry(mac(1))?.seen ?? 0n) > old, "refreshed");
    });

    test("the configured aging time decides when a learned address is unknown", async () => {
      t.map(Maps.fdb).update(
        key(mac(2)),
        encodeFdbEntry({ port: 1, flags: 0, seen: monotonicNs() - 11n * S }),
      );
      await control.configure?.(ctx, { agingTime: 10 });
      flooded(t.run(frame(mac(2), mac(3)), 0), [1, 2]);
      await control.configure?.(ctx, { agingTime: 300 });
      const r = t.run(frame(mac(2), mac(3)), 0);
      assert.deepEqual(r.txPorts, [1]);
      assert.deepEqual(r.drops, []);
    });

    if (hook === "xdp")
      test("a frame forwarded to a trunk leaves tagged, to an access port untagged", () => {
        t.map(Maps.fdb).update(key(mac(4)), encodeFdbEntry({ port: 2, flags: 0, seen: monotonicNs() }));
        t.map(Maps.fdb).update(key(mac(5)), encodeFdbEntry({ port: 0, flags: 0, seen: monotonicNs() }));
        const out = t.run(frame(mac(4), mac(6), 1), 1);
        assert.deepEqual(out.txPorts, [2]);
        assert.equal(vlanOf(out.data), 1);
        const back = t.run(tag(frame(mac(5), mac(4), 2), 1), 2);
        assert.deepEqual(back.txPorts, [0]);
        assert.deepEqual(back.data, frame(mac(5), mac(4), 2));
      });

    test("a destination port outside the frame's VLAN is refused (vlan_egress_filtered)", () => {
      // A static entry made before the port left VLAN 7 (flushing keeps static entries).
      t.map(Maps.fdb).update(
        encodeFdbKey({ mac: mac(8), vlan: 7 }),
        encodeFdbEntry({ port: 0, flags: 1, seen: 0n }),
      );
      const r = t.run(tag(frame(mac(8), mac(9)), 7), 2);
      assert.deepEqual(r.drops, [BridgeDrop.VLAN_EGRESS]);
      assert.deepEqual(r.txPorts, []);
    });

    test("frames too short for their headers are malformed", () => {
      const runt = Buffer.from(tag(frame(BROADCAST, mac(1)), 1).subarray(0, 16));
      assert.deepEqual(t.run(runt, 2).drops, [BridgeDrop.MALFORMED]);
    });
  });
}
