// validate(): every well-formed instruction passes, and each kind of malformation is named.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InsnError } from "../../src/bpf/errors.js";
import type { Instruction } from "../../src/bpf/insn/index.js";
import { assemble, assertValid, validate } from "../../src/bpf/insn/index.js";
import { SYNTAX_PAIRS, llvmCorpus } from "./isa-corpus.js";

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0, imm2?: number): Instruction =>
  imm2 === undefined ? { code, dst, src, off, imm } : { code, dst, src, off, imm, imm2 };

test("every instruction of the ISA corpora is valid (Linux extensions with linux: true)", () => {
  const extensions = /may_goto|addr_space_cast/;
  for (const line of llvmCorpus()) {
    for (const insn of assemble(line)) {
      assert.equal(validate(insn, { linux: true }), undefined, line);
      if (!extensions.test(line)) assert.equal(validate(insn), undefined, line);
      else assert.notEqual(validate(insn), undefined, `${line} is not RFC 9669`);
    }
  }
  for (const [ubpf] of SYNTAX_PAIRS)
    for (const insn of assemble(ubpf)) assert.equal(validate(insn), undefined, ubpf);
});

test("malformed instructions are described", () => {
  const cases: [Instruction, RegExp][] = [
    [I(0xb7, 11), /invalid dst register r11/],
    [I(0xbf, 1, 12), /invalid src register r12/],
    [I(0x07, 1, 2, 0, 5), /reserved src/],
    [I(0x0f, 1, 2, 0, 5), /reserved immediate/],
    [I(0x07, 1, 0, 3, 5), /reserved offset/],
    [I(0x37, 1, 0, 2, 5), /div\/mod offset/],
    [I(0xbf, 1, 2, 32 + 1), /sign-extension/],
    [I(0xbc, 1, 2, 32), /sign-extension/],
    [I(0xb7, 1, 0, 8, 0), /sign-extension/],
    [I(0x87, 1, 0, 0, 1), /neg/],
    [I(0x8f, 1, 2), /neg/],
    [I(0xd4, 1, 0, 0, 8), /invalid width 8/],
    [I(0xdf, 1, 0, 0, 16), /unknown opcode 0xdf/],
    [I(0xe7, 1), /unknown opcode/],
    [I(0x18, 1, 7, 0, 0, 0), /unknown pseudo source 7/],
    [I(0x18, 1, 1, 0, 3, 4), /zero second immediate/],
    [I(0x18, 1, 0, 1, 0, 0), /reserved offset/],
    [I(0x00, 1), /unknown opcode 0x00/],
    [I(0x38), /no DW/],
    [I(0x20, 1, 0, 0, 4), /legacy packet load/],
    [I(0x61, 1, 2, 0, 1), /reserved immediate/],
    [I(0x99, 1, 2), /unknown opcode/],
    [I(0x62, 1, 2, 0, 1), /reserved src/],
    [I(0xc2, 1, 0, 0, 1), /unknown opcode/],
    [I(0x63, 1, 2, 0, 1), /reserved immediate/],
    [I(0xd3, 1, 2, 0, 0), /W or DW/],
    [I(0xdb, 1, 2, 0, 0x10), /unknown atomic operation 0x10/],
    [I(0xdb, 1, 2, 0, 0xe0), /unknown atomic operation/],
    [I(0x05, 1), /ja uses reserved/],
    [I(0x05, 0, 0, 1, 1), /reserved immediate/],
    [I(0x06, 0, 0, 1, 1), /gotol uses the reserved offset/],
    [I(0x85, 1, 0, 0, 1), /reserved dst/],
    [I(0x85, 0, 3, 0, 1), /unknown source 3/],
    [I(0x85, 0, 1, 2, 1), /reserved offset/],
    [I(0x86, 0, 0, 0, 1), /unknown opcode 0x86/],
    [I(0x8d, 1, 0, 0, 1), /callx uses reserved/],
    [I(0x95, 0, 0, 0, 1), /exit uses reserved/],
    [I(0x96), /unknown opcode/],
    [I(0xe5, 0, 0, 2), /unknown opcode 0xe5/],
    [I(0xf5), /unknown opcode/],
    [I(0x15, 1, 2, 1, 0), /reserved src/],
    [I(0x1d, 1, 2, 1, 9), /reserved immediate/],
  ];
  for (const [insn, expected] of cases) {
    const problem = validate(insn);
    assert.ok(problem !== undefined, `expected a problem with ${JSON.stringify(insn)}`);
    assert.match(problem, expected, JSON.stringify(insn));
  }
  // Linux-only instructions, malformed even with extensions enabled
  assert.match(validate(I(0xe5, 1, 0, 2), { linux: true }) ?? "", /may_goto/);
  assert.match(validate(I(0xbf, 1, 2, 1, 5), { linux: true }) ?? "", /address spaces/);
  assert.equal(validate(I(0x85, 0, 2, 3, 77)), undefined, "kfunc call with a module BTF index");
});

test("assertValid throws an InsnError naming the instruction", () => {
  assert.doesNotThrow(() => assertValid(assemble("r0 = 0\nexit")));
  assert.throws(
    () => assertValid([I(0xb7), I(0xb7, 13)]),
    (e: unknown) => e instanceof InsnError && /instruction 1: invalid dst register r13/.test(e.message),
  );
});
