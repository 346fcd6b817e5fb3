// (a) Every instruction variant: our assembler produces the bytes llvm-mc-19 produces, and our
// disassembler prints what llvm-objdump-19 prints (plain and with --mattr=+alu32).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assemble, decode, disassemble, encode, formatInstruction } from "../../src/bpf/insn/index.js";
import { llvmCorpus } from "./isa-corpus.js";
import { codeSection, llvmMc, llvmObjdump, ourObjdump, withoutFileLine } from "./llvm-tools.js";

const program = (lines: string[]) =>
  `\t.text\n\t.globl isa\n\t.type isa,@function\nisa:\n${lines.map((l) => `\t${l}`).join("\n")}\n`;

test("every instruction variant assembles to the bytes llvm-mc-19 produces", async () => {
  const lines = llvmCorpus();
  const theirs = codeSection(await llvmMc(program(lines)));
  let slot = 0;
  for (const line of lines) {
    const ours = encode(assemble(line));
    const expected = theirs.subarray(slot * 8, slot * 8 + ours.length);
    assert.equal(ours.toString("hex"), expected.toString("hex"), `"${line}" at slot ${slot}`);
    slot += ours.length / 8;
  }
  assert.equal(slot * 8, theirs.length, "same number of slots");
  // And the whole program at once, labels and directives included.
  assert.deepEqual(encode(assemble(program(lines))), theirs);
});

test("every instruction variant disassembles exactly as llvm-objdump-19 -d prints it", async () => {
  const obj = await llvmMc(program(llvmCorpus()));
  for (const alu32 of [false, true]) {
    const theirs = withoutFileLine(await llvmObjdump(obj, alu32 ? ["-d", "--mattr=+alu32"] : ["-d"]));
    const ours = withoutFileLine(ourObjdump(obj, "a.o", { alu32 }));
    const t = theirs.split("\n");
    const o = ours.split("\n");
    for (let i = 0; i < Math.max(t.length, o.length); i++)
      assert.equal(o[i], t[i], `alu32=${alu32}, line ${i}`);
  }
  // Without raw bytes too.
  const theirs = withoutFileLine(await llvmObjdump(obj, ["-d", "--no-show-raw-insn"]));
  assert.equal(withoutFileLine(ourObjdump(obj, "a.o", { showBytes: false })), theirs);
});

test("our disassembly assembles back to the same bytes (text round trip)", async () => {
  const obj = await llvmMc(program(llvmCorpus()));
  const bytes = codeSection(obj);
  // The default objdump form loses nothing for v4 instructions except atomics that LLVM prints
  // without alu32 as 32-bit adds, so round trip through the alu32 form.
  const text = disassemble(decode(bytes), {
    alu32: true,
    sectionName: ".text",
    symbols: [{ name: "isa", offset: 0 }],
  });
  assert.deepEqual(encode(assemble(text)), bytes);
});

test("calls of functions and kfuncs, and lddw with a map value offset, are printed as LLVM prints their bytes", async () => {
  const src = [
    "call local f", // bpf-to-bpf: src 1, imm relative
    "call kfunc 0x10", // kfunc: src 2
    "r1 = map_val(map_by_fd(3)) + 8 ll",
    "r2 = map_val(map_by_idx(1)) + -4 ll",
    "r3 = code_addr(f) ll",
    "f:",
    "exit",
  ].join("\n");
  const insns = assemble(src);
  assert.deepEqual(
    insns.map((i) => [i.code, i.src, i.imm, i.imm2]),
    [
      [0x85, 1, 7, undefined],
      [0x85, 2, 0x10, undefined],
      [0x18, 2, 3, 8],
      [0x18, 6, 1, -4],
      [0x18, 4, 1, 0],
      [0x95, 0, 0, undefined],
    ],
  );
  const bytes = encode(insns);
  const lines = [];
  for (let i = 0; i < bytes.length; i += 8)
    lines.push(`.byte ${Array.from(bytes.subarray(i, i + 8)).join(", ")}`);
  const obj = await llvmMc(program(lines));
  assert.equal(withoutFileLine(ourObjdump(obj, "a.o")), withoutFileLine(await llvmObjdump(obj)));
  assert.equal(formatInstruction(insns[0]), "call 0x7");
  assert.equal(formatInstruction(insns[2]), "ld_pseudo\tr1, 0x2, 0x3");
});
