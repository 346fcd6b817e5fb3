// Freezing maps and sharing MMAPABLE arrays (global data) with user space.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapFlags, MapType } from "../../src/bpf/constants.js";
import { BpfError, PlexusBpfError } from "../../src/bpf/errors.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { u32, u64 } from "../../src/bpf/map/codec.js";

const zero = u32.encode(0);

test("freeze makes a map read-only for user space", () => {
  const m = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  try {
    m.update(zero, u64.encode(5n));
    m.freeze();
    assert.throws(
      () => m.update(zero, u64.encode(6n)),
      (e: unknown) => e instanceof BpfError && e.errnoName === "EPERM",
    );
    assert.equal(m.lookup(zero)?.readBigUInt64LE(0), 5n);
  } finally {
    m.close();
  }
});

test("writes through the mapping of an MMAPABLE array are what lookups see, and back", () => {
  const m = BpfMap.create({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 12,
    maxEntries: 3,
    flags: MapFlags.MMAPABLE,
  });
  try {
    const mem = m.mmap();
    assert.equal(mem.length, 2 * 16 + 12, "values at 8-byte strides");
    const view = Buffer.from(mem.buffer, mem.byteOffset, mem.length);
    view.writeUInt32LE(0xdeadbeef, 16 + 4); // element 1, bytes 4..8
    assert.equal(m.lookup(u32.encode(1))?.readUInt32LE(4), 0xdeadbeef);
    m.update(u32.encode(2), Buffer.from("hello world!"));
    assert.equal(view.subarray(32, 44).toString(), "hello world!");
    assert.equal(m.mmap().buffer, mem.buffer, "one mapping per map");
  } finally {
    m.close();
  }
});

test("a frozen map is mapped read-only; freezing a writably mapped map is refused", () => {
  const m = BpfMap.create({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 8,
    maxEntries: 1,
    flags: MapFlags.MMAPABLE,
  });
  try {
    m.update(zero, u64.encode(77n));
    m.mmap();
    assert.throws(
      () => m.freeze(),
      (e: unknown) => e instanceof BpfError && e.errnoName === "EBUSY",
    );
  } finally {
    m.close();
  }
  const f = BpfMap.create({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 8,
    maxEntries: 1,
    flags: MapFlags.MMAPABLE,
  });
  try {
    f.update(zero, u64.encode(78n));
    f.freeze();
    const mem = f.mmap();
    assert.equal(Buffer.from(mem.buffer, mem.byteOffset, 8).readBigUInt64LE(0), 78n);
  } finally {
    f.close();
  }
});

test("views outlive close() without crashing: they are detached from the map", () => {
  const m = BpfMap.create({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 8,
    maxEntries: 1,
    flags: MapFlags.MMAPABLE,
  });
  m.update(zero, u64.encode(9n));
  const mem = m.mmap();
  assert.equal(Buffer.from(mem.buffer, mem.byteOffset, 8).readBigUInt64LE(0), 9n);
  m.close();
  const stale = Buffer.from(mem.buffer, mem.byteOffset, 8);
  stale.writeBigUInt64LE(1n, 0); // would be a segfault had the pages been unmapped
  assert.equal(stale.readBigUInt64LE(0), 1n);
});

test("mmap of a map without MMAPABLE says which flag is missing", () => {
  const m = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  try {
    assert.throws(
      () => m.mmap(),
      (e: unknown) => e instanceof PlexusBpfError && /MMAPABLE/.test(e.message),
    );
  } finally {
    m.close();
  }
});
