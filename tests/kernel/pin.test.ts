// Pinning maps, programs and links on a private bpffs, and the pinned-map policies.
import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AttachType, LinkType, MapFlags, MapType, ProgType } from "../../src/bpf/constants.js";
import { BpfError, PinError, PlexusBpfError } from "../../src/bpf/errors.js";
import { BpfMap, type MapCreateOptions } from "../../src/bpf/map/map.js";
import { u32, u64 } from "../../src/bpf/map/codec.js";
import {
  isBpffs,
  openOrCreatePinnedMap,
  openPinned,
  openPinnedLink,
  pinFd,
  unpinPath,
} from "../../src/bpf/pin.js";
import { BpfProgram } from "../../src/bpf/prog/program.js";
import { linkCreateRaw } from "../../src/bpf/sys/bpf.js";
import { native } from "../../src/bpf/sys/native.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import { createNetns, deleteNetns } from "../../src/testbed/netns.js";
import { returns } from "./asm.js";

let fs: Bpffs;
before(() => {
  fs = mountBpffs();
});
after(() => fs.cleanup());

const at = (name: string): string => join(fs.path, name);
const counters: MapCreateOptions = {
  type: MapType.HASH,
  keySize: 4,
  valueSize: 8,
  maxEntries: 16,
  name: "kt_pinned",
};

test("the private mount is a bpffs and /tmp is not", () => {
  assert.ok(isBpffs(fs.path));
  assert.equal(isBpffs("/tmp"), false);
});

test("a pinned map outlives its fd and reopens read-only on request", () => {
  const m = BpfMap.create(counters);
  m.update(u32.encode(1), u64.encode(11n));
  m.pin(at("map_a"));
  const id = m.id;
  m.close();
  const again = BpfMap.openPinned(at("map_a"));
  const ro = BpfMap.openPinned(at("map_a"), { readOnly: true });
  try {
    assert.equal(again.id, id);
    assert.equal(again.lookup(u32.encode(1))?.readBigUInt64LE(0), 11n);
    assert.equal(ro.lookup(u32.encode(1))?.readBigUInt64LE(0), 11n);
    assert.throws(
      () => ro.update(u32.encode(1), u64.encode(0n)),
      (e: unknown) => e instanceof BpfError && e.errnoName === "EPERM",
    );
  } finally {
    again.close();
    ro.close();
  }
  assert.equal(unpinPath(at("map_a")), true);
  assert.equal(unpinPath(at("map_a")), false, "already gone");
  assert.throws(
    () => BpfMap.openPinned(at("map_a")),
    (e: unknown) => e instanceof BpfError && e.errnoName === "ENOENT",
  );
});

test("programs pin too; each kind refuses to open the other", () => {
  const p = BpfProgram.load({
    type: ProgType.SOCKET_FILTER,
    insns: returns(0),
    license: "GPL",
    name: "kt_pin",
  });
  try {
    p.pin(at("prog_a"));
    const again = BpfProgram.openPinned(at("prog_a"));
    try {
      assert.equal(again.id, p.id);
      assert.equal(again.name, "kt_pin");
    } finally {
      again.close();
    }
    assert.throws(
      () => BpfMap.openPinned(at("prog_a")),
      (e: unknown) => e instanceof PlexusBpfError && /not a map/.test(e.message),
    );
    const any = openPinned(at("prog_a"));
    assert.ok(any instanceof BpfProgram);
    any.close();
    assert.throws(
      () => p.pin(at("prog_a")),
      (e: unknown) => e instanceof PinError && /exists/.test(e.message),
    );
    assert.throws(
      () => p.pin(at("prog.b")),
      (e: unknown) => e instanceof PinError && /'\.'/.test(e.message),
    );
    assert.throws(
      () => p.pin("/tmp/kt_not_bpffs"),
      (e: unknown) => e instanceof PinError && /mount -t bpf/.test(e.message),
    );
  } finally {
    p.close();
    unpinPath(at("prog_a"));
  }
});

test("reuse: the pinned map is reused when compatible, refused with the differences otherwise", () => {
  const path = at("reuse");
  const a = openOrCreatePinnedMap(path, counters, "reuse");
  const b = openOrCreatePinnedMap(path, counters, "reuse");
  try {
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.map.id, a.map.id);
    a.map.update(u32.encode(3), u64.encode(33n));
    assert.equal(b.map.lookup(u32.encode(3))?.readBigUInt64LE(0), 33n);
    assert.throws(
      () =>
        openOrCreatePinnedMap(path, { ...counters, maxEntries: 32, flags: MapFlags.NO_PREALLOC }, "reuse"),
      (e: unknown) =>
        e instanceof PinError &&
        /max entries 16, expected 32/.test(e.message) &&
        /flags 0x0, expected 0x1/.test(e.message) &&
        /rm /.test(e.message) &&
        /replace/.test(e.message),
    );
    assert.throws(
      () => openOrCreatePinnedMap(path, { ...counters, type: MapType.LRU_HASH, valueSize: 16 }, "reuse"),
      (e: unknown) =>
        e instanceof PinError &&
        /type hash, expected lru_hash/.test(e.message) &&
        /value size 8, expected 16/.test(e.message),
    );
  } finally {
    a.map.close();
    b.map.close();
    unpinPath(path);
  }
});

test("replace: a fresh map takes the pin; fail: refuses an existing pin", () => {
  const path = at("replace");
  const old = openOrCreatePinnedMap(path, counters, "fail");
  try {
    assert.equal(old.created, true);
    old.map.update(u32.encode(1), u64.encode(1n));
    assert.throws(
      () => openOrCreatePinnedMap(path, counters, "fail"),
      (e: unknown) => e instanceof PinError && /already pinned/.test(e.message),
    );
    const fresh = openOrCreatePinnedMap(path, { ...counters, maxEntries: 64 }, "replace");
    try {
      assert.equal(fresh.created, true);
      assert.notEqual(fresh.map.id, old.map.id);
      assert.equal(fresh.map.lookup(u32.encode(1)), undefined, "no old state");
      const pinned = BpfMap.openPinned(path);
      assert.equal(pinned.id, fresh.map.id);
      assert.equal(pinned.maxEntries, 64);
      pinned.close();
      assert.equal(old.map.lookup(u32.encode(1))?.readBigUInt64LE(0), 1n, "the old map lives on while open");
    } finally {
      fresh.map.close();
    }
  } finally {
    old.map.close();
    unpinPath(path);
  }
});

test("links pin and reopen with a type check", async () => {
  // An sk_lookup program attached to a throw-away network namespace: a netns link.
  const ns = await createNetns("kp");
  const p = BpfProgram.load({
    type: ProgType.SK_LOOKUP,
    expectedAttachType: AttachType.SK_LOOKUP,
    insns: returns(1),
    license: "GPL",
  });
  const nsFd = openSync(`/run/netns/${ns}`, "r");
  try {
    const link = linkCreateRaw({ progFd: p.fd, target: nsFd, attachType: AttachType.SK_LOOKUP });
    assert.ok(link.fd >= 0, `link_create errno ${link.errno}`);
    try {
      const n = native();
      const path = at("link_a");
      pinFd(link.fd, path);
      const l = openPinnedLink(path, LinkType.NETNS);
      assert.equal(l.type, LinkType.NETNS);
      assert.equal(l.progId, p.id);
      n.close(l.fd);
      assert.throws(
        () => openPinnedLink(path, LinkType.XDP),
        (e: unknown) => e instanceof PinError && /netns link, expected xdp/.test(e.message),
      );
      unpinPath(path);
    } finally {
      native().close(link.fd);
    }
  } finally {
    closeSync(nsFd);
    p.close();
    deleteNetns(ns);
  }
});
