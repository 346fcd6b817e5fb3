// Differential runs: one object loaded into the kernel and into the userspace runtime (once per
// engine), every program run on every packet of the corpus by BPF_PROG_TEST_RUN and by each
// engine, and the return value, packet bytes out, context out and the contents of every map
// compared after each run. Per-CPU maps are compared exactly: the thread is pinned to CPU 0 and
// the runtime runs as CPU 0.
import { MapType, mapTypeName } from "../../src/bpf/constants.js";
import { BpfError } from "../../src/bpf/errors.js";
import type { TestRunResult } from "../../src/bpf/prog/program.js";
import type { MapHandle } from "../../src/bpf/map/handle.js";
import { BatchCursor } from "../../src/bpf/map/batch.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { BpfObject } from "../../src/bpf/object/object.js";
import type { LoadedObject } from "../../src/bpf/object/load.js";
import { openObjectFile } from "../../src/bpf/object/open.js";
import type { OpenOptions } from "../../src/bpf/object/open.js";
import { RingBufferReader } from "../../src/bpf/ringbuf/reader.js";
import { possibleCpus } from "../../src/bpf/sys/cpus.js";
import { native } from "../../src/bpf/sys/native.js";
import { ArrayMap } from "../../src/vm/maps/array.js";
import { RingBufMap } from "../../src/vm/maps/ringbuf.js";
import type { VmObject } from "../../src/vm/object.js";
import { Vm } from "../../src/vm/vm.js";
import type { EngineName } from "../../src/vm/vm.js";
import { fixture } from "../helpers/fixtures.js";
import { createNetns, deleteNetns, enterNetns } from "../helpers/netns.js";
import type { CorpusFrame } from "./corpus.js";

export interface DiffTarget {
  /** A fixture of tests/fixtures (its name), or any object when `object` is given (then a label). */
  fixture: string;
  /** Path of the object, when it is not a fixture (the network functions' objects). */
  object?: () => Promise<string>;
  /** Programs to load and run (default: every autoload program). */
  programs?: string[];
  open?: OpenOptions;
  /**
   * Fills maps the same way in the kernel and in the runtime before the runs; `prog` gives a
   * program's value for a prog array (the kernel: its fd; the runtime: its id).
   */
  setup?: (map: (name: string) => MapHandle, prog: (name: string) => number) => void;
  /** Sets maps before each packet run (e.g. per-packet metadata a caller would write). */
  beforeEach?: (map: (name: string) => MapHandle) => void;
  /** Packets run after the corpus (a program's own traffic). */
  extraFrames?: CorpusFrame[];
  /**
   * Runs the kernel's side in a fresh network namespace (loopback up, nothing else), for programs
   * that send clones to interfaces: the runtime's default interfaces are that namespace's.
   */
  netns?: boolean;
  /**
   * Byte ranges [offset, size] of a map's values that hold clock readings (bpf_ktime_get_*_ns):
   * the kernel's and the runtime's clocks are read at different moments, so these bytes are
   * zeroed on both sides before comparing. Everything else in those values is compared.
   */
  clockFields?: Record<string, readonly (readonly [number, number])[]>;
  /** Builds the context in for a program and packet (default: none). */
  ctx?: (program: string, frame: Uint8Array) => Uint8Array | undefined;
}

/** Maps whose contents are compared (others hold fds/ids, or cannot be listed). */
const COMPARED = new Set<number>([
  MapType.HASH,
  MapType.ARRAY,
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
  MapType.LPM_TRIE,
  MapType.DEVMAP,
  MapType.DEVMAP_HASH,
]);

const ARRAYS = new Set<number>([MapType.ARRAY, MapType.PERCPU_ARRAY]);
/** Arrays larger than this are compared after each program's last packet only. */
const BULK_ENTRIES = 4096;

/**
 * Array maps: every value in index order, flat (valueBufferSize each). The kernel's in batched
 * lookups, the runtime's straight from its linear memory: the framework's arrays hold tens of
 * thousands of entries, too many for a lookup per key after every packet.
 */
function arrayValues(m: MapHandle): Buffer {
  if (m instanceof ArrayMap) {
    if (m.elemBytes === m.valueBufferSize) return m.mem.view(m.data, m.elemBytes * m.maxEntries);
    const out = Buffer.alloc(m.valueBufferSize * m.maxEntries);
    for (let i = 0; i < m.maxEntries; i++)
      out.set(m.mem.u8.subarray(m.valueAddress(i), m.valueAddress(i) + m.valueSize), i * m.valueSize);
    return out;
  }
  let out = batchOut.get(m);
  if (!out) batchOut.set(m, (out = m.batchBuffers(m.maxEntries)));
  const cursor = new BatchCursor();
  const parts: Buffer[] = [];
  while (!cursor.done) {
    const c = m.lookupBatch(cursor, m.maxEntries, out);
    if (c.count) parts.push(c.values.subarray(0, c.count * m.valueBufferSize));
  }
  // Views of the reused buffers: compared before the next dump of the same map.
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
const batchOut = new WeakMap<MapHandle, { keys: Buffer; values: Buffer }>();

function diffArrays(m: MapHandle, a: Buffer, b: Buffer): string | undefined {
  if (a.equals(b)) return undefined;
  const n = m.valueBufferSize;
  for (let i = 0; i * n < Math.max(a.length, b.length); i++) {
    const x = a.subarray(i * n, (i + 1) * n).toString("hex");
    const y = b.subarray(i * n, (i + 1) * n).toString("hex");
    if (x !== y) return `index ${i}: kernel ${x || "absent"}, runtime ${y || "absent"}`;
  }
  return undefined;
}

function snapshot(m: MapHandle, clock?: readonly (readonly [number, number])[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of m.entries()) {
    for (const [at, size] of clock ?? []) v.fill(0, at, at + size);
    out.set(k.toString("hex"), v.toString("hex"));
  }
  return out;
}

function diffSnapshots(a: Map<string, string>, b: Map<string, string>): string | undefined {
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) {
    if (a.get(k) !== b.get(k))
      return `key ${k}: kernel ${a.get(k) ?? "absent"}, runtime ${b.get(k) ?? "absent"}`;
  }
  return undefined;
}

interface Side {
  engine: EngineName;
  vm: Vm;
  obj: VmObject;
}

/** Runs the comparison; returns one line per mismatch (empty when kernel and runtime agree). */
export async function differential(
  target: DiffTarget,
  frames: readonly CorpusFrame[],
  engines: readonly EngineName[],
): Promise<{ mismatches: string[]; runs: number }> {
  const path = target.object ? await target.object() : await fixture(target.fixture);
  const kobj = BpfObject.open(path, target.open);
  for (const m of kobj.spec.maps.values()) m.pinning = "none";
  const loaded: LoadedObject = await kobj.load({ ...(target.programs ? { programs: target.programs } : {}) });
  const sides: Side[] = engines.map((engine) => {
    const vm = new Vm({ cpus: possibleCpus(), engine });
    const obj = vm.loadObject(
      openObjectFile(path, target.open),
      target.programs ? { programs: target.programs } : {},
    );
    return { engine, vm, obj };
  });
  const mismatches: string[] = [];
  const readers = new Map<string, RingBufferReader>();
  const n = native();
  n.setAffinity?.([0]);
  let runs = 0;
  const ns = target.netns ? await createNetns("vmd") : undefined;
  const inside = ns ? enterNetns(ns) : undefined;
  try {
    target.setup?.(
      (name) => loaded.map(name),
      (name) => loaded.program(name).fd,
    );
    for (const s of sides)
      target.setup?.(
        (name) => s.obj.map(name),
        (name) => s.obj.program(name).id,
      );
    for (const [name, m] of loaded.maps)
      if (m.type === MapType.RINGBUF) readers.set(name, new RingBufferReader(m));

    // The kernel reads array batches element by element: its arrays of tens of thousands of
    // entries (the framework's ports and counters) cost milliseconds per dump, so they are compared
    // after each program's last packet; their counters accumulate, so a wrong step still shows.
    const compareMaps = (where: string, bulk: boolean): void => {
      for (const [name, km] of loaded.maps) {
        if (ARRAYS.has(km.type) && km.maxEntries > BULK_ENTRIES && !bulk) continue;
        const karr = ARRAYS.has(km.type) ? arrayValues(km) : undefined;
        const clock = target.clockFields?.[name];
        const ksnap = !karr && COMPARED.has(km.type) ? snapshot(km, clock) : undefined;
        for (const s of sides) {
          const vm = s.obj.map(name);
          const d = karr
            ? diffArrays(km, karr, arrayValues(vm))
            : ksnap && diffSnapshots(ksnap, snapshot(vm, clock));
          if (d) mismatches.push(`${where} [${s.engine}]: map ${name} (${mapTypeName(km.type)}): ${d}`);
        }
        if (km.type === MapType.RINGBUF) {
          const krec: string[] = [];
          readers.get(name)?.drain((r) => krec.push(r.toString("hex")));
          for (const s of sides) {
            const vrec = (s.obj.map(name) as RingBufMap).drain().map((r) => r.toString("hex"));
            if (krec.join() !== vrec.join())
              mismatches.push(
                `${where} [${s.engine}]: ring buffer ${name}: kernel [${krec}], runtime [${vrec}]`,
              );
          }
        }
      }
    };

    for (const [pname, kprog] of loaded.programs) {
      for (const frame of [...frames, ...(target.extraFrames ?? [])]) {
        const where = `${target.fixture}/${pname} on ${frame.name}`;
        const ctx = target.ctx?.(pname, frame.data);
        target.beforeEach?.((name) => loaded.map(name));
        for (const s of sides) target.beforeEach?.((name) => s.obj.map(name));
        let k: TestRunResult | undefined;
        let kerr: BpfError | undefined;
        try {
          k = kprog.testRun({
            data: frame.data,
            dataSizeOut: frame.data.length + 4096,
            ...(ctx ? { ctx, ctxSizeOut: ctx.length } : {}),
          });
        } catch (e) {
          if (!(e instanceof BpfError)) throw e;
          kerr = e;
        }
        for (const s of sides) {
          let v;
          try {
            v = s.obj.program(pname).run({ data: frame.data, ...(ctx ? { ctx } : {}) });
          } catch (e) {
            if (kerr && e instanceof BpfError && e.errno === kerr.errno) continue;
            mismatches.push(
              `${where} [${s.engine}]: the runtime failed (${(e as Error).message}), the kernel ${kerr ? `too, differently (${kerr.message})` : "did not"}`,
            );
            continue;
          }
          if (!k) {
            mismatches.push(
              `${where} [${s.engine}]: the kernel failed (${kerr?.message}), the runtime did not`,
            );
            continue;
          }
          if (v.retval !== k.retval >>> 0)
            mismatches.push(`${where} [${s.engine}]: retval kernel ${k.retval}, runtime ${v.retval}`);
          const kd = (k.data ?? Buffer.alloc(0)).toString("hex");
          const vd = (v.data ?? Buffer.alloc(0)).toString("hex");
          if (kd !== vd)
            mismatches.push(`${where} [${s.engine}]: packet out\n  kernel  ${kd}\n  runtime ${vd}`);
          if (ctx && k.ctx?.toString("hex") !== v.ctx?.toString("hex"))
            mismatches.push(
              `${where} [${s.engine}]: ctx out kernel ${k.ctx?.toString("hex")}, runtime ${v.ctx?.toString("hex")}`,
            );
        }
        runs++;
        compareMaps(where, false);
      }
      compareMaps(`${target.fixture}/${pname} after its last packet`, true);
    }
    // Queues and stacks: compared at the end, by popping everything.
    for (const [name, km] of loaded.maps) {
      if (km.type !== MapType.QUEUE && km.type !== MapType.STACK) continue;
      const drain = (m: MapHandle): string[] => {
        const out: string[] = [];
        for (let v = m.pop(); v; v = m.pop()) out.push(v.toString("hex"));
        return out;
      };
      const kq = drain(km);
      for (const s of sides) {
        const vq = drain(s.obj.map(name));
        if (kq.join() !== vq.join())
          mismatches.push(`${target.fixture} [${s.engine}]: ${name}: kernel [${kq}], runtime [${vq}]`);
      }
    }
  } finally {
    inside?.restore();
    if (ns) deleteNetns(ns);
    n.setAffinity?.(Array.from({ length: possibleCpus() }, (_, i) => i));
    for (const r of readers.values()) r.close();
    loaded.close();
  }
  return { mismatches, runs };
}

export { BpfMap };
