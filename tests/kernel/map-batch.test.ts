// Batched map operations, and the per-element fallback for map types without them.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { MapFlags, MapType } from "../../src/bpf/constants.js";
import { BpfError } from "../../src/bpf/errors.js";
import { BatchCursor, BpfMap } from "../../src/bpf/map/map.js";
import { ipv4, lpmKey, u32, u64 } from "../../src/bpf/map/codec.js";
import { possibleCpus } from "../../src/bpf/sys/cpus.js";

const maps: BpfMap[] = [];
const track = (m: BpfMap): BpfMap => (maps.push(m), m);
after(() => maps.forEach((m) => m.close()));

const keys = (n: number, from = 0): Buffer[] => Array.from({ length: n }, (_, i) => u32.encode(from + i));
const vals = (n: number, mul = 10): Buffer[] =>
  Array.from({ length: n }, (_, i) => u64.encode(BigInt(i * mul)));

/** Reads a whole map through lookupBatch in chunks of `chunk`, as a sorted [key, value] list. */
function dump(m: BpfMap, chunk: number, del = false): [number, bigint][] {
  const out: [number, bigint][] = [];
  const cursor = new BatchCursor();
  const bufs = m.batchBuffers(chunk);
  while (!cursor.done) {
    const c = del ? m.lookupAndDeleteBatch(cursor, chunk, bufs) : m.lookupBatch(cursor, chunk, bufs);
    assert.ok(c.count <= chunk);
    for (let i = 0; i < c.count; i++)
      out.push([c.keys.readUInt32LE(i * m.keySize), c.values.readBigUInt64LE(i * m.valueBufferSize)]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

test("hash map: update, lookup, lookup-and-delete and delete in batches", () => {
  const m = track(BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1024 }));
  assert.equal(m.updateBatch(keys(500), vals(500)), 500);
  const all = dump(m, 64);
  assert.equal(all.length, 500);
  assert.deepEqual(all[123], [123, 1230n]);
  assert.deepEqual([...m.entriesBatched(100)].length, 500, "entriesBatched walks the same elements");
  assert.equal(m.deleteBatch(keys(100)), 100);
  assert.equal(m.lookup(u32.encode(5)), undefined);
  assert.throws(
    () => m.deleteBatch(keys(1, 50)),
    (e: unknown) => e instanceof BpfError && e.errnoName === "ENOENT",
  );
  const drained = dump(m, 128, true);
  assert.equal(drained.length, 400);
  assert.equal(m.nextKey(null), undefined, "lookup-and-delete emptied the map");
});

test("flat key and value buffers work as well as arrays", () => {
  const m = track(BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 16 }));
  assert.equal(m.updateBatch(Buffer.concat(keys(10)), Buffer.concat(vals(10, 3))), 10);
  assert.equal(m.lookup(u32.encode(9))?.readBigUInt64LE(0), 27n);
});

test("array map: batch lookup walks every index, update batch writes in place", () => {
  const m = track(BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 100 }));
  m.updateBatch(keys(10, 90), vals(10, 2));
  const all = dump(m, 33);
  assert.equal(all.length, 100);
  assert.deepEqual(all[95], [95, 10n]);
  assert.deepEqual(all[0], [0, 0n]);
});

test("per-CPU hash: batch values carry every CPU's slot", () => {
  const cpus = possibleCpus();
  const m = track(BpfMap.create({ type: MapType.PERCPU_HASH, keySize: 4, valueSize: 8, maxEntries: 16 }));
  const blob = (n: number) =>
    Buffer.concat(Array.from({ length: cpus }, (_, c) => u64.encode(BigInt(n * 100 + c))));
  m.updateBatch([u32.encode(1), u32.encode(2)], [blob(1), blob(2)]);
  const c = m.lookupBatch(new BatchCursor(), 16);
  assert.equal(c.count, 2);
  const perCpu = (i: number) =>
    Array.from({ length: cpus }, (_, cpu) => c.values.readBigUInt64LE(i * m.valueBufferSize + cpu * 8));
  const byKey = new Map([0, 1].map((i) => [c.keys.readUInt32LE(i * 4), perCpu(i)]));
  assert.deepEqual(
    byKey.get(2),
    Array.from({ length: cpus }, (_, cpu) => BigInt(200 + cpu)),
  );
});

test("map types without batch support fall back to element operations behind the same API", () => {
  // cpumap has no batch operations: one entry (a queue size) per CPU.
  const cpus = possibleCpus();
  const m = track(BpfMap.create({ type: MapType.CPUMAP, keySize: 4, valueSize: 4, maxEntries: cpus }));
  const qsizes = Array.from({ length: cpus }, (_, i) => u32.encode(64 * (i + 1)));
  assert.equal(m.updateBatch(keys(cpus), qsizes), cpus);
  const cursor = new BatchCursor();
  const got: number[] = [];
  while (!cursor.done) {
    const c = m.lookupBatch(cursor, 1);
    for (let i = 0; i < c.count; i++) got.push(c.values.readUInt32LE(i * 4));
  }
  assert.ok(cursor.emulated, "walked element by element");
  assert.deepEqual(
    got,
    Array.from({ length: cpus }, (_, i) => 64 * (i + 1)),
  );
  assert.equal(m.deleteBatch(keys(cpus)), cpus);
  assert.equal(m.lookup(u32.encode(0)), undefined);
});

test("LPM tries have kernel batch support", () => {
  const key = lpmKey(ipv4);
  const m = track(
    BpfMap.create({
      type: MapType.LPM_TRIE,
      keySize: key.size,
      valueSize: 8,
      maxEntries: 64,
      flags: MapFlags.NO_PREALLOC,
    }),
  );
  const ks = Array.from({ length: 20 }, (_, i) => key.encode({ prefixLen: 32, data: `198.18.0.${i}` }));
  assert.equal(m.updateBatch(ks, vals(20)), 20);
  const cursor = new BatchCursor();
  let n = 0;
  while (!cursor.done) n += m.lookupBatch(cursor, 7).count;
  assert.equal(n, 20);
  assert.equal(cursor.emulated, false);
  assert.equal(m.deleteBatch(ks.slice(0, 5)), 5);
  assert.equal([...m.keys()].length, 15);
});
