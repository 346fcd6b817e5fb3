// Loading fixtures into the kernel and checking behaviour through BPF_PROG_TEST_RUN: return
// values, output packets and map side effects read back through plexus. Runs as root.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { XdpAction } from "../../src/bpf/constants.js";
import { PinError, VerifierError } from "../../src/bpf/errors.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { BpfObject } from "../../src/bpf/object/object.js";
import type { LoadedObject } from "../../src/bpf/object/load.js";
import { mountBpffs } from "../../src/testbed/bpffs.js";
import type { Bpffs } from "../../src/testbed/bpffs.js";
import { fixture } from "../helpers/fixtures.js";
import { arpFrame, ipv6Frame, udp4Frame } from "../helpers/packets.js";

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

async function load(name: string, setup?: (o: BpfObject) => void, opts?: Parameters<BpfObject["load"]>[0]) {
  const obj = BpfObject.open(
    await fixture(name),
    name === "obj_optional" ? { programTypes: { prog: "xdp" } } : {},
  );
  setup?.(obj);
  return obj.load(opts);
}

describe("loading objects and running them", () => {
  let bpffs: Bpffs;
  const open: LoadedObject[] = [];
  const track = (o: LoadedObject) => (open.push(o), o);
  before(() => {
    bpffs = mountBpffs();
  });
  after(() => {
    for (const o of open) o.close();
    bpffs.cleanup();
  });

  test("XDP counter: per-CPU counters match the packets run through it", async () => {
    const o = track(await load("obj_xdp_counter"));
    const prog = o.program("xdp_count");
    const frames = [udp4Frame(64), udp4Frame(100), ipv6Frame(8), arpFrame()];
    for (const f of frames) assert.equal(prog.testRun({ data: f }).retval, XdpAction.PASS);
    const total = (k: number) =>
      (o.map("counters").lookupPerCpu(u32(k)) ?? []).reduce(
        (acc, v) => [acc[0] + v.readBigUInt64LE(0), acc[1] + v.readBigUInt64LE(8)],
        [0n, 0n],
      );
    assert.deepEqual(total(0), [2n, 164n]);
    assert.deepEqual(total(1), [1n, BigInt(frames[2].length)]);
    assert.deepEqual(total(2), [1n, BigInt(frames[3].length)]);
    assert.deepEqual(total(3), [0n, 0n]);
  });

  test("global data: constants set before load, .data/.bss updated by the program, kconfig", async () => {
    const o = track(await load("obj_globals", (obj) => obj.setConstant("ret_base", 42)));
    const run = () => o.program("globals").testRun({ data: udp4Frame(64) }).retval;
    assert.equal(run(), 42);
    assert.equal(o.readVariable("data_counter").readBigUInt64LE(0), 6n);
    run();
    assert.equal(o.readVariable("data_counter").readBigUInt64LE(0), 7n);
    assert.equal(o.readVariable("bss_counter").readBigUInt64LE(0), 4n);
    assert.equal(o.readVariable("custom_data").readUInt32LE(0), 9);
    assert.equal(o.readVariable("message").toString("latin1", 0, 6), "plexus");
    // .rodata is frozen: the program sees constants, userspace cannot change them any more.
    const ro = o.map(o.spec.variables.get("ret_base")?.map ?? "");
    assert.throws(() => ro.update(u32(0), Buffer.alloc(ro.valueSize)), /EPERM/);

    const m1 = track(await load("obj_globals", (obj) => obj.setConstant("mode", 1)));
    assert.equal(
      m1.program("globals").testRun({ data: udp4Frame(64) }).retval,
      10 + 3 + 1,
      "CONFIG_BPF_SYSCALL=y",
    );
    const m2 = track(await load("obj_globals", (obj) => obj.setConstant("mode", 2)));
    assert.equal(
      m2.program("globals").testRun({ data: udp4Frame(64) }).retval,
      1,
      "LINUX_KERNEL_VERSION > 0",
    );
    const m3 = track(await load("obj_globals", (obj) => obj.setConstant("mode", 3)));
    assert.equal(
      m3.program("globals").testRun({ data: udp4Frame(64) }).retval,
      0,
      "weak missing kconfig is 0",
    );
    assert.equal(m3.program("strings").testRun({ data: udp4Frame(64) }).retval, XdpAction.PASS);
  });

  test("bpf-to-bpf calls and callbacks", async () => {
    const o = track(await load("obj_calls"));
    for (let i = 0; i < 8; i++) o.map("values").update(u32(i), u64(i));
    assert.equal(o.program("calls").testRun({ data: udp4Frame(64) }).retval, 25 + 28 + 10);
    assert.equal(o.program("calls_tc").testRun({ data: udp4Frame(64) }).retval, 0);
  });

  test("tail calls through a statically initialised prog array", async () => {
    const o = track(await load("obj_tailcall"));
    const run = (slot: number) => {
      const f = udp4Frame(64);
      f[0] = slot;
      return o.program("tail_entry").testRun({ data: f }).retval;
    };
    assert.equal(run(1), 11);
    assert.equal(run(2), 22);
    assert.equal(run(3), 99, "empty slot falls through");
  });

  test("map-in-map: static inner maps and inner maps added at run time", async () => {
    const o = track(await load("obj_map_in_map"));
    o.map("inner_b").update(u32(1), u32(41));
    assert.equal(o.program("read_inner").testRun({ data: udp4Frame(64) }).retval, 42);
    const inner = BpfMap.create({ type: 1, keySize: 4, valueSize: 8, maxEntries: 16, name: "rt_inner" });
    try {
      o.map("outer_hash").update(u32(2), u32(inner.fd));
      o.program("read_inner").testRun({ data: udp4Frame(64) });
      assert.equal(inner.lookup(u32(1))?.readBigUInt64LE(0), 1n);
    } finally {
      inner.close();
    }
  });

  test("CO-RE: packet parsing through vmlinux.h types and CO-RE facts", async () => {
    const o = track(await load("obj_core"));
    assert.equal(o.program("core_parse").testRun({ data: udp4Frame(64, { ttl: 64 }) }).retval, 64 + 17);
    assert.equal(o.program("core_parse").testRun({ data: ipv6Frame() }).retval, XdpAction.PASS);
    assert.equal(o.program("core_facts").testRun({ data: udp4Frame(64) }).retval, 1 | 4 | 8 | 16 | 32);
  });

  test("a program the verifier rejects: VerifierError names the program and the failing instruction", async () => {
    await assert.rejects(load("obj_reject"), (e: unknown) => {
      assert.ok(e instanceof VerifierError, String(e));
      assert.match(e.message, /unchecked_read/);
      assert.ok(e.instruction !== undefined && e.instruction >= 0, "instruction index");
      assert.match(e.message, /invalid access to packet|R\d+ .*access/);
      assert.match(e.log, /processed|invalid/);
      return true;
    });
  });

  test("ring buffer records from the data plane", async () => {
    const { RingBufferReader } = await import("../../src/bpf/ringbuf/index.js");
    const o = track(await load("obj_ringbuf"));
    const reader = new RingBufferReader(o.map("events"));
    try {
      for (let i = 0; i < 10; i++) o.program("emit").testRun({ data: udp4Frame(60 + i) });
      const got: [bigint, number][] = [];
      reader.drain((r: Buffer) => got.push([r.readBigUInt64LE(0), r.readUInt32LE(8)]));
      assert.deepEqual(
        got,
        Array.from({ length: 10 }, (_, i) => [BigInt(i), 60 + i]),
      );
    } finally {
      reader.close();
    }
  });

  test("pinned maps: pinned by name, reused by the next load, policies fail and replace", async () => {
    const opts = { pinRoot: bpffs.path };
    const a = track(await load("obj_maps", undefined, opts));
    a.map("pinned_counts").update(u32(1), u64(7));
    const b = track(await load("obj_maps", undefined, opts));
    assert.equal(b.map("pinned_counts").lookup(u32(1))?.readBigUInt64LE(0), 7n, "state survives a reload");
    await assert.rejects(
      load("obj_maps", (o) => o.setMaxEntries("pinned_counts", 99), opts),
      (e: unknown) => e instanceof PinError && /max entries/.test(e.message),
    );
    await assert.rejects(load("obj_maps", undefined, { ...opts, pinPolicy: "fail" }), PinError);
    const c = track(await load("obj_maps", undefined, { ...opts, pinPolicy: "replace" }));
    assert.equal(c.map("pinned_counts").lookup(u32(1)), undefined, "replaced by a fresh map");
  });

  test("replacing a map with an existing one keeps state across loads (upgrade path)", async () => {
    const first = track(await load("obj_xdp_counter"));
    first.program("xdp_count").testRun({ data: udp4Frame(64) });
    const second = track(
      await load("obj_xdp_counter", undefined, { replaceMaps: { counters: first.map("counters") } }),
    );
    second.program("xdp_count").testRun({ data: udp4Frame(64) });
    const perCpu = first.map("counters").lookupPerCpu(u32(0)) ?? [];
    assert.equal(
      perCpu.reduce((a, v) => a + v.readBigUInt64LE(0), 0n),
      2n,
    );
  });

  test("iproute2 legacy maps load and work", async () => {
    const o = track(await load("obj_legacy_maps", undefined, { pinRoot: bpffs.path }));
    o.map("legacy_pinned").update(u32(0), u32(7));
    assert.equal(o.program("legacy_cls").testRun({ data: udp4Frame(64) }).retval, 7);
    assert.equal(o.map("legacy_counts").lookup(u32(0))?.readBigUInt64LE(0), 1n);
  });

  test("'?' programs load only when asked for", async () => {
    const o = track(await load("obj_optional"));
    assert.deepEqual([...o.programs.keys()].sort(), ["always", "legacy_named"]);
    const p = track(await load("obj_optional", (obj) => obj.setAutoload("on_demand", true)));
    assert.equal(p.program("on_demand").testRun({ data: udp4Frame(64) }).retval, XdpAction.DROP);
  });
});
