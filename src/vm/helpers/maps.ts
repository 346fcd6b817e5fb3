// Map helpers: element operations, queues and stacks, per-CPU lookups, ring buffers, perf event
// output, bpf_for_each_map_elem. Map types a program may not use with a helper (the verifier
// would refuse the program) stop the run with a fault naming the map.
import { HelperId, MapType, mapTypeName } from "../../bpf/constants.js";
import { E2BIG, EFAULT, EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import { ArrayMap } from "../maps/array.js";
import type { VmMap } from "../maps/base.js";
import { round8 } from "../maps/base.js";
import { HashMap } from "../maps/hash.js";
import { PerfEventArrayMap } from "../maps/perf.js";
import { RingBufMap } from "../maps/ringbuf.js";
import type { HelperEnv } from "./env.js";
import type { HelperDef } from "./types.js";

const EAGAIN = 11;

/** Map types whose elements programs look up, update and delete. */
const ELEMENT_MAPS = new Set<number>([
  MapType.HASH,
  MapType.ARRAY,
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
  MapType.LPM_TRIE,
]);
const LOOKUP_ONLY = new Set<number>([
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
  MapType.DEVMAP,
  MapType.DEVMAP_HASH,
  MapType.CPUMAP,
  MapType.XSKMAP,
]);
const QUEUES = new Set<number>([MapType.QUEUE, MapType.STACK]);

function needType(env: HelperEnv, m: VmMap, ok: boolean): void {
  if (!ok) env.fault(`map '${m.name}' is a ${mapTypeName(m.type)} map, which this helper cannot use`);
}

const lookup = (env: HelperEnv): number => {
  const m = env.map(1);
  needType(env, m, ELEMENT_MAPS.has(m.type) || LOOKUP_ONLY.has(m.type));
  return m.lookupForProgram(env.ptr(2, m.keySize, false, "key"));
};

const update = (env: HelperEnv): number => {
  const m = env.map(1);
  needType(env, m, ELEMENT_MAPS.has(m.type));
  const key = env.ptr(2, m.keySize, false, "key");
  const value = env.ptr(3, m.valueSize, false, "value");
  return m.updateAt(key, value, env.fits32(4) ? env.u32(4) : 0xffff_ffff, false);
};

const remove = (env: HelperEnv): number => {
  const m = env.map(1);
  needType(env, m, ELEMENT_MAPS.has(m.type));
  return m.deleteAt(env.ptr(2, m.keySize, false, "key"));
};

const push = (env: HelperEnv): number => {
  const m = env.map(1);
  needType(env, m, QUEUES.has(m.type) || m.type === MapType.BLOOM_FILTER);
  return m.pushForProgram(env.ptr(2, m.valueSize, false, "value"), env.fits32(3) ? env.u32(3) : -1);
};

const pop =
  (remove: boolean) =>
  (env: HelperEnv): number => {
    const m = env.map(1);
    needType(env, m, QUEUES.has(m.type) || (!remove && m.type === MapType.BLOOM_FILTER));
    return m.popForProgram(env.ptr(2, m.valueSize, m.type !== MapType.BLOOM_FILTER, "value"), remove);
  };

const lookupPercpu = (env: HelperEnv): number => {
  const m = env.map(1);
  needType(env, m, m.perCpu);
  const key = env.ptr(2, m.keySize, false, "key");
  const cpu = env.u32(3);
  if (!env.fits32(3) || cpu >= env.vm.cpus) return 0;
  const v = m.find(key);
  return v && v + cpu * round8(m.valueSize);
};

function ringbuf(env: HelperEnv, i: number): RingBufMap {
  const m = env.map(i);
  if (!(m instanceof RingBufMap)) env.fault(`map '${m.name}' is not a ring buffer`);
  return m;
}

/** The reserved record whose data is at argument 1 (submit, discard). */
function reserved(env: HelperEnv): { rb: RingBufMap; addr: number } {
  const addr = env.fits32(1) ? env.u32(1) : -1;
  for (const rb of env.run.ringbufs) if (rb.isReserved(addr)) return { rb, addr };
  return env.fault(`0x${env.arg(1).toString(16)} is not a ring buffer record reserved by this run`);
}

const ringbufOutput = (env: HelperEnv): number => {
  const rb = ringbuf(env, 1);
  const size = env.num(3);
  if (env.arg(4) & ~3n) return -EINVAL;
  const data = env.ptr(2, size, false, "data");
  return rb.output(env.mem.read(data, size)) ? 0 : -EAGAIN;
};

const ringbufReserve = (env: HelperEnv): number => {
  const rb = ringbuf(env, 1);
  if (env.arg(3) !== 0n) return 0;
  const size = env.num(2);
  if (size === Infinity) return 0;
  const addr = rb.reserve(size);
  if (addr) env.run.ringbufs.add(rb);
  return addr;
};

const ringbufCommit =
  (discard: boolean) =>
  (env: HelperEnv): number => {
    const { rb, addr } = reserved(env);
    rb.commit(addr, discard);
    return 0;
  };

const ringbufQuery = (env: HelperEnv): bigint => ringbuf(env, 1).query(env.u32(2));

/** bpf_perf_event_output(ctx, map, flags, data, size): flags' low 32 bits pick the slot, bits 32..51 append packet bytes. */
const perfEventOutput = (env: HelperEnv): number => {
  const m = env.map(2);
  if (!(m instanceof PerfEventArrayMap)) env.fault(`map '${m.name}' is not a perf event array`);
  const flags = env.arg(3);
  if (flags & ~0x000f_ffff_ffff_ffffn) return -EINVAL;
  let index = Number(flags & 0xffff_ffffn);
  const ctxLen = Number(flags >> 32n);
  if (index === 0xffff_ffff) index = env.vm.currentCpu;
  if (index >= m.maxEntries) return -E2BIG;
  const size = env.num(5);
  const data = env.ptr(4, size, false, "data");
  const run = env.run;
  if (ctxLen > 0 && (run.kind === "raw" || ctxLen > run.end - run.data)) return -EFAULT;
  const sample = Buffer.concat([env.mem.read(data, size), env.mem.read(run.data, ctxLen)]);
  return m.deliver(index, sample) ? 0 : -ENOENT;
};

/** bpf_for_each_map_elem(map, callback, ctx, flags): callback(map, key, value, ctx) per element. */
const forEach = (env: HelperEnv): number => {
  const m = env.map(1);
  const cb = env.arg(2);
  const ctx = env.arg(3);
  if (env.arg(4) !== 0n) return -EINVAL;
  const vm = env.vm;
  const keyArea = vm.callbackKey(m.keySize);
  const step = (value: number): boolean =>
    vm.callCode(cb, [BigInt(m.header), BigInt(keyArea), BigInt(value), ctx]) !== 0n;
  let n = 0;
  if (m instanceof ArrayMap) {
    for (let i = 0; i < m.maxEntries; i++) {
      env.mem.dv.setUint32(keyArea, i, true);
      n++;
      if (step(m.valueAddress(i) + (m.perCpu ? vm.currentCpu * m.stride : 0))) break;
    }
    return n;
  }
  if (m instanceof HashMap) {
    // Walk a snapshot of the keys; elements deleted by the callback are skipped.
    const keys = [...m.keys()];
    for (const k of keys) {
      env.mem.write(keyArea, k);
      const v = m.find(keyArea);
      if (!v) continue;
      n++;
      if (step(v + (m.perCpu ? vm.currentCpu * m.stride : 0))) break;
    }
    return n;
  }
  return env.fault(
    `map '${m.name}' is a ${mapTypeName(m.type)} map: bpf_for_each_map_elem walks arrays and hash maps`,
  );
};

export const mapHelpers: HelperDef[] = [
  { id: HelperId.map_lookup_elem, name: "map_lookup_elem", fn: lookup },
  { id: HelperId.map_update_elem, name: "map_update_elem", fn: update },
  { id: HelperId.map_delete_elem, name: "map_delete_elem", fn: remove },
  { id: HelperId.map_push_elem, name: "map_push_elem", fn: push },
  { id: HelperId.map_pop_elem, name: "map_pop_elem", fn: pop(true) },
  { id: HelperId.map_peek_elem, name: "map_peek_elem", fn: pop(false) },
  { id: HelperId.map_lookup_percpu_elem, name: "map_lookup_percpu_elem", fn: lookupPercpu },
  { id: HelperId.ringbuf_output, name: "ringbuf_output", fn: ringbufOutput },
  { id: HelperId.ringbuf_reserve, name: "ringbuf_reserve", fn: ringbufReserve },
  { id: HelperId.ringbuf_submit, name: "ringbuf_submit", fn: ringbufCommit(false) },
  { id: HelperId.ringbuf_discard, name: "ringbuf_discard", fn: ringbufCommit(true) },
  { id: HelperId.ringbuf_query, name: "ringbuf_query", fn: ringbufQuery },
  { id: HelperId.perf_event_output, name: "perf_event_output", fn: perfEventOutput },
  { id: HelperId.for_each_map_elem, name: "for_each_map_elem", fn: forEach },
];
