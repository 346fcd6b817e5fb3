// Draining records produced in the kernel: the ring buffer reader (shared memory, no system call
// per record) against the same records passed through a queue map and popped with one
// BPF_MAP_LOOKUP_AND_DELETE_ELEM system call each, the naive way to get events to user space.
// Records are produced by BPF_PROG_TEST_RUN with `repeat`, so producing costs a few syscalls and
// only the draining is timed.
import { pathToFileURL } from "node:url";
import { MapType, ProgType } from "../src/bpf/constants.js";
import {
  FP,
  R0,
  R1,
  R2,
  R3,
  R4,
  Size,
  alu64,
  build,
  call,
  encode,
  exit,
  ldMapFd,
  mov64,
  st,
  type AsmItem,
} from "../src/bpf/insn/index.js";
import { BpfMap } from "../src/bpf/map/map.js";
import { BpfProgram } from "../src/bpf/prog/program.js";
import { RingBufferReader } from "../src/bpf/ringbuf/index.js";
import { alternate, markdownTable, type Comparison } from "./harness.js";

const RECORDS = 50_000;
const RECORD_SIZE = 16;
const ROUNDS = 5;

/** A 16-byte record on the stack at fp-16, then `send` (which calls the helper). */
const withRecord = (send: AsmItem[]): Buffer =>
  encode(build([st(Size.DW, FP, -16, 0x1234), st(Size.DW, FP, -8, 0x5678), ...send, mov64(R0, 0), exit()]));

const load = (name: string, insns: Buffer): BpfProgram =>
  BpfProgram.load({ type: ProgType.SCHED_CLS, insns, license: "GPL", name });

/** bpf_ringbuf_output(ring, fp-16, 16, 0) */
const ringProducer = (ring: BpfMap) =>
  load(
    "bench_rb_out",
    withRecord([
      ldMapFd(R1, ring.fd),
      mov64(R2, FP),
      alu64.add(R2, -16),
      mov64(R3, RECORD_SIZE),
      mov64(R4, 0),
      call(130),
    ]),
  );

/** bpf_map_push_elem(queue, fp-16, 0) */
const queueProducer = (queue: BpfMap) =>
  load(
    "bench_q_push",
    withRecord([ldMapFd(R1, queue.fd), mov64(R2, FP), alu64.add(R2, -16), mov64(R3, 0), call(87)]),
  );

const packet = Buffer.alloc(64);

function produce(p: BpfProgram, n: number): void {
  p.testRun({ data: packet, repeat: n });
}

function timed(drain: () => number): number {
  const t0 = process.hrtime.bigint();
  const n = drain();
  const ns = Number(process.hrtime.bigint() - t0);
  if (n !== RECORDS) throw new Error(`drained ${n} records, expected ${RECORDS}`);
  return (n * 1e9) / ns;
}

export async function run(): Promise<Comparison[]> {
  // 24 bytes a record with its header: 50k records need 1.2 MB; 2 MiB leaves room.
  const ring = BpfMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 2 << 20 });
  const queue = BpfMap.create({
    type: MapType.QUEUE,
    keySize: 0,
    valueSize: RECORD_SIZE,
    maxEntries: RECORDS,
  });
  const reader = new RingBufferReader(ring);
  const rp = ringProducer(ring);
  const qp = queueProducer(queue);
  try {
    let sink = 0;
    const arms = [
      {
        name: "ring buffer drain (shared memory)",
        run: () => {
          produce(rp, RECORDS);
          return timed(() => reader.drain((r) => (sink += r[0])));
        },
      },
      {
        name: "ring buffer read() (a copy per record)",
        run: () => {
          produce(rp, RECORDS);
          return timed(() => {
            let n = 0;
            for (let r = reader.read(); r; r = reader.read()) n++;
            return n;
          });
        },
      },
      {
        name: "queue map pop (a syscall per record)",
        run: () => {
          produce(qp, RECORDS);
          return timed(() => {
            let n = 0;
            while (queue.lookupAndDelete(null)) n++;
            return n;
          });
        },
      },
    ];
    // Warm up: let the JIT compile every arm before anything is measured.
    for (let i = 0; i < 3; i++) for (const a of arms) await a.run();
    const results = await alternate(arms, ROUNDS);
    void sink;
    return [
      {
        title: `records drained to user space (${RECORD_SIZE}-byte records)`,
        unit: "records/s",
        baseline: "queue map pop (a syscall per record)",
        arms: results,
        target: { arm: "ring buffer drain (shared memory)", atLeast: 5 },
        notes: ["baseline: the same records pushed to a BPF queue map and popped one syscall each"],
      },
    ];
  } finally {
    reader.close();
    rp.close();
    qp.close();
    ring.close();
    queue.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  console.log(markdownTable(await run()));
