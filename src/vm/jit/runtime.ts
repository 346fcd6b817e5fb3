// The runtime module every compiled program imports: the memory check (the same rules as
// check.ts, reading the same region table), faults, and map lookups of arrays and hash maps done
// in WebAssembly (the hot helper of packet programs) with a fall back to JavaScript for the rest.
import { MapType } from "../../bpf/constants.js";
import {
  CURRENT_CPU,
  FAULT_ADDR,
  FAULT_KIND,
  FAULT_PC,
  FAULT_SIZE,
  FAULT_WRITE,
  FaultCode,
  FRAME_SIZE,
  HEAP,
  HELPER_ARGS,
  HELPER_FP,
  HELPER_PC,
  MAP_COUNT,
  MAP_TABLE,
  REGIONS,
  REGION_COUNT,
  REGION_SIZE,
  STACK_TOP,
} from "../layout.js";
import { MapHeader } from "../maps/header.js";
import { HASH_MUL, HASH_SEED } from "../maps/hash-fn.js";
import { ELEM_HASH, ELEM_KEY, ELEM_NEXT, ELEM_REF } from "../maps/hash.js";
import { LPM_EMPTY, LPM_ENTRY } from "../maps/lpm.js";
import { Code, I32, I64, Mem, ModuleBuilder, Op } from "./wasm.js";
import type { FuncType } from "./wasm.js";

export const CHECK_TYPE: FuncType = { params: [I64, I32, I32, I32, I32], results: [I32] };
const PROBE_TYPE: FuncType = { params: [I64, I32, I32, I32], results: [I32] };
export const FAULT_TYPE: FuncType = { params: [I32, I32], results: [] };
export const LOOKUP_TYPE: FuncType = { params: [I64, I64, I32, I32], results: [I64] };
export const HELPER_TYPE: FuncType = { params: [I32], results: [] };
export const HASH_FIND_TYPE: FuncType = { params: [I32, I32], results: [I64] };

export interface RuntimeExports {
  check: (a: bigint, size: number, write: number, fp: number, pc: number) => number;
  fault: (kind: number, pc: number) => void;
  lookup: (map: bigint, key: bigint, fp: number, pc: number) => bigint;
  hashFind: (map: number, key: number) => bigint;
  lpmFind: (map: number, key: number) => bigint;
}

const u32 = (c: Code, addr: number): Code => c.i32(0).mem(Mem.i32_load, addr);

/** probe(a, size, write, fp): the address when the access is allowed, else -1 (no trap). */
function probeBody(): Code {
  const [A, SIZE, WRITE, FP, END, N, I, E, REL, FLAGS, STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const c = new Code();
  c.block(); // $fail
  c.get(A).i64(0xffffffffn).op(Op.i64_gt_u).brIf(0);
  c.get(A).get(SIZE).op(Op.i64_extend_i32_u).op(Op.i64_add).set(END);
  // The current frame and its callers'.
  c.get(A).get(FP).i32(FRAME_SIZE).op(Op.i32_sub).op(Op.i64_extend_i32_u).op(Op.i64_ge_u);
  c.get(END).i64(STACK_TOP).op(Op.i64_le_u).op(Op.i32_and);
  c.if().get(A).op(Op.i32_wrap_i64).return().end();
  u32(c, REGION_COUNT).set(N);
  c.i32(0).set(I);
  c.loop();
  c.get(I).get(N).op(Op.i32_ge_u).brIf(1);
  c.get(I).i32(REGION_SIZE).op(Op.i32_mul).i32(REGIONS).op(Op.i32_add).set(E);
  c.get(A).get(E).mem(Mem.i32_load, 0).op(Op.i64_extend_i32_u).op(Op.i64_ge_u);
  c.get(END).get(E).mem(Mem.i32_load, 4).op(Op.i64_extend_i32_u).op(Op.i64_le_u).op(Op.i32_and);
  c.if(); // inside the region
  c.get(A).op(Op.i32_wrap_i64).get(E).mem(Mem.i32_load, 0).op(Op.i32_sub).set(REL);
  c.get(E).mem(Mem.i32_load, 16).set(FLAGS);
  c.get(FLAGS).i32(2).op(Op.i32_and);
  c.if(); // per-byte rights (the context)
  c.get(E).mem(Mem.i32_load, 20).get(REL).op(Op.i32_add).mem(Mem.i32_load8_u, 0);
  c.get(WRITE).if(I32).get(SIZE).i32(4).op(Op.i32_shl).else().get(SIZE).end();
  c.op(Op.i32_and).op(Op.i32_eqz).brIf(3);
  c.get(A).op(Op.i32_wrap_i64).return();
  c.end();
  c.get(WRITE).get(FLAGS).i32(1).op(Op.i32_and).op(Op.i32_eqz).op(Op.i32_and).brIf(2);
  c.get(E).mem(Mem.i32_load, 8).set(STRIDE);
  c.get(STRIDE);
  c.if();
  c.get(REL)
    .get(STRIDE)
    .op(Op.i32_rem_u)
    .get(SIZE)
    .op(Op.i32_add)
    .get(E)
    .mem(Mem.i32_load, 12)
    .op(Op.i32_gt_u)
    .brIf(3);
  c.end();
  c.get(A).op(Op.i32_wrap_i64).return();
  c.end();
  c.get(I).i32(1).op(Op.i32_add).set(I).br(0);
  c.end(); // loop
  c.end(); // $fail
  return c.i32(-1);
}

/** check(a, size, write, fp, pc): probe, or record a memory fault and trap. */
function checkBody(probe: number): Code {
  const [A, SIZE, WRITE, FP, PC, R] = [0, 1, 2, 3, 4, 5];
  const c = new Code();
  c.get(A).get(SIZE).get(WRITE).get(FP).call(probe).tee(R).i32(-1).op(Op.i32_ne);
  c.if().get(R).return().end();
  c.i32(0).get(A).mem(Mem.i64_store, FAULT_ADDR);
  c.i32(0).get(SIZE).mem(Mem.i32_store, FAULT_SIZE);
  c.i32(0).get(WRITE).mem(Mem.i32_store, FAULT_WRITE);
  c.i32(0).get(PC).mem(Mem.i32_store, FAULT_PC);
  c.i32(0).i32(FaultCode.MEMORY).mem(Mem.i32_store, FAULT_KIND);
  c.unreachable();
  return c;
}

function faultBody(): Code {
  const c = new Code();
  c.i32(0).get(0).mem(Mem.i32_store, FAULT_KIND);
  c.i32(0).get(1).mem(Mem.i32_store, FAULT_PC);
  return c.unreachable();
}

/** memeq(a, b, n): whether n bytes at a and b are equal. */
function memeqBody(): Code {
  const [A, B, N, I] = [0, 1, 2, 3];
  const c = new Code();
  c.block().loop();
  c.get(I).i32(8).op(Op.i32_add).get(N).op(Op.i32_gt_u).brIf(1);
  c.get(A).get(I).op(Op.i32_add).mem(Mem.i64_load, 0).get(B).get(I).op(Op.i32_add).mem(Mem.i64_load, 0);
  c.op(Op.i64_ne).if().i32(0).return().end();
  c.get(I).i32(8).op(Op.i32_add).set(I).br(0);
  c.end().end();
  c.block().loop();
  c.get(I).get(N).op(Op.i32_ge_u).brIf(1);
  c.get(A).get(I).op(Op.i32_add).mem(Mem.i32_load8_u, 0).get(B).get(I).op(Op.i32_add).mem(Mem.i32_load8_u, 0);
  c.op(Op.i32_ne).if().i32(0).return().end();
  c.get(I).i32(1).op(Op.i32_add).set(I).br(0);
  c.end().end();
  return c.i32(1);
}

/** hash(key, n): hashBytes() of maps/hash-fn.ts. */
function hashBody(): Code {
  const [K, N, H, I] = [0, 1, 2, 3];
  const c = new Code();
  const mix = (): void => {
    c.i32(HASH_MUL).op(Op.i32_mul).tee(H).get(H).i32(15).op(Op.i32_shr_u).op(Op.i32_xor).set(H);
  };
  c.i32(HASH_SEED).get(N).op(Op.i32_xor).set(H);
  c.block().loop();
  c.get(I).i32(4).op(Op.i32_add).get(N).op(Op.i32_gt_u).brIf(1);
  c.get(H).get(K).get(I).op(Op.i32_add).mem(Mem.i32_load, 0).op(Op.i32_xor);
  mix();
  c.get(I).i32(4).op(Op.i32_add).set(I).br(0);
  c.end().end();
  c.block().loop();
  c.get(I).get(N).op(Op.i32_ge_u).brIf(1);
  c.get(H).get(K).get(I).op(Op.i32_add).mem(Mem.i32_load8_u, 0).op(Op.i32_xor);
  mix();
  c.get(I).i32(1).op(Op.i32_add).set(I).br(0);
  c.end().end();
  c.get(H).get(H).i32(13).op(Op.i32_shr_u).op(Op.i32_xor).set(H);
  c.get(H)
    .i32(0xc2b2ae35 | 0)
    .op(Op.i32_mul)
    .set(H);
  return c.get(H).get(H).i32(16).op(Op.i32_shr_u).op(Op.i32_xor);
}

/** hashFind(map, key): the value address for a valid hash map and a checked key, or 0. */
function hashFindBody(fn: { hash: number; memeq: number }): Code {
  const [M, KEY, TYPE, KS, H, E, EL, STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7];
  const c = new Code();
  const hdr = (field: number): Code => c.get(M).mem(Mem.i32_load, field);
  hdr(MapHeader.TYPE).set(TYPE);
  hdr(MapHeader.KEY_SIZE).set(KS);
  hdr(MapHeader.STRIDE).set(STRIDE);
  c.get(KEY).get(KS).call(fn.hash).set(H);
  hdr(MapHeader.DATA).get(H);
  hdr(MapHeader.MASK).op(Op.i32_and).i32(2).op(Op.i32_shl).op(Op.i32_add).mem(Mem.i32_load, 0).set(E);
  c.block().loop();
  c.get(E).op(Op.i32_eqz).brIf(1);
  hdr(MapHeader.ELEMS).get(E).i32(1).op(Op.i32_sub);
  hdr(MapHeader.ELEM_SIZE).op(Op.i32_mul).op(Op.i32_add).set(EL);
  c.get(EL).mem(Mem.i32_load, ELEM_HASH).get(H).op(Op.i32_eq);
  c.if();
  c.get(EL).i32(ELEM_KEY).op(Op.i32_add).get(KEY).get(KS).call(fn.memeq);
  c.if();
  c.get(TYPE)
    .i32(MapType.LRU_HASH)
    .op(Op.i32_eq)
    .get(TYPE)
    .i32(MapType.LRU_PERCPU_HASH)
    .op(Op.i32_eq)
    .op(Op.i32_or);
  c.if().get(EL).i32(1).mem(Mem.i32_store, ELEM_REF).end();
  c.get(EL);
  hdr(MapHeader.VALUE_OFFSET).op(Op.i32_add);
  hdr(MapHeader.CPUS).i32(1).op(Op.i32_gt_u);
  c.if(I32);
  u32(c, CURRENT_CPU).get(STRIDE).op(Op.i32_mul).else().i32(0).end();
  c.op(Op.i32_add).op(Op.i64_extend_i32_u).return();
  c.end();
  c.end();
  c.get(EL).mem(Mem.i32_load, ELEM_NEXT).set(E).br(0);
  c.end().end();
  return c.i64(0);
}

/** lpmFind(map, key): LPM lookup of keys of at most 4 bytes in the table lpm.ts keeps. */
function lpmFindBody(): Code {
  const [M, KEY, KLEN, RAW, DS, N, I, L, K, IDX, E, MASK, ELEN, LENS] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
  ];
  const c = new Code();
  const hdr = (field: number): Code => c.get(M).mem(Mem.i32_load, field);
  hdr(MapHeader.KEY_SIZE).i32(4).op(Op.i32_sub).set(DS);
  c.get(KEY).mem(Mem.i32_load, 0).tee(KLEN).get(DS).i32(3).op(Op.i32_shl).op(Op.i32_gt_u);
  c.if().get(DS).i32(3).op(Op.i32_shl).set(KLEN).end();
  // The data as a big-endian u32, zero-padded.
  for (let b = 0; b < 4; b++) {
    c.get(RAW).i32(8).op(Op.i32_shl);
    c.get(KEY)
      .mem(Mem.i32_load8_u, 4 + b)
      .i32(0)
      .i32(b)
      .get(DS)
      .op(Op.i32_lt_u)
      .op(Op.select);
    c.op(Op.i32_or).set(RAW);
  }
  hdr(MapHeader.ELEMS).tee(LENS).mem(Mem.i32_load, 0).set(N);
  hdr(MapHeader.MASK).set(MASK);
  c.block().loop(); // over lengths
  c.get(I).get(N).op(Op.i32_ge_u).brIf(1);
  c.get(LENS).get(I).op(Op.i32_add).mem(Mem.i32_load8_u, 4).set(L);
  c.get(I).i32(1).op(Op.i32_add).set(I);
  c.get(L).get(KLEN).op(Op.i32_gt_u).brIf(0);
  c.get(RAW).i32(-1).i32(32).get(L).op(Op.i32_sub).op(Op.i32_shl).op(Op.i32_and);
  c.i32(0).get(L).op(Op.select).set(K); // select(a, b, c) is c ? a : b
  // lpmHash(k, l)
  c.get(K)
    .get(L)
    .i32(1)
    .op(Op.i32_add)
    .i32(0x9e3779b9 | 0)
    .op(Op.i32_mul)
    .op(Op.i32_xor)
    .i32(0x85ebca6b | 0)
    .op(Op.i32_mul);
  c.tee(IDX).get(IDX).i32(16).op(Op.i32_shr_u).op(Op.i32_xor).get(MASK).op(Op.i32_and).set(IDX);
  c.block().loop(); // probe
  hdr(MapHeader.DATA)
    .get(IDX)
    .i32(LPM_ENTRY)
    .op(Op.i32_mul)
    .op(Op.i32_add)
    .tee(E)
    .mem(Mem.i32_load, 4)
    .tee(ELEN);
  c.i32(LPM_EMPTY | 0)
    .op(Op.i32_eq)
    .brIf(1);
  c.get(ELEN).get(L).op(Op.i32_eq).get(E).mem(Mem.i32_load, 0).get(K).op(Op.i32_eq).op(Op.i32_and);
  c.if();
  hdr(MapHeader.VALUE_OFFSET).get(E).mem(Mem.i32_load, 8);
  hdr(MapHeader.STRIDE).op(Op.i32_mul).op(Op.i32_add).op(Op.i64_extend_i32_u).return();
  c.end();
  c.get(IDX).i32(1).op(Op.i32_add).get(MASK).op(Op.i32_and).set(IDX).br(0);
  c.end().end();
  c.br(0);
  c.end().end();
  return c.i64(0);
}

function lookupBody(fn: { probe: number; helper: number; hashFind: number; lpmFind: number }): Code {
  const [M64, K64, FP, PC, M, TYPE, KEY, KS, IDX, STRIDE, TMP] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const hdr = (field: number): Code => c.get(M).mem(Mem.i32_load, field);
  const c = new Code();
  /** Adds cpu * stride when the map is per-CPU (CPUS > 1). */
  const cpuOffset = (): void => {
    hdr(MapHeader.CPUS).i32(1).op(Op.i32_gt_u);
    c.if(I32);
    u32(c, CURRENT_CPU).get(STRIDE).op(Op.i32_mul).else().i32(0).end();
  };
  c.block(); // $slow
  c.get(M64).i64(0xffffffffn).op(Op.i64_gt_u).brIf(0);
  c.get(M64).op(Op.i32_wrap_i64).tee(M).i32(63).op(Op.i32_and).brIf(0);
  c.get(M).i32(HEAP).op(Op.i32_lt_u).brIf(0);
  c.get(M)
    .i32(MapHeader.SIZE)
    .op(Op.i32_add)
    .op(0x3f)
    .op(0x00)
    .i32(16)
    .op(Op.i32_shl)
    .op(Op.i32_gt_u)
    .brIf(0);
  hdr(MapHeader.ID).tee(TMP);
  u32(c, MAP_COUNT).op(Op.i32_ge_u).brIf(0);
  c.get(TMP).i32(2).op(Op.i32_shl).mem(Mem.i32_load, MAP_TABLE).get(M).op(Op.i32_ne).brIf(0);
  hdr(MapHeader.TYPE).set(TYPE);
  hdr(MapHeader.KEY_SIZE).set(KS);
  hdr(MapHeader.STRIDE).set(STRIDE);
  // Arrays.
  c.get(TYPE)
    .i32(MapType.ARRAY)
    .op(Op.i32_eq)
    .get(TYPE)
    .i32(MapType.PERCPU_ARRAY)
    .op(Op.i32_eq)
    .op(Op.i32_or);
  c.if();
  // A bad key goes to the JavaScript helper, which reports it as the interpreter does.
  c.get(K64).get(KS).i32(0).get(FP).call(fn.probe).tee(KEY).i32(-1).op(Op.i32_eq).brIf(1);
  c.get(KEY).mem(Mem.i32_load, 0).tee(IDX);
  hdr(MapHeader.MAX_ENTRIES).op(Op.i32_ge_u).if().i64(0).return().end();
  hdr(MapHeader.DATA);
  c.get(IDX).get(STRIDE).op(Op.i32_mul);
  hdr(MapHeader.CPUS).op(Op.i32_mul).op(Op.i32_add);
  cpuOffset();
  c.op(Op.i32_add).op(Op.i64_extend_i32_u).return();
  c.end();
  // LPM tries with keys of at most 4 bytes.
  c.get(TYPE).i32(MapType.LPM_TRIE).op(Op.i32_eq).get(KS).i32(8).op(Op.i32_le_u).op(Op.i32_and);
  c.if();
  c.get(K64).get(KS).i32(0).get(FP).call(fn.probe).tee(KEY).i32(-1).op(Op.i32_eq).brIf(1);
  c.get(M).get(KEY).call(fn.lpmFind).return();
  c.end();
  // Hash maps (and their LRU and per-CPU variants).
  c.get(TYPE).i32(MapType.HASH).op(Op.i32_eq);
  c.get(TYPE).i32(MapType.PERCPU_HASH).op(Op.i32_eq).op(Op.i32_or);
  c.get(TYPE).i32(MapType.LRU_HASH).op(Op.i32_eq).op(Op.i32_or);
  c.get(TYPE).i32(MapType.LRU_PERCPU_HASH).op(Op.i32_eq).op(Op.i32_or);
  c.i32(0).op(Op.i32_eq).brIf(0);
  c.get(K64).get(KS).i32(0).get(FP).call(fn.probe).tee(KEY).i32(-1).op(Op.i32_eq).brIf(0);
  c.get(M).get(KEY).call(fn.hashFind).return();
  c.end(); // $slow
  // Every other map type, and bad map pointers: the JavaScript helper decides.
  c.i32(0)
    .get(M64)
    .mem(Mem.i64_store, HELPER_ARGS + 8);
  c.i32(0)
    .get(K64)
    .mem(Mem.i64_store, HELPER_ARGS + 16);
  c.i32(0).get(FP).mem(Mem.i32_store, HELPER_FP);
  c.i32(0).get(PC).i32(0xfffff).op(Op.i32_and).mem(Mem.i32_store, HELPER_PC);
  c.i32(1).call(fn.helper);
  return c.i32(0).mem(Mem.i64_load, HELPER_ARGS);
}

/** Builds the runtime module's bytes. Its imports: env.memory and js.helper. */
export function runtimeModule(): Uint8Array {
  const mb = new ModuleBuilder();
  mb.importMemory("env", "memory");
  const helper = mb.importFunc("js", "helper", HELPER_TYPE);
  const probe = mb.func(PROBE_TYPE, [I64, I32, I32, I32, I32, I32, I32], probeBody());
  const check = mb.func(CHECK_TYPE, [I32], checkBody(probe));
  const fault = mb.func(FAULT_TYPE, [], faultBody());
  const memeq = mb.func({ params: [I32, I32, I32], results: [I32] }, [I32], memeqBody());
  const hash = mb.func({ params: [I32, I32], results: [I32] }, [I32, I32], hashBody());
  const lpmFind = mb.func(
    HASH_FIND_TYPE,
    [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32],
    lpmFindBody(),
  );
  const hashFind = mb.func(HASH_FIND_TYPE, [I32, I32, I32, I32, I32, I32], hashFindBody({ hash, memeq }));
  const lookup = mb.func(
    LOOKUP_TYPE,
    [I32, I32, I32, I32, I32, I32, I32],
    lookupBody({ probe, helper, hashFind, lpmFind }),
  );
  mb.export("check", check);
  mb.export("fault", fault);
  mb.export("lookup", lookup);
  mb.export("hashFind", hashFind);
  mb.export("lpmFind", lpmFind);
  return mb.bytes();
}
