// The bpf_conformance .data format: program (asm or raw), memory, expected result or error, maps.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AsmError, InsnError } from "../../src/bpf/errors.js";
import { assemble, encode, parseConformance } from "../../src/bpf/insn/index.js";

test("asm, mem and result sections", () => {
  const t = parseConformance(
    [
      "# a test of our own",
      "-- asm",
      "ldxh %r0, [%r1+2]   # second half-word",
      "",
      "be16 %r0",
      "jeq %r0, 0x3344, exit",
      "mov %r0, 0",
      "exit",
      "-- mem",
      "11 22 33 44",
      "0x55 66",
      "-- result",
      "0x3344",
    ].join("\n"),
  );
  assert.deepEqual(t.memory, Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]));
  assert.equal(t.result, 0x3344n);
  assert.equal(t.error, undefined);
  assert.equal(t.instructions.length, 5);
  assert.equal(t.instructions[2].off, 1, "jump to the first exit");
  assert.deepEqual(t.program, encode(t.instructions));
  assert.match(t.asm, /^ldxh %r0/);
});

test("raw programs, errors, negative and decimal results, CRLF line ends", () => {
  const raw = parseConformance("-- raw\r\n0x00000000000000b7 0x0000000000000095\r\n-- result\r\n-1\r\n");
  assert.deepEqual(raw.program, Buffer.from("b700000000000000" + "9500000000000000", "hex"));
  assert.deepEqual(
    raw.instructions.map((i) => i.code),
    [0xb7, 0x95],
  );
  assert.equal(raw.result, 0xffffffffffffffffn);

  const err = parseConformance(
    "-- asm\nmov %r11, 1\nexit\n-- error\nInvalid dst register 11 at pc 0\n-- result\n0\n",
  );
  assert.equal(err.error, "Invalid dst register 11 at pc 0");
  assert.equal(err.instructions[0].dst, 11);
  assert.equal(parseConformance("-- asm\nexit\n-- error\n").error, "", "an empty error section");
  assert.throws(() => parseConformance("-- raw\n0x18\n-- result\n0\n"), InsnError, "truncated lddw");
});

test("maps: map_by_fd(name) encodes the map's index; ignored sections are ignored", () => {
  const t = parseConformance(
    [
      "-- map",
      "# name type key value entries",
      "counters 2 4 8 16",
      "flags 1 4 4 4",
      "-- asm",
      "lddw r1, map_by_fd(flags)",
      "lddw r2, map_val(map_by_fd(counters)) + 8",
      "call bpf_map_lookup_elem",
      "exit",
      "-- c",
      "int main() { return 0; }",
      "-- no register offset",
      "call instruction",
      "-- result",
      "7",
    ].join("\n"),
  );
  assert.deepEqual(t.maps, [
    { name: "counters", type: 2, keySize: 4, valueSize: 8, maxEntries: 16 },
    { name: "flags", type: 1, keySize: 4, valueSize: 4, maxEntries: 4 },
  ]);
  assert.deepEqual(
    t.instructions.map((i) => [i.src, i.imm, i.imm2]),
    [
      [1, 1, 0],
      [2, 0, 8],
      [0, 1, undefined],
      [0, 0, undefined],
    ],
  );
  assert.equal(t.result, 7n);
});

test("errors point at the line of the .data file", () => {
  assert.throws(
    () => parseConformance("# header\n-- asm\nmov %r0, 1\nbogus %r0\nexit\n-- result\n1\n"),
    (e: unknown) => e instanceof AsmError && e.line === 4 && /unknown mnemonic 'bogus'/.test(e.message),
  );
  assert.throws(() => parseConformance("-- weird\n"), /line 1: unknown section '-- weird'/);
  assert.throws(() => parseConformance("-- mem\nzz\n"), /line 2: expected a hex byte, found 'zz'/);
  assert.throws(() => parseConformance("-- result\nnope\n"), /line 2: expected the expected result/);
  assert.throws(() => parseConformance("-- map\nm 1 2\n"), /line 2: expected: name type key_size/);
});

test("the conformance assembler's program equals the same program in LLVM syntax", () => {
  const t = parseConformance(
    "-- asm\nmov32 %r0, 0x10\nlsh32 %r0, 4\narsh %r0, 2\nneg %r0\nexit\n-- result\n0\n",
  );
  assert.deepEqual(t.instructions, assemble("w0 = 0x10\nw0 <<= 4\nr0 s>>= 2\nr0 = -r0\nexit"));
});
