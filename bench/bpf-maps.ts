// Map operations from user space: one syscall per element against one syscall per batch, and the
// JavaScript cost of a single lookup measured against the bare system call it wraps.
import { pathToFileURL } from "node:url";
import { BpfCmd, MapType } from "../src/bpf/constants.js";
import { BatchCursor, BpfMap } from "../src/bpf/map/map.js";
import { AttrSize, encodeMapElem } from "../src/bpf/sys/bpf.js";
import { stableBuffer } from "../src/bpf/sys/buffers.js";
import { native } from "../src/bpf/sys/native.js";
import {
  alternate,
  markdownTable,
  opsPerSecond,
  type Arm,
  type ArmResult,
  type Comparison,
} from "./harness.js";

const ENTRIES = 4096;
const BATCH = 256;
const ROUNDS = 7;
const PASSES = 8; // whole-map passes per sample

/** alternate(), after running every arm twice so the JIT has compiled them all. */
async function measure(arms: Arm[]): Promise<ArmResult[]> {
  for (let i = 0; i < 2; i++) for (const a of arms) await a.run();
  return alternate(arms, ROUNDS);
}

const keyOf = (i: number): Buffer => {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(i);
  return k;
};

function filledMap(type: number): { map: BpfMap; keys: Buffer[]; values: Buffer[] } {
  const map = BpfMap.create({ type, keySize: 4, valueSize: 8, maxEntries: ENTRIES });
  const keys = Array.from({ length: ENTRIES }, (_, i) => keyOf(i));
  const values = keys.map((_, i) => {
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(BigInt(i * 3));
    return v;
  });
  map.updateBatch(keys, values);
  return { map, keys, values };
}

/** Elements per second reading the whole map element by element. */
function singleLookups(map: BpfMap, keys: Buffer[]): number {
  return opsPerSecond(ENTRIES * PASSES, (i) => {
    if (!map.lookupView(keys[i % ENTRIES])) throw new Error("missing element");
  });
}

/** Elements per second reading the whole map with BPF_MAP_LOOKUP_BATCH. */
function batchLookups(map: BpfMap): number {
  const out = map.batchBuffers(BATCH);
  const cursor = new BatchCursor();
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < PASSES; p++) {
    cursor.reset();
    while (!cursor.done) n += map.lookupBatch(cursor, BATCH, out).count;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (n !== ENTRIES * PASSES) throw new Error(`batch walk saw ${n} elements`);
  return (n * 1e9) / ns;
}

function singleUpdates(map: BpfMap, keys: Buffer[], values: Buffer[]): number {
  return opsPerSecond(ENTRIES * PASSES, (i) => map.update(keys[i % ENTRIES], values[i % ENTRIES]));
}

function batchUpdates(map: BpfMap, keys: Buffer[], values: Buffer[]): number {
  const flatKeys = Buffer.concat(keys);
  const flatValues = Buffer.concat(values);
  const chunks = ENTRIES / BATCH;
  return (
    opsPerSecond(chunks * PASSES, (i) => {
      const c = i % chunks;
      map.updateBatch(
        flatKeys.subarray(c * BATCH * 4, (c + 1) * BATCH * 4),
        flatValues.subarray(c * BATCH * 8, (c + 1) * BATCH * 8),
      );
    }) * BATCH
  );
}

export async function run(): Promise<Comparison[]> {
  const out: Comparison[] = [];
  for (const [label, type] of [
    ["hash", MapType.HASH],
    ["array", MapType.ARRAY],
  ] as const) {
    const { map, keys, values } = filledMap(type);
    try {
      out.push({
        title: `${label} map lookup, ${ENTRIES} entries`,
        unit: "elements/s",
        baseline: "single (MAP_LOOKUP_ELEM)",
        arms: await measure([
          { name: `batch of ${BATCH} (MAP_LOOKUP_BATCH)`, run: () => batchLookups(map) },
          { name: "single (MAP_LOOKUP_ELEM)", run: () => singleLookups(map, keys) },
        ]),
        target: { arm: `batch of ${BATCH} (MAP_LOOKUP_BATCH)`, atLeast: 2 },
      });
      out.push({
        title: `${label} map update, ${ENTRIES} entries`,
        unit: "elements/s",
        baseline: "single (MAP_UPDATE_ELEM)",
        arms: await measure([
          { name: `batch of ${BATCH} (MAP_UPDATE_BATCH)`, run: () => batchUpdates(map, keys, values) },
          { name: "single (MAP_UPDATE_ELEM)", run: () => singleUpdates(map, keys, values) },
        ]),
        target: { arm: `batch of ${BATCH} (MAP_UPDATE_BATCH)`, atLeast: 2 },
      });
    } finally {
      map.close();
    }
  }

  // What BpfMap adds on top of the system call: the same lookup through a prebuilt attr.
  const { map, keys } = filledMap(MapType.HASH);
  try {
    const key = stableBuffer(4);
    const value = stableBuffer(8);
    key.set(keys[7]);
    const attr = encodeMapElem(stableBuffer(AttrSize.MAP_ELEM), map.fd, key, value);
    const n = native();
    const ops = 200_000;
    out.push({
      title: "single lookup: BpfMap against the bare syscall",
      unit: "lookups/s",
      baseline: "bare bpf(2), prebuilt attr",
      arms: await measure([
        { name: "BpfMap.lookupView", run: () => opsPerSecond(ops, () => map.lookupView(keys[7])) },
        { name: "BpfMap.lookup (copies the value)", run: () => opsPerSecond(ops, () => map.lookup(keys[7])) },
        {
          name: "bare bpf(2), prebuilt attr",
          run: () => opsPerSecond(ops, () => n.bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, 32)),
        },
      ]),
      target: { arm: "BpfMap.lookupView", atLeast: 0.8 },
      notes: ["the syscall dominates when BpfMap.lookupView stays within 20% of the bare call"],
    });
  } finally {
    map.close();
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  console.log(markdownTable(await run()));
