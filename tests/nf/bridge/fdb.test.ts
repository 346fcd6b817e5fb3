// The fdb table (show, add static, delete), flushing on port changes, and the aging time, through
// the control plane against the bridge's real maps (loaded alone with NfTestRun).
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { FdbFlags, Maps, decodeFdbEntry, encodeFdbEntry, encodeFdbKey, u32 } from "../../../nf/bridge/abi.js";
import control from "../../../nf/bridge/control.js";
import { fdbTable, monotonicNs } from "../../../nf/bridge/fdb.js";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { PortInfo } from "../../../src/core/nf-api.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { standInContext, type StandInContext } from "./context.js";
import { mac } from "./frames.js";
import { bridgeObject } from "./rig.js";

const port = (index: number, config: Record<string, unknown>, connected = true): PortInfo => ({
  name: `p${index}`,
  index,
  config,
  ...(connected ? { peer: { kind: "iface", ifname: `e${index}`, ifindex: 900 + index, mac: "" } } : {}),
});
const PORTS = [port(0, { vlan: 10 }), port(1, { vlan: 10 }), port(2, { mode: "trunk", vlans: "10,20" })];

describe("bridge fdb table", () => {
  let bpffs: Bpffs;
  let t: NfTestRun;
  let ctx: StandInContext;
  const fdb = () => ctx.map(Maps.fdb);
  const learn = (m: string, vlan: number, p: number, ageS = 0) =>
    fdb().update(
      encodeFdbKey({ mac: m, vlan }),
      encodeFdbEntry({ port: p, flags: 0, seen: monotonicNs() - BigInt(ageS * 1e9) }),
    );
  const entry = (m: string, vlan: number) => {
    const v = fdb().lookup(encodeFdbKey({ mac: m, vlan }));
    return v && decodeFdbEntry(v);
  };

  before(async () => {
    bpffs = mountBpffs();
    t = await NfTestRun.open(bridgeObject("tc"), bpffs.path, { program: "bridge" });
  });
  after(() => {
    t?.close();
    bpffs?.cleanup();
  });
  beforeEach(async () => {
    for (const k of [...t.map(Maps.fdb).keys()]) t.map(Maps.fdb).delete(k);
    ctx = standInContext(t.loaded, { mode: "tc", slot: 1, ports: PORTS, config: { agingTime: 300 } });
    await control.init?.(ctx, false);
  });

  test("show lists live entries by VLAN and MAC with port names, type and age; aged ones are left out", async () => {
    learn(mac(2), 10, 1, 12);
    learn(mac(1), 20, 2);
    learn(mac(3), 10, 0, 301);
    await fdbTable.add?.(ctx, { mac: mac(4), port: "p0", vlan: 10 });
    const rows = await fdbTable.list?.(ctx);
    assert.deepEqual(
      rows?.map((r) => (typeof r.age === "number" ? { ...r, age: Math.round(r.age) } : r)),
      [
        { mac: mac(2), vlan: 10, port: "p1", type: "learned", age: 12 },
        { mac: mac(4), vlan: 10, port: "p0", type: "static" },
        { mac: mac(1), vlan: 20, port: "p2", type: "learned", age: 0 },
      ],
    );
  });

  test("add writes a static entry (replacing a learned one) and completes the entry as recorded", async () => {
    learn(mac(5), 1, 0);
    const ports = [...PORTS, port(3, {})];
    ctx.setPorts(ports);
    const e: Record<string, unknown> = { mac: "02:00:00:00:00:05".toUpperCase(), port: "p3" };
    await fdbTable.add?.(ctx, e);
    assert.deepEqual(e, { mac: mac(5), vlan: 1, port: "p3" });
    assert.deepEqual(entry(mac(5), 1), { port: 3, flags: FdbFlags.STATIC, seen: 0n });
  });

  test("add refuses what cannot be a static entry, saying why", async () => {
    const bad: [Record<string, unknown>, RegExp, typeof ValidationError | typeof NotFoundError][] = [
      [{ mac: "02:00:00:00:00", port: "p0", vlan: 10 }, /not a MAC address/, ValidationError],
      [{ mac: "01:00:5e:00:00:01", port: "p0", vlan: 10 }, /group address/, ValidationError],
      [{ mac: "00:00:00:00:00:00", port: "p0", vlan: 10 }, /all-zero/, ValidationError],
      [{ mac: mac(6), vlan: 10 }, /needs a port/, ValidationError],
      [{ mac: mac(6), port: "nope", vlan: 10 }, /no port "nope"/, NotFoundError],
      [{ mac: mac(6), port: "p0", vlan: 20 }, /p0 is not a member of VLAN 20/, ValidationError],
      [{ mac: mac(6), port: "p0", vlan: 5000 }, /not a VLAN id/, ValidationError],
      [{ mac: mac(6), port: "p0", vlan: 10, colour: "red" }, /unknown field colour/, ValidationError],
      [{ mac: mac(6), port: "p0", vlan: 10, type: "learned" }, /only static/, ValidationError],
    ];
    for (const [e, msg, cls] of bad)
      await assert.rejects(
        async () => fdbTable.add?.(ctx, e),
        (err: Error) => err instanceof cls && msg.test(err.message),
        JSON.stringify(e),
      );
    assert.equal([...fdb().keys()].length, 0, "nothing written");
  });

  test("delete removes static and learned entries (VLAN 1 unless given) and reports a missing one", async () => {
    learn(mac(7), 10, 0);
    await fdbTable.add?.(ctx, { mac: mac(8), port: "p2", vlan: 20 });
    await fdbTable.delete?.(ctx, { mac: mac(7), vlan: 10 });
    const key: Record<string, unknown> = { mac: mac(8).toUpperCase(), vlan: "20" };
    await fdbTable.delete?.(ctx, key);
    assert.deepEqual(key, { mac: mac(8), vlan: 20 });
    assert.equal([...fdb().keys()].length, 0);
    await assert.rejects(async () => fdbTable.delete?.(ctx, { mac: mac(7) }), NotFoundError);
  });

  test("port changes flush what they invalidate; static entries stay while their port exists", async () => {
    learn(mac(10), 10, 0);
    learn(mac(11), 10, 1);
    learn(mac(12), 20, 2);
    learn(mac(13), 10, 2);
    await fdbTable.add?.(ctx, { mac: mac(14), port: "p1", vlan: 10 });
    await fdbTable.add?.(ctx, { mac: mac(15), port: "p0", vlan: 10 });
    // p0 removed, p1 disconnected, p2 no longer carries VLAN 20.
    ctx.setPorts([port(1, { vlan: 10 }, false), port(2, { mode: "trunk", vlans: "10" })]);
    await control.portsChanged?.(ctx);
    assert.equal(entry(mac(10), 10), undefined, "port gone");
    assert.equal(entry(mac(11), 10), undefined, "port disconnected");
    assert.equal(entry(mac(12), 20), undefined, "VLAN left");
    assert.ok(entry(mac(13), 10), "still valid");
    assert.ok(entry(mac(14), 10), "static on a disconnected port stays");
    assert.equal(entry(mac(15), 10), undefined, "static on a removed port goes");
  });

  test("the aging time reaches the data plane in nanoseconds, default 300 s", async () => {
    const aging = () => ctx.map(Maps.config).lookup(u32(0))?.readBigUInt64LE(0);
    assert.equal(aging(), 300_000_000_000n);
    await control.configure?.(ctx, { agingTime: 10 });
    assert.equal(aging(), 10_000_000_000n);
    await control.configure?.(ctx, {});
    assert.equal(aging(), 300_000_000_000n);
  });
});
