// Ring buffer reader: records produced by programs run with BPF_PROG_TEST_RUN, read from shared
// memory synchronously and through the async iterator (which must sleep, not spin, while idle).
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { MapType, ProgType } from "../../src/bpf/constants.js";
import { PlexusBpfError } from "../../src/bpf/errors.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { BpfProgram } from "../../src/bpf/prog/program.js";
import { RingBufferReader } from "../../src/bpf/ringbuf/index.js";
import { native } from "../../src/bpf/sys/native.js";
import {
  R0,
  R1,
  R2,
  R3,
  R4,
  R6,
  R7,
  R10,
  addImm,
  call,
  exit,
  insn,
  jeqImm,
  ldMapFd,
  ldxW,
  movImm,
  movReg,
  program,
  stW,
  stxW,
} from "./asm.js";

const R8 = 8;
const MAGIC = 0x5eed;

/** TC program: bpf_ringbuf_output(map, {skb->len, MAGIC}, 8, 0). */
const outputProgram = (map: BpfMap) =>
  BpfProgram.load({
    type: ProgType.SCHED_CLS,
    license: "GPL",
    name: "kt_rb_output",
    insns: program(
      ldxW(R7, R1, 0), // skb->len
      stxW(R10, R7, -8),
      stW(R10, -4, MAGIC),
      ldMapFd(R1, map.fd),
      movReg(R2, R10),
      addImm(R2, -8),
      movImm(R3, 8),
      movImm(R4, 0),
      call(130), // bpf_ringbuf_output
      movImm(R0, 0),
      exit(),
    ),
  });

/** TC program: reserve 16 bytes {len, MAGIC, mark, 0}, then discard when skb->mark == 1, else submit. */
const reserveProgram = (map: BpfMap) =>
  BpfProgram.load({
    type: ProgType.SCHED_CLS,
    license: "GPL",
    name: "kt_rb_reserve",
    insns: program(
      movReg(R6, R1), // 0
      ldMapFd(R1, map.fd), // 1-2
      movImm(R2, 16), // 3
      movImm(R3, 0), // 4
      call(131), // 5: bpf_ringbuf_reserve
      jeqImm(R0, 0, 12), // 6: -> 19
      ldxW(R7, R6, 0), // 7: skb->len
      stxW(R0, R7, 0), // 8
      stW(R0, 4, MAGIC), // 9
      ldxW(R8, R6, 8), // 10: skb->mark
      stxW(R0, R8, 8), // 11
      stW(R0, 12, 0), // 12
      movReg(R1, R0), // 13
      movImm(R2, 0), // 14
      jeqImm(R8, 1, 2), // 15: -> 18
      call(132), // 16: bpf_ringbuf_submit
      insn(0x05, 0, 0, 1, 0), // 17: goto 19
      call(133), // 18: bpf_ringbuf_discard
      movImm(R0, 0), // 19
      exit(), // 20
    ),
  });

const frame = (len: number): Buffer => Buffer.alloc(len);
const skbWithMark = (mark: number): Buffer => {
  const skb = Buffer.alloc(192);
  skb.writeUInt32LE(mark, 8);
  return skb;
};

function withRing<T>(pages: number, fn: (map: BpfMap, reader: RingBufferReader) => T): T {
  const map = BpfMap.create({
    type: MapType.RINGBUF,
    keySize: 0,
    valueSize: 0,
    maxEntries: pages * native().pageSize(),
  });
  const reader = new RingBufferReader(map);
  const done = () => {
    reader.close();
    map.close();
  };
  try {
    const r = fn(map, reader);
    if (r instanceof Promise) return r.finally(done) as T;
    done();
    return r;
  } catch (e) {
    done();
    throw e;
  }
}

test("records written with bpf_ringbuf_output are read in order, without syscalls", () =>
  withRing(4, (map, reader) => {
    const p = outputProgram(map);
    try {
      assert.equal(reader.read(), undefined, "empty");
      for (let i = 0; i < 10; i++) p.testRun({ data: frame(60 + i) });
      const got: [number, number][] = [];
      for (let r = reader.read(); r; r = reader.read()) got.push([r.readUInt32LE(0), r.readUInt32LE(4)]);
      assert.deepEqual(
        got,
        Array.from({ length: 10 }, (_, i) => [60 + i, MAGIC]),
      );
      assert.equal(reader.pending, 0, "consumer position caught up with the producer");
    } finally {
      p.close();
    }
  }));

test("reserve/submit/discard: drain skips discarded records", () =>
  withRing(4, (map, reader) => {
    const p = reserveProgram(map);
    try {
      for (let i = 0; i < 8; i++) p.testRun({ data: frame(64 + i), ctx: skbWithMark(i % 2) });
      const lens: number[] = [];
      const n = reader.drain((r) => {
        assert.equal(r.length, 16);
        assert.equal(r.readUInt32LE(4), MAGIC);
        assert.equal(r.readUInt32LE(8), 0, "only mark 0 was submitted");
        lens.push(r.readUInt32LE(0));
      });
      assert.equal(n, 4);
      assert.deepEqual(lens, [64, 66, 68, 70]);
      assert.equal(reader.pending, 0, "discarded records were consumed too");
    } finally {
      p.close();
    }
  }));

test("records keep their order across many wrap-arounds of a one-page ring", () =>
  withRing(1, (map, reader) => {
    const p = outputProgram(map);
    try {
      let expected = 0;
      for (let round = 0; round < 40; round++) {
        // 50 records of 16 bytes (8 header + 8 data) = 800 bytes a round, 32 KB in all.
        for (let i = 0; i < 50; i++) p.testRun({ data: frame(64 + ((round * 50 + i) % 1000)) });
        reader.drain((r) => {
          assert.equal(r.readUInt32LE(0), 64 + (expected % 1000));
          expected++;
        });
      }
      assert.equal(expected, 2000);
      // A full ring drops records (the program sees an error), it never overwrites unread ones.
      for (let i = 0; i < 400; i++) p.testRun({ data: frame(64) });
      const kept = reader.drain(() => undefined);
      // The kernel keeps what is pending strictly below the ring size: 255 records of 16 bytes.
      assert.equal(kept, 4096 / 16 - 1);
    } finally {
      p.close();
    }
  }));

test("async iterator: waits for records, then ends when the reader is closed", async () => {
  await withRing(4, async (map, reader) => {
    const p = outputProgram(map);
    try {
      const got: number[] = [];
      const consumer = (async () => {
        for await (const r of reader) got.push(r.readUInt32LE(0));
      })();
      for (let i = 0; i < 5; i++) {
        await sleep(20);
        p.testRun({ data: frame(100 + i) });
      }
      while (got.length < 5) await sleep(5);
      reader.close();
      await consumer;
      assert.deepEqual(got, [100, 101, 102, 103, 104]);
    } finally {
      p.close();
    }
  });
});

test("an idle async iterator sleeps in epoll: no CPU burnt while waiting", async () => {
  await withRing(1, async (map, reader) => {
    const p = outputProgram(map);
    try {
      const it = reader[Symbol.asyncIterator]();
      const next = it.next();
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await sleep(500);
      const cpu = process.cpuUsage(cpu0);
      const wall = Number(process.hrtime.bigint() - t0) / 1e3;
      const busy = (cpu.user + cpu.system) / wall;
      assert.ok(busy < 0.1, `waiting used ${(busy * 100).toFixed(1)}% of a CPU`);
      p.testRun({ data: frame(77) });
      const r = await next;
      assert.equal(r.done, false);
      assert.equal((r.value as Buffer).readUInt32LE(0), 77, "woken up by the record");
      reader.close();
      assert.deepEqual(await it.next(), { done: true, value: undefined });
    } finally {
      p.close();
    }
  });
});

test("the reader refuses maps that are not ring buffers", () => {
  const m = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  try {
    assert.throws(() => new RingBufferReader(m), PlexusBpfError);
  } finally {
    m.close();
  }
});
