// Every opcode byte, with each field varied, plus random words: our disassembler decides what is
// decodable and prints it exactly as llvm-objdump-19 does, including <unknown> words, lddw cut
// short at the end of a section, and the one-byte steps objdump then takes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { llvmMc, llvmObjdump, ourObjdump, withoutFileLine } from "./llvm-tools.js";

const OFFS = [0, 1, 2, 8, 16, 32, 64, -1, -8, 0x7fff, -0x8000];
const IMMS = [
  0, 1, 2, 3, 8, 16, 32, 64, -1, 0x10, 0x11, 0x21, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe0, 0xe1,
];
IMMS.push(0xf0, 0xf1, 0x101, 0x10000, 0x10001, 0x7fffffff, -0x80000000, 0x12345678);

function word(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = code;
  b[1] = (src << 4) | dst;
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm | 0, 4);
  return b;
}

function sweepWords(): Buffer {
  const out: Buffer[] = [];
  for (let code = 0; code < 256; code++) {
    const variants: [number, number, number, number][] = [[1, 2, 0, 0]];
    for (let r = 0; r < 16; r++) variants.push([r, 2, 0, 0], [1, r, 0, 0]);
    for (const off of OFFS) variants.push([1, 2, off, 0]);
    for (const imm of IMMS) variants.push([1, 2, 0, imm], [1, 2, 1, imm], [1, 0, 0, imm]);
    for (const [dst, src, off, imm] of variants) {
      out.push(word(code, dst, src, off, imm));
      // lddw: a second slot, sometimes with (ignored by LLVM) non-zero reserved fields
      if (code === 0x18) out.push(word(0, 0, 0, imm & 1, (imm * 7919) | 0));
    }
  }
  // a truncated lddw and stray bytes at the end of the section
  out.push(Buffer.from([0x18, 1, 0, 0, 1, 2, 3, 4, 0, 0, 0]));
  return Buffer.concat(out);
}

async function compare(bytes: Buffer): Promise<void> {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16)
    lines.push(`\t.byte ${Array.from(bytes.subarray(i, i + 16)).join(", ")}`);
  const obj = await llvmMc(`\t.text\n\t.globl sweep\n\t.type sweep,@function\nsweep:\n${lines.join("\n")}\n`);
  for (const alu32 of [false, true]) {
    const theirs = withoutFileLine(await llvmObjdump(obj, alu32 ? ["-d", "--mattr=+alu32"] : ["-d"])).split(
      "\n",
    );
    const ours = withoutFileLine(ourObjdump(obj, "a.o", { alu32 })).split("\n");
    const diffs: string[] = [];
    for (let i = 0; i < Math.max(theirs.length, ours.length) && diffs.length < 10; i++)
      if (ours[i] !== theirs[i]) diffs.push(`llvm: ${theirs[i]}\nours: ${ours[i]}`);
    assert.deepEqual(diffs, [], `alu32=${alu32}: ${diffs.length} differing lines`);
    assert.ok(theirs.length > bytes.length / 16, "objdump printed the words");
  }
}

test("every opcode byte with varied fields prints as llvm-objdump-19 prints it", async () => {
  await compare(sweepWords());
});

test("random instruction words print as llvm-objdump-19 prints them", async () => {
  const bytes = randomBytes(8 * 50000);
  // Keep register nibbles mostly in range so more words decode.
  for (let i = 0; i < bytes.length; i += 16) bytes[i + 1] &= 0xbb;
  await compare(bytes);
});
