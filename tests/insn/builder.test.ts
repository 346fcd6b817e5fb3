// Builder API: each constructor produces the instruction the LLVM syntax names, labels resolve
// through ProgramBuilder, and misuse is an AsmError.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AsmError } from "../../src/bpf/errors.js";
import type { AsmItem } from "../../src/bpf/insn/index.js";
import {
  AtomicOp,
  FP,
  ProgramBuilder,
  R0,
  R1,
  R2,
  R3,
  R9,
  Size,
  addrSpaceCast,
  alu32,
  alu64,
  assemble,
  atomic,
  atomicAnd,
  atomicOr,
  atomicXor,
  be,
  build,
  bswap,
  call,
  callKfunc,
  callx,
  cmpxchg,
  exit,
  gotol,
  ja,
  jmp,
  jmp32,
  label,
  ldAbs,
  ldBtfId,
  ldFunc,
  ldInd,
  ldMapFd,
  ldMapIdx,
  ldMapIdxValue,
  ldMapValue,
  ldx,
  ldxsx,
  lddw,
  le,
  mayGoto,
  mov32,
  mov32Reg,
  mov64,
  mov64Reg,
  movsx32,
  movsx64,
  neg32,
  neg64,
  st,
  stx,
  xchg,
} from "../../src/bpf/insn/index.js";

test("constructors match the instructions the LLVM syntax names", () => {
  const pairs: [AsmItem, string][] = [
    [mov64(R0, 1), "r0 = 1"],
    [mov64(R0, 0xffffffff), "r0 = -1"],
    [mov32(R1, -7), "w1 = -7"],
    [mov64Reg(R1, R9), "r1 = r9"],
    [mov32Reg(R1, R2), "w1 = w2"],
    [alu64.add(R1, R2), "r1 += r2"],
    [alu64.add(R1, 5), "r1 += 5"],
    [alu32.sub(R1, 5), "w1 -= 5"],
    [alu64.mul(R1, R2), "r1 *= r2"],
    [alu64.div(R1, 3), "r1 /= 3"],
    [alu64.sdiv(R1, R2), "r1 s/= r2"],
    [alu32.sdiv(R1, 3), "w1 s/= 3"],
    [alu64.mod(R1, R2), "r1 %= r2"],
    [alu32.smod(R1, R2), "w1 s%= w2"],
    [alu64.or(R1, 1), "r1 |= 1"],
    [alu64.and(R1, R2), "r1 &= r2"],
    [alu64.lsh(R1, 3), "r1 <<= 3"],
    [alu32.rsh(R1, R2), "w1 >>= w2"],
    [alu64.arsh(R1, 63), "r1 s>>= 63"],
    [alu64.xor(R1, R2), "r1 ^= r2"],
    [neg64(R3), "r3 = -r3"],
    [neg32(R3), "w3 = -w3"],
    [movsx64(R1, R2, 32), "r1 = (s32)r2"],
    [movsx32(R1, R2, 16), "w1 = (s16)w2"],
    [be(16, R1), "r1 = be16 r1"],
    [le(64, R1), "r1 = le64 r1"],
    [bswap(32, R1), "r1 = bswap32 r1"],
    [addrSpaceCast(R1, R2, 1, 0), "r1 = addr_space_cast(r2, 1, 0)"],
    [ldx(Size.B, R0, R1, 14), "r0 = *(u8 *)(r1 + 14)"],
    [ldx(Size.DW, R0, FP, -8), "r0 = *(u64 *)(r10 - 8)"],
    [ldxsx(Size.W, R0, R1, 4), "r0 = *(s32 *)(r1 + 4)"],
    [stx(Size.H, FP, R1, -2), "*(u16 *)(r10 - 2) = r1"],
    [st(Size.W, R1, 8, -1), "*(u32 *)(r1 + 8) = -1"],
    [atomic(Size.DW, AtomicOp.ADD, R1, R2, 8), "lock *(u64 *)(r1 + 8) += r2"],
    [atomicOr(Size.W, R1, R2, 0), "lock *(u32 *)(r1 + 0) |= w2"],
    [atomicAnd(Size.DW, R1, R2, 0, true), "r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)"],
    [atomicXor(Size.W, R1, R2, -4, true), "w2 = atomic_fetch_xor((u32 *)(r1 - 4), w2)"],
    [xchg(Size.W, FP, R2, -4), "w2 = xchg32_32(r10 - 4, w2)"],
    [cmpxchg(Size.DW, FP, R2, -8), "r0 = cmpxchg_64(r10 - 8, r0, r2)"],
    [lddw(R1, -2n), "r1 = -2 ll"],
    [lddw(R1, 0x100000000), "r1 = 0x100000000 ll"],
    [ldMapFd(R1, 4), "ld_pseudo r1, 1, 4"],
    [ldMapValue(R1, 4, 16), "r1 = map_val(map_by_fd(4)) + 16 ll"],
    [ldMapIdx(R1, 2), "ld_pseudo r1, 5, 2"],
    [ldMapIdxValue(R1, 2, 8), "r1 = map_val(map_by_idx(2)) + 8 ll"],
    [ldBtfId(R1, 1234), "ld_pseudo r1, 3, 1234"],
    [ldFunc(R1, 3), "ld_pseudo r1, 4, 3"],
    [ldAbs(Size.H, 12), "r0 = *(u16 *)skb[12]"],
    [ldInd(Size.B, R2), "r0 = *(u8 *)skb[r2]"],
    [jmp.jeq(R1, 0, 2), "if r1 == 0 goto +2"],
    [jmp.jsgt(R1, R2, -1), "if r1 s> r2 goto -1"],
    [jmp32.jset(R1, 8, 0), "if w1 & 8 goto +0"],
    [jmp32.jle(R1, R2, 3), "if w1 <= w2 goto +3"],
    [ja(7), "goto +7"],
    [gotol(-70000), "gotol -70000"],
    [mayGoto(2), "may_goto +2"],
    [call(12), "call 12"],
    [call("tail_call"), "call 12"],
    [call("bpf_redirect_map"), "call 51"],
    [callKfunc(99), "call kfunc 99"],
    [callx(R2), "callx r2"],
    [exit(), "exit"],
  ];
  for (const [item, text] of pairs) assert.deepEqual(build([item]), assemble(text), text);
});

test("ProgramBuilder resolves labels forwards and backwards across lddw", () => {
  const p = new ProgramBuilder()
    .label("start")
    .emit(lddw(R1, 1n), jmp.jeq(R1, 0, "end"), ja("start"))
    .emit([mov64(R0, 0), [gotol("end")]])
    .label("end")
    .emit(exit());
  assert.deepEqual(
    p.finish().map((i) => [i.code, i.off, i.imm]),
    [
      [0x18, 0, 1],
      [0x15, 3, 0],
      [0x05, -4, 0],
      [0xb7, 0, 0],
      [0x06, 0, 0],
      [0x95, 0, 0],
    ],
  );
  assert.deepEqual(build([ldMapFd(R1, "counters")])[0].ref, { map: "counters" });
  assert.deepEqual(build([ldMapValue(R1, "data", 4)])[0].ref, { map: "data", mapOffset: 4 });
});

test("misuse is an AsmError", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => mov64(R0, 2 ** 32), /does not fit in 32 bits/],
    [() => mov64(R0, 1.5), /does not fit in 32 bits/],
    [() => ldx(Size.W, R0, R1, 0x8000), /offset 32768 does not fit in 16 bits/],
    [() => ldxsx(Size.DW, R0, R1), /no DW form/],
    [() => movsx32(R0, R1, 32 as 16), /cannot sign-extend 32 bits/],
    [() => be(8 as 16, R0), /16, 32 or 64/],
    [() => atomicOr(Size.B, R0, R1), /W or DW/],
    [() => call("no_such_helper" as "tail_call"), /unknown helper no_such_helper/],
    [() => lddw(R0, 2 ** 60), /not an exact integer/],
    [() => build([ja("missing")]), /unknown label missing/],
    [() => build([label("x"), label("x")]), /defined twice/],
    [() => alu64.add(0 as unknown as typeof R0, 1), /expected a register/],
  ];
  for (const [f, expected] of bad)
    assert.throws(f, (e: unknown) => e instanceof AsmError && expected.test(e.message));
});
