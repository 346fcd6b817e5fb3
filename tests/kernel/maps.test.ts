// Every map type the kernel side supports, exercised against the real kernel.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MapFlags, MapType, ProgType, UpdateFlags, AttachType } from "../../src/bpf/constants.js";
import { BpfError, NotSupportedError, PlexusBpfError } from "../../src/bpf/errors.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { ipv4, lpmKey, none, u32, u64 } from "../../src/bpf/map/codec.js";
import { BpfProgram } from "../../src/bpf/prog/program.js";
import { possibleCpus } from "../../src/bpf/sys/cpus.js";
import { native } from "../../src/bpf/sys/native.js";
import { createNetns, deleteNetns, withNetns } from "../../src/testbed/netns.js";
import { returns } from "./asm.js";
import { openBoundXsk } from "./xsk.js";

const k32 = (n: number): Buffer => u32.encode(n);
const v64 = (n: number | bigint): Buffer => u64.encode(BigInt(n));
const num64 = (b: Buffer | undefined): bigint | undefined => b?.readBigUInt64LE(0);

const maps: BpfMap[] = [];
const track = (m: BpfMap): BpfMap => (maps.push(m), m);
after(() => maps.forEach((m) => m.close()));

describe("hash and array maps", () => {
  test("hash: update, lookup, NOEXIST/EXIST, delete, iterate", () => {
    const m = track(
      BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, name: "kt_hash" }),
    );
    assert.equal(m.name, "kt_hash");
    assert.ok(m.id > 0);
    assert.equal(m.lookup(k32(1)), undefined);
    m.update(k32(1), v64(10));
    m.update(k32(2), v64(20), UpdateFlags.NOEXIST);
    assert.equal(num64(m.lookup(k32(1))), 10n);
    assert.throws(
      () => m.update(k32(2), v64(21), UpdateFlags.NOEXIST),
      (e: unknown) => e instanceof BpfError && e.errnoName === "EEXIST",
    );
    assert.throws(
      () => m.update(k32(3), v64(30), UpdateFlags.EXIST),
      (e: unknown) => e instanceof BpfError && e.errnoName === "ENOENT",
    );
    const seen = [...m.entries()].map(([k, v]) => [k.readUInt32LE(0), v.readBigUInt64LE(0)]);
    assert.deepEqual(
      seen.sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [1, 10n],
        [2, 20n],
      ],
    );
    assert.equal(m.delete(k32(1)), true);
    assert.equal(m.delete(k32(1)), false, "absent key");
    assert.deepEqual(
      [...m.keys()].map((k) => k.readUInt32LE(0)),
      [2],
    );
    assert.throws(() => m.lookup(Buffer.alloc(3)), PlexusBpfError, "wrong key size");
  });

  test("deleting every key while iterating visits each once", () => {
    const m = track(BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 64 }));
    for (let i = 0; i < 50; i++) m.update(k32(i), v64(i));
    let n = 0;
    for (const k of m.keys()) {
      assert.ok(m.delete(k));
      n++;
    }
    assert.equal(n, 50);
    assert.equal(m.nextKey(null), undefined);
  });

  test("array: every index exists, out of range fails, delete is refused", () => {
    const m = track(BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 }));
    assert.equal(num64(m.lookup(k32(3))), 0n, "zero-filled");
    m.update(k32(3), v64(33));
    assert.equal(num64(m.lookup(k32(3))), 33n);
    assert.equal(m.lookup(k32(4)), undefined);
    assert.throws(
      () => m.update(k32(4), v64(1)),
      (e: unknown) => e instanceof BpfError && e.errnoName === "E2BIG",
    );
    assert.throws(
      () => m.delete(k32(0)),
      (e: unknown) => e instanceof BpfError && e.errnoName === "EINVAL",
    );
    assert.deepEqual(
      [...m.keys()].map((k) => k.readUInt32LE(0)),
      [0, 1, 2, 3],
    );
  });

  test("per-CPU hash and array: one value per possible CPU", () => {
    const cpus = possibleCpus();
    for (const type of [MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH]) {
      // A 4-byte value occupies an 8-byte slot per CPU in the syscall buffer.
      const m = track(BpfMap.create({ type, keySize: 4, valueSize: 4, maxEntries: 4 }));
      assert.equal(m.perCpu, true);
      assert.equal(m.valueBufferSize, 8 * cpus);
      const values = Array.from({ length: cpus }, (_, i) => u32.encode(100 + i));
      m.updatePerCpu(k32(1), values);
      assert.deepEqual(
        m.lookupPerCpu(k32(1))?.map((b) => b.readUInt32LE(0)),
        values.map((b) => b.readUInt32LE(0)),
      );
      m.update(k32(2), u32.encode(7)); // one value for every CPU
      assert.deepEqual(
        m.lookupPerCpu(k32(2))?.map((b) => b.readUInt32LE(0)),
        Array(cpus).fill(7),
      );
      const typed = m.typed(u32, u32);
      assert.deepEqual(typed.lookupPerCpu(1), [100, 101, 102, 103].slice(0, cpus));
    }
  });

  test("LRU hash: inserting beyond max entries evicts old keys instead of failing", () => {
    const m = track(BpfMap.create({ type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 64 }));
    for (let i = 0; i < 1000; i++) m.update(k32(i), v64(i));
    const count = [...m.keys()].length;
    assert.ok(count <= 64 && count > 0, `${count} entries`);
    assert.equal(num64(m.lookup(k32(999))), 999n, "the newest key survives");
    assert.equal(m.lookup(k32(0)), undefined, "the oldest key was evicted");
  });

  test("a plain hash map refuses inserts beyond max entries", () => {
    const m = track(BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 2 }));
    m.update(k32(1), v64(1));
    m.update(k32(2), v64(2));
    assert.throws(
      () => m.update(k32(3), v64(3)),
      (e: unknown) => e instanceof BpfError && e.errnoName === "E2BIG",
    );
  });
});

describe("LPM trie", () => {
  test("lookups return the longest matching prefix", () => {
    const key = lpmKey(ipv4);
    const m = track(
      BpfMap.create({
        type: MapType.LPM_TRIE,
        keySize: key.size,
        valueSize: 4,
        maxEntries: 16,
        flags: MapFlags.NO_PREALLOC,
      }),
    );
    const t = m.typed(key, u32);
    t.update({ prefixLen: 15, data: "198.18.0.0" }, 15);
    t.update({ prefixLen: 24, data: "198.18.1.0" }, 24);
    t.update({ prefixLen: 32, data: "198.18.1.7" }, 32);
    assert.equal(t.lookup({ prefixLen: 32, data: "198.18.1.5" }), 24);
    assert.equal(t.lookup({ prefixLen: 32, data: "198.18.1.7" }), 32);
    assert.equal(t.lookup({ prefixLen: 32, data: "198.19.200.1" }), 15);
    assert.equal(t.lookup({ prefixLen: 32, data: "10.0.0.1" }), undefined);
    const prefixes = [...t.keys()].map((k) => `${k.data}/${k.prefixLen}`).sort();
    assert.deepEqual(prefixes, ["198.18.0.0/15", "198.18.1.0/24", "198.18.1.7/32"]);
    assert.ok(t.delete({ prefixLen: 24, data: "198.18.1.0" }));
    assert.equal(t.lookup({ prefixLen: 32, data: "198.18.1.5" }), 15);
  });

  test("creating an LPM trie without NO_PREALLOC explains the flag", () => {
    assert.throws(
      () => BpfMap.create({ type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 4 }),
      (e: unknown) => e instanceof BpfError && /NO_PREALLOC/.test(e.message),
    );
  });
});

describe("queue, stack and bloom filter", () => {
  test("queue is FIFO, peek does not remove, full queue refuses or overwrites with EXIST", () => {
    const q = track(BpfMap.create({ type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3 }));
    for (const v of [1, 2, 3]) q.push(u32.encode(v));
    assert.throws(
      () => q.push(u32.encode(4)),
      (e: unknown) => e instanceof BpfError && e.errnoName === "E2BIG",
    );
    q.push(u32.encode(4), UpdateFlags.EXIST); // drops the oldest (1)
    assert.equal(q.peek()?.readUInt32LE(0), 2);
    assert.deepEqual(
      [q.pop(), q.pop(), q.pop()].map((b) => b?.readUInt32LE(0)),
      [2, 3, 4],
    );
    assert.equal(q.pop(), undefined, "empty");
  });

  test("stack is LIFO", () => {
    const s = track(BpfMap.create({ type: MapType.STACK, keySize: 0, valueSize: 4, maxEntries: 8 }));
    const t = s.typed(none, u32);
    for (const v of [1, 2, 3]) t.push(v);
    assert.deepEqual([t.pop(), t.pop(), t.peek(), t.pop(), t.pop()], [3, 2, 1, 1, undefined]);
  });

  test("bloom filter: members are found, most non-members are not", () => {
    const b = track(
      BpfMap.create({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 100, mapExtra: 3n }),
    );
    assert.equal(b.mapExtra, 3n, "number of hash functions");
    for (let i = 0; i < 50; i++) b.push(u32.encode(i * 7919));
    for (let i = 0; i < 50; i++) assert.ok(b.contains(u32.encode(i * 7919)), `member ${i}`);
    let falsePositives = 0;
    for (let i = 0; i < 200; i++) if (b.contains(u32.encode(1_000_000 + i))) falsePositives++;
    assert.ok(falsePositives < 20, `${falsePositives} false positives out of 200`);
  });
});

describe("maps holding fds", () => {
  test("prog array: an XDP program goes in, its id comes out", () => {
    const m = track(BpfMap.create({ type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 }));
    const p = BpfProgram.load({
      type: ProgType.XDP,
      expectedAttachType: AttachType.XDP,
      insns: returns(2),
      license: "GPL",
      name: "kt_tail",
    });
    try {
      m.update(k32(0), u32.encode(p.fd));
      assert.equal(m.lookup(k32(0))?.readUInt32LE(0), p.id);
      assert.equal(m.lookup(k32(1)), undefined);
      assert.ok(m.delete(k32(0)));
    } finally {
      p.close();
    }
  });

  test("array and hash of maps: inner maps by fd in, by id out", () => {
    const inner = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 });
    try {
      for (const type of [MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS]) {
        const outer = track(
          BpfMap.create({ type, keySize: 4, valueSize: 4, maxEntries: 4, innerMapFd: inner.fd }),
        );
        inner.update(k32(1), v64(42));
        outer.update(k32(3), u32.encode(inner.fd));
        const id = outer.lookup(k32(3))?.readUInt32LE(0);
        assert.equal(id, inner.id);
        const again = BpfMap.fromId(id as number);
        try {
          assert.equal(num64(again.lookup(k32(1))), 42n, "same map through its id");
        } finally {
          again.close();
        }
        // An inner map of another shape is refused.
        const odd = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 2 });
        try {
          assert.throws(() => outer.update(k32(0), u32.encode(odd.fd)), BpfError);
        } finally {
          odd.close();
        }
      }
    } finally {
      inner.close();
    }
  });

  test("maps of maps without an inner map say what is missing", () => {
    assert.throws(
      () => BpfMap.create({ type: MapType.ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1 }),
      (e: unknown) => e instanceof BpfError && /innerMapFd/.test(e.message),
    );
  });

  test("perf event array: one slot per CPU by default, holds perf event fds", () => {
    const m = track(
      BpfMap.create({ type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 0 }),
    );
    assert.equal(m.maxEntries, possibleCpus());
    // perf_event_attr for a PERF_TYPE_SOFTWARE / PERF_COUNT_SW_BPF_OUTPUT event on CPU 0.
    const attr = Buffer.alloc(128);
    attr.writeUInt32LE(1, 0); // type PERF_TYPE_SOFTWARE
    attr.writeUInt32LE(128, 4); // size
    attr.writeBigUInt64LE(10n, 8); // config PERF_COUNT_SW_BPF_OUTPUT
    attr.writeBigUInt64LE(1n, 16); // sample_period
    attr.writeBigUInt64LE(1n << 10n, 24); // sample_type PERF_SAMPLE_RAW
    const ev = native().perfEventOpen(attr, -1, 0, -1, 8 /* PERF_FLAG_FD_CLOEXEC */);
    assert.ok(ev.ret >= 0, `perf_event_open errno ${ev.errno}`);
    try {
      m.update(k32(0), u32.encode(ev.ret));
      assert.ok(m.delete(k32(0)));
      assert.equal(m.delete(k32(0)), false);
    } finally {
      native().close(ev.ret);
    }
  });
});

describe("redirect maps", () => {
  let ns = "";
  before(async () => {
    ns = await createNetns("km");
  });
  after(() => deleteNetns(ns));

  test("devmap and devmap_hash hold ifindexes of the caller's namespace", () => {
    withNetns(ns, () => {
      for (const type of [MapType.DEVMAP, MapType.DEVMAP_HASH]) {
        const m = track(BpfMap.create({ type, keySize: 4, valueSize: 4, maxEntries: 4 }));
        m.update(k32(2), u32.encode(1)); // lo of the test namespace
        assert.equal(m.lookup(k32(2))?.readUInt32LE(0), 1);
        assert.throws(() => m.update(k32(3), u32.encode(999999)), BpfError, "no such interface here");
        assert.ok(m.delete(k32(2)));
      }
    });
  });

  test("cpumap: an entry per CPU with its queue size", () => {
    const m = track(
      BpfMap.create({ type: MapType.CPUMAP, keySize: 4, valueSize: 4, maxEntries: possibleCpus() }),
    );
    m.update(k32(0), u32.encode(192));
    assert.equal(m.lookup(k32(0))?.readUInt32LE(0), 192);
    assert.ok(m.delete(k32(0)));
  });

  test("xskmap: takes a bound AF_XDP socket, refuses anything else", () => {
    const m = track(BpfMap.create({ type: MapType.XSKMAP, keySize: 4, valueSize: 4, maxEntries: 4 }));
    const udp = native().socket(2, 2, 0);
    try {
      assert.throws(() => m.update(k32(0), u32.encode(udp.ret)), BpfError, "a UDP socket is not an XSK");
    } finally {
      native().close(udp.ret);
    }
    const xsk = withNetns(ns, () => openBoundXsk(1));
    try {
      m.update(k32(0), u32.encode(xsk.fd));
      assert.ok(m.delete(k32(0)));
    } finally {
      xsk.close();
    }
  });
});

describe("other map types", () => {
  test("ring buffer and user ring buffer maps are created with power-of-two page multiples", () => {
    const page = native().pageSize();
    const r = track(BpfMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4 * page }));
    assert.equal(r.maxEntries, 4 * page);
    assert.throws(
      () => BpfMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 3 * page }),
      (e: unknown) => e instanceof BpfError && /power of 2/.test(e.message),
    );
  });

  test("fromFd and fromId agree with info(); fromFd refuses a program fd", () => {
    const m = track(
      BpfMap.create({ type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: 5, name: "kt_info" }),
    );
    const info = m.info();
    assert.deepEqual(
      [info.type, info.keySize, info.valueSize, info.maxEntries, info.name, info.id],
      [MapType.HASH, 8, 16, 5, "kt_info", m.id],
    );
    const same = BpfMap.fromId(m.id);
    try {
      assert.equal(same.name, "kt_info");
      assert.notEqual(same.fd, m.fd);
    } finally {
      same.close();
    }
    const p = BpfProgram.load({ type: ProgType.SOCKET_FILTER, insns: returns(0), license: "GPL" });
    const dup = p.fd;
    assert.throws(() => BpfMap.fromFd(dup), /not a bpf map/);
    // fromFd took ownership of the fd and closed it on refusal.
    assert.throws(
      () => p.info(),
      (e: unknown) => e instanceof BpfError && /^EBADFD?$/.test(e.errnoName),
    );
  });

  test("an unknown map type is NotSupportedError, not a raw errno", () => {
    assert.throws(
      () => BpfMap.create({ type: 1000, keySize: 4, valueSize: 4, maxEntries: 1 }),
      (e: unknown) => e instanceof NotSupportedError && /map type/.test(e.message),
    );
  });
});
