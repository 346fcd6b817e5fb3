// Userspace maps against kernel maps: the same control-plane operations through the MapHandle
// API on a BpfMap and on a map of the runtime give the same values and the same errors (errno
// names). Iteration order is the kernel's business; key sets are compared as sets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapFlags, MapType, UpdateFlags } from "../../src/bpf/constants.js";
import { BpfError, PlexusBpfError } from "../../src/bpf/errors.js";
import { struct, u32, u64 } from "../../src/bpf/map/codec.js";
import type { MapHandle } from "../../src/bpf/map/handle.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import type { MapCreateOptions } from "../../src/bpf/map/map.js";
import { possibleCpus } from "../../src/bpf/sys/cpus.js";
import { Vm } from "../../src/vm/vm.js";

const root = process.getuid?.() === 0;
const k32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer);
const v64 = (n: number): Buffer => Buffer.from(BigUint64Array.of(BigInt(n)).buffer);

function outcome(fn: () => unknown): string {
  try {
    const v = fn();
    if (v === undefined) return "undefined";
    if (Buffer.isBuffer(v)) return v.toString("hex");
    if (Array.isArray(v))
      return `[${v.map((x) => (Buffer.isBuffer(x) ? x.toString("hex") : String(x))).join(",")}]`;
    return String(v);
  } catch (e) {
    if (e instanceof BpfError) return `error ${e.errnoName}`;
    if (e instanceof PlexusBpfError) return "error (refused before the system call)";
    throw e;
  }
}

const keySet = (m: MapHandle): string =>
  [...m.keys()]
    .map((k) => k.toString("hex"))
    .sort()
    .join(",");

type Script = (m: MapHandle) => string[];

function compare(opts: MapCreateOptions, script: Script): void {
  const kernel = BpfMap.create(opts);
  try {
    const vm = new Vm({ cpus: possibleCpus() });
    const mine = vm.createMap({ ...opts, name: opts.name ?? "" });
    assert.deepEqual(script(mine), script(kernel), `map type ${opts.type}`);
    assert.equal(mine.valueBufferSize, kernel.valueBufferSize);
    assert.equal(mine.perCpu, kernel.perCpu);
  } finally {
    kernel.close();
  }
}

test("arrays: bounds, flags, delete, iteration", { skip: !root }, () => {
  compare({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 }, (m) => [
    outcome(() => m.lookup(k32(0))),
    outcome(() => m.lookup(k32(4))),
    outcome(() => m.update(k32(1), v64(7))),
    outcome(() => m.update(k32(4), v64(7))),
    outcome(() => m.update(k32(1), v64(8), UpdateFlags.NOEXIST)),
    outcome(() => m.update(k32(2), v64(9), UpdateFlags.EXIST)),
    outcome(() => m.update(k32(1), v64(9), 7)),
    outcome(() => m.delete(k32(1))),
    outcome(() => m.nextKey(null)),
    outcome(() => m.nextKey(k32(3))),
    outcome(() => m.nextKey(k32(10))),
    outcome(() => [...m.entries()].map(([k, v]) => k.toString("hex") + v.toString("hex"))),
  ]);
});

test("hash maps: full, NOEXIST / EXIST, delete, lookup-and-delete", { skip: !root }, () => {
  for (const type of [MapType.HASH, MapType.LRU_HASH]) {
    compare({ type, keySize: 4, valueSize: 8, maxEntries: 4, name: "h" }, (m) => [
      ...[1, 2, 3].map((i) => outcome(() => m.update(k32(i), v64(i * 10)))),
      outcome(() => m.update(k32(2), v64(5), UpdateFlags.NOEXIST)),
      outcome(() => m.update(k32(9), v64(5), UpdateFlags.EXIST)),
      outcome(() => m.update(k32(2), v64(21), UpdateFlags.EXIST)),
      outcome(() => m.lookup(k32(2))),
      outcome(() => m.lookup(k32(8))),
      outcome(() => m.delete(k32(8))),
      outcome(() => m.delete(k32(3))),
      outcome(() => m.lookupAndDelete(k32(1))),
      outcome(() => m.lookupAndDelete(k32(1))),
      keySet(m),
      outcome(() => m.update(k32(1), v64(5), 9)),
    ]);
  }
  compare({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 2 }, (m) => [
    outcome(() => m.update(k32(1), v64(1))),
    outcome(() => m.update(k32(2), v64(2))),
    outcome(() => m.update(k32(3), v64(3))),
    outcome(() => m.update(k32(2), v64(4))),
  ]);
});

test("per-CPU maps: one slot per CPU, a single value fills them all", { skip: !root }, () => {
  for (const type of [MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]) {
    compare({ type, keySize: 4, valueSize: 4, maxEntries: 4 }, (m) => [
      outcome(() => m.update(k32(1), k32(7))),
      outcome(() => m.lookupPerCpu(k32(1))),
      outcome(() =>
        m.updatePerCpu(
          k32(2),
          Array.from({ length: possibleCpus() }, (_, i) => k32(i + 100)),
        ),
      ),
      outcome(() => m.lookup(k32(2))),
      outcome(() => m.update(k32(3), Buffer.alloc(3))),
    ]);
  }
});

test("LPM tries: longest prefix, exact deletes, limits", { skip: !root }, () => {
  const key = (len: number, a: number[]): Buffer => Buffer.from([...k32(len), ...a]);
  compare(
    { type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 3, flags: MapFlags.NO_PREALLOC },
    (m) => [
      outcome(() => m.update(key(8, [198, 0, 0, 0]), k32(8))),
      outcome(() => m.update(key(16, [198, 18, 9, 9]), k32(16))),
      outcome(() => m.update(key(24, [198, 18, 7, 0]), k32(24))),
      outcome(() => m.update(key(25, [198, 18, 7, 0]), k32(25))),
      outcome(() => m.update(key(33, [198, 18, 7, 0]), k32(33))),
      outcome(() => m.lookup(key(32, [198, 18, 7, 200]))),
      outcome(() => m.lookup(key(32, [198, 18, 8, 1]))),
      outcome(() => m.lookup(key(32, [198, 99, 8, 1]))),
      outcome(() => m.lookup(key(32, [10, 0, 0, 1]))),
      outcome(() => m.delete(key(24, [198, 18, 7, 99]))),
      outcome(() => m.delete(key(24, [198, 18, 7, 0]))),
      outcome(() => m.lookup(key(32, [198, 18, 7, 200]))),
      keySet(m).length.toString(),
    ],
  );
});

test("queues and stacks: order, full, overwriting the oldest, empty", { skip: !root }, () => {
  for (const type of [MapType.QUEUE, MapType.STACK]) {
    compare({ type, keySize: 0, valueSize: 4, maxEntries: 3 }, (m) => [
      ...[1, 2, 3, 4].map((i) => outcome(() => m.push(k32(i)))),
      outcome(() => m.push(k32(5), UpdateFlags.EXIST)),
      outcome(() => m.peek()),
      outcome(() => m.pop()),
      outcome(() => m.pop()),
      outcome(() => m.pop()),
      outcome(() => m.pop()),
      outcome(() => m.push(k32(6), UpdateFlags.NOEXIST)),
    ]);
  }
});

test("bloom filters: members are found", { skip: !root }, () => {
  compare({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 64 }, (m) => [
    ...[3, 5, 9].map((i) => outcome(() => m.push(k32(i)))),
    ...[3, 5, 9].map((i) => outcome(() => m.contains(k32(i)))),
  ]);
});

test("a typed view of a userspace map", () => {
  const vm = new Vm();
  const m = vm.createMap({ type: MapType.HASH, keySize: 4, valueSize: 16, maxEntries: 8, name: "flows" });
  const t = m.typed(u32, struct({ packets: u64, bytes: u64 }));
  t.update(7, { packets: 1n, bytes: 64n });
  t.update(9, { packets: 2n, bytes: 128n });
  assert.deepEqual(t.lookup(7), { packets: 1n, bytes: 64n });
  assert.deepEqual([...t.keys()].sort(), [7, 9]);
  assert.equal(t.delete(7), true);
  assert.equal(t.lookup(7), undefined);
  assert.throws(() => m.update(Buffer.alloc(3), Buffer.alloc(16)), /key of 3 bytes, expected 4/);
  assert.throws(
    () => vm.createMap({ type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 4 }),
    (e: unknown) => e instanceof BpfError && e.errnoName === "EINVAL",
  );
});
