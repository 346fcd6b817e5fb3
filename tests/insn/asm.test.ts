// Text assembler: (e) both syntaxes give the same instructions, labels and comments, objdump
// listings as input, and errors that say which line and what was expected.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AsmError } from "../../src/bpf/errors.js";
import { assemble, decode, disassemble, encode } from "../../src/bpf/insn/index.js";
import { SYNTAX_PAIRS } from "./isa-corpus.js";

test("(e) each uBPF/bpf_conformance line and its LLVM form assemble to the same instruction", () => {
  for (const [ubpf, llvm] of SYNTAX_PAIRS) {
    assert.deepEqual(assemble(ubpf), assemble(llvm), `${ubpf}  <->  ${llvm}`);
    assert.deepEqual(assemble(ubpf, { syntax: "ubpf" }), assemble(ubpf), ubpf);
  }
  // and the corpus as one program in each syntax
  const a = assemble(SYNTAX_PAIRS.map(([u]) => u).join("\n"));
  const b = assemble(SYNTAX_PAIRS.map(([, l]) => l).join("\n"));
  assert.deepEqual(encode(a), encode(b));
});

test("labels resolve to slot offsets, counting lddw as two slots, in both directions", () => {
  const insns = assemble(`
    top:
      r0 = 0x100000000 ll      ; two slots
      if r0 == 0 goto done
      goto top                 // backwards
    done: exit                 # label and instruction on one line
  `);
  assert.deepEqual(
    insns.map((i) => [i.code, i.off]),
    [
      [0x18, 0],
      [0x15, 1],
      [0x05, -4],
      [0x95, 0],
    ],
  );
  // gotol and bpf-to-bpf calls put the offset in imm
  const far = assemble("gotol end\ncall f\nf: exit\nend: exit");
  assert.deepEqual(
    far.map((i) => [i.code, i.src, i.imm]),
    [
      [0x06, 0, 2],
      [0x85, 1, 0],
      [0x95, 0, 0],
      [0x95, 0, 0],
    ],
  );
});

test("uBPF programs may jump to `exit`, meaning the first exit instruction", () => {
  const insns = assemble("mov r0, 1\njne r0, 1, exit\nmov r0, 2\nexit\nmov r0, 3\nexit");
  assert.equal(insns[1].off, 1);
  // an explicit label named exit wins
  assert.equal(assemble("ja exit\nexit\nexit:\nexit")[0].off, 1);
});

test("calls by name go to a label of the program, else to the helper of that name", () => {
  const [helper] = assemble("call bpf_ktime_get_ns");
  assert.deepEqual([helper.src, helper.imm], [0, 5]);
  const [local] = assemble("call ktime_get_ns\nexit\nktime_get_ns: exit");
  assert.deepEqual([local.src, local.imm], [1, 1]);
  assert.throws(
    () => assemble("call no_such_thing"),
    /line 1: 'no_such_thing' is neither a label nor a helper/,
  );
});

test("lddw of a symbol that is not a label becomes a map reference; map names resolve through `maps`", () => {
  const [sym] = assemble("r1 = my_map ll");
  assert.deepEqual(sym.ref, { map: "my_map" });
  const [fd] = assemble("lddw r1, map_by_fd(counts)", { maps: { counts: 3 } });
  assert.deepEqual([fd.src, fd.imm, fd.ref], [1, 3, undefined]);
  const [val] = assemble("r2 = map_val(map_by_fd(data)) + 12 ll");
  assert.deepEqual([val.src, val.imm, val.imm2, val.ref], [2, 0, 12, { map: "data", mapOffset: 12 }]);
  const [ksym] = assemble("lddw r3, var_addr(bpf_prog_active)");
  assert.deepEqual([ksym.src, ksym.ref], [3, { extern: "bpf_prog_active" }]);
});

test("an llvm-objdump listing assembles back to the bytes it shows", () => {
  const bytes = encode(
    assemble(`
      r1 = 5
      loop:
      r1 += -1
      r2 = 0xdeadbeefcafe ll
      if r1 s> 0 goto loop
      w0 = atomic_fetch_add((u32 *)(r10 - 4), w0)
      exit
    `),
  );
  const listing = `Disassembly of section xdp:\n\n${disassemble(decode(bytes), {
    alu32: true,
    sectionName: "xdp",
    symbols: [
      { name: "prog", offset: 0 },
      { name: "LBB0_1", offset: 8 },
    ],
  })}`;
  assert.match(listing, /if r1 s> 0x0 goto -0x4 <LBB0_1>/);
  assert.deepEqual(encode(assemble(listing)), bytes);
});

test("errors carry the line number and say what was expected", () => {
  const cases: [string, RegExp][] = [
    ["exit\nr0 = \n", /^line 2: expected a register, number, symbol or operation, found end of line$/],
    ["r0 += r1 r2", /^line 1: expected end of instruction, found 'r2'$/],
    ["w0 += r1", /^line 1: expected a w register/],
    ["r0 = *(u128 *)(r1 + 0)", /^line 1: expected u8, u16, u32, u64, s8, s16 or s32/],
    ["r0 = *(u32 *)(r1 + 0x8000)", /offset 32768 does not fit in 16 bits/],
    ["r0 = 0x100000000", /does not fit in 32 bits/],
    ["if r1 ~ r2 goto +1", /unexpected character '~'/],
    ["if r1 =< r2 goto +1", /expected a comparison/],
    ["goto nowhere", /^line 1: unknown label nowhere$/],
    ["a:\na:", /^line 2: label a is defined twice$/],
    ["frobnicate r1, 2", /^line 1: unknown mnemonic 'frobnicate'$/],
    ["ldxw r0, r1", /^line 1: expected '\['/],
    ["mov r0", /^line 1: expected ',', found end of line$/],
    ["lock *(u16 *)(r1 + 0) += r2", /u32 or u64/],
    ["r1 = be16 r2", /byte swaps work in place/],
    ["r0 = cmpxchg_64(r1 + 0, r2, r3)", /cmpxchg compares with r0/],
    ["ldxsdw r0, [r1]", /ldxsb, ldxsh or ldxsw/],
    ["goto +40000", /does not fit in 16 bits/],
    ["       4:\t18 01 00 00 00 00 00 00\t<unknown>", /could not decode/],
  ];
  for (const [src, expected] of cases) {
    assert.throws(
      () => assemble(src),
      (e: unknown) => e instanceof AsmError && expected.test(e.message),
      `${JSON.stringify(src)} should fail with ${expected}`,
    );
  }
  // a jump too far for 16 bits through a label
  const far = ["if r0 == 0 goto far", ...Array(40000).fill("r0 += 1"), "far: exit"].join("\n");
  assert.throws(
    () => assemble(far),
    /line 1: jump to far is 40000 slots away, beyond a 16-bit offset \(use gotol\)/,
  );
});

test("registers r11..r15 can be written (to build malformed programs for VM tests)", () => {
  const [i] = assemble("mov %r15, %r11");
  assert.deepEqual([i.dst, i.src], [15, 11]);
});
