// Programs written with the builder and with the text assembler are real programs: the kernel
// verifies them and BPF_PROG_TEST_RUN computes what the instructions say (v4 ISA included).
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapType, ProgType } from "../../src/bpf/constants.js";
import type { Instruction } from "../../src/bpf/insn/index.js";
import {
  FP,
  R0,
  R1,
  R2,
  R3,
  R4,
  R5,
  R6,
  R7,
  Size,
  alu32,
  alu64,
  assemble,
  atomicAdd,
  bswap,
  build,
  call,
  callFunc,
  cmpxchg,
  encode,
  exit,
  gotol,
  jmp,
  jmp32,
  label,
  lddw,
  ldMapFd,
  ldx,
  ldxsx,
  mov64,
  movsx64,
  st,
  stx,
  xchg,
} from "../../src/bpf/insn/index.js";
import { encodeProgLoad, mapCreate, mapLookupElem, progLoadRaw, progTestRun } from "../../src/bpf/sys/bpf.js";
import { native } from "../../src/bpf/sys/native.js";

/** Loads a socket filter, runs it once on 64 zero bytes, returns r0 (closing the program). */
function run(insns: Instruction[]): number {
  const log = Buffer.alloc(1 << 16);
  const { fd, errno } = progLoadRaw(
    encodeProgLoad(
      { type: ProgType.SOCKET_FILTER, insns: encode(insns), license: "GPL", name: "px_insn" },
      { buf: log, level: 1 },
    ),
  );
  assert.ok(fd >= 0, `load failed (errno ${errno}):\n${log.toString("latin1").replace(/\0.*$/s, "")}`);
  try {
    return progTestRun({ progFd: fd, dataIn: new Uint8Array(64) }).retval;
  } finally {
    native().close(fd);
  }
}

test("a builder program with v4 instructions, atomics, a bpf-to-bpf call and labels runs as written", () => {
  const fail = (n: number) => [label(`fail${n}`), mov64(R0, n), exit()];
  const prog = build([
    // signed division and modulo
    mov64(R1, -17),
    alu64.sdiv(R1, 5),
    jmp.jne(R1, -3, "fail1"),
    mov64(R2, -17),
    alu32.smod(R2, 5),
    jmp32.jne(R2, -2, "fail2"),
    // sign extension: register and memory
    mov64(R3, 0xff),
    movsx64(R3, R3, 8),
    jmp.jne(R3, -1, "fail3"),
    st(Size.H, FP, -16, 0x8001),
    ldxsx(Size.H, R3, FP, -16),
    jmp.jne(R3, -0x7fff, "fail4"),
    // byte swap and a 64-bit constant
    lddw(R4, 0x0102030405060708n),
    bswap(64, R4),
    lddw(R5, 0x0807060504030201n),
    jmp.jne(R4, R5, "fail5"),
    // atomics on the stack: fetch-add, xchg, cmpxchg
    st(Size.DW, FP, -8, 10),
    mov64(R7, 5),
    atomicAdd(Size.DW, FP, R7, -8, true),
    jmp.jne(R7, 10, "fail6"),
    mov64(R7, 40),
    xchg(Size.DW, FP, R7, -8),
    jmp.jne(R7, 15, "fail7"),
    mov64(R0, 40),
    mov64(R6, 99),
    cmpxchg(Size.DW, FP, R6, -8),
    ldx(Size.DW, R7, FP, -8),
    jmp.jne(R7, 99, "fail8"),
    // bpf-to-bpf call across an lddw, and a long jump over the failure blocks
    mov64(R1, 21),
    callFunc("double"),
    jmp.jne(R0, 42, "fail9"),
    gotol("ok"),
    fail(1),
    fail(2),
    fail(3),
    fail(4),
    fail(5),
    fail(6),
    fail(7),
    fail(8),
    fail(9),
    label("ok"),
    mov64(R0, 0x600d),
    exit(),
    label("double"),
    lddw(R2, 2),
    mov64(R0, R1),
    alu64.mul(R0, R2),
    exit(),
  ]);
  assert.equal(run(prog), 0x600d);
});

test("a builder program updates a map through ldMapFd and a helper call", () => {
  const mapFd = mapCreate({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 8,
    maxEntries: 4,
    name: "px_insn_map",
  });
  try {
    const prog = build([
      st(Size.W, FP, -4, 2),
      ldMapFd(R1, mapFd),
      mov64(R2, FP),
      alu64.add(R2, -4),
      call("bpf_map_lookup_elem"),
      jmp.jeq(R0, 0, "out"),
      mov64(R1, 0x77),
      atomicAdd(Size.DW, R0, R1, 0),
      stx(Size.W, R0, R1, 4),
      label("out"),
      mov64(R0, 0),
      exit(),
    ]);
    assert.equal(run(prog), 0);
    const value = Buffer.alloc(8);
    assert.ok(mapLookupElem(mapFd, Buffer.from([2, 0, 0, 0]), value));
    assert.equal(value.readBigUInt64LE(0), 0x0000007700000077n);
  } finally {
    native().close(mapFd);
  }
});

test("text assembly in both syntaxes loads and runs", () => {
  const ubpf = assemble(`
    mov %r0, 0
    mov %r1, 1
    mov %r2, 2
    call local func1     # r0 = r1 + r2 + 40
    jne %r0, 43, fail
    stdw [%r10-8], 0x11223344
    ldxw %r3, [%r10-8]
    be32 %r3
    jne32 %r3, 0x44332211, fail
    mov %r0, 7
    exit
  fail:
    mov %r0, -1
    exit
  func1:
    mov %r0, %r1
    add %r0, %r2
    add32 %r0, 40
    exit
  `);
  assert.equal(run(ubpf), 7);
  const llvm = assemble(`
    r6 = 0 ll
    w1 = -1
    if w1 s> 0 goto bad   ; 32-bit signed comparison
    r1 = 0xffffffff ll
    r2 = (s32)r1
    if r2 != -1 goto bad
    *(u64 *)(r10 - 8) = r2
    r3 = 3
    lock *(u64 *)(r10 - 8) += r3
    r0 = *(u64 *)(r10 - 8)
    exit
  bad:
    r0 = 0
    exit
  `);
  assert.equal(run(llvm), 2);
});
