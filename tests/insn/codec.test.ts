// Byte codec: decode/encode, lddw as one instruction over two slots, slot <-> index mapping,
// and (d) garbage input never throws anything but the typed InsnError.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { InsnError } from "../../src/bpf/errors.js";
import {
  SlotMap,
  branchTarget,
  decode,
  encode,
  lddwValue,
  slotCount,
  splitImm64,
  validate,
} from "../../src/bpf/insn/index.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

test("decode reads fields little endian with signed offset and immediate", () => {
  const [i] = decode(hex("79 a1 f8 ff fe ff ff ff"));
  assert.deepEqual(i, { code: 0x79, dst: 1, src: 10, off: -8, imm: -2 });
});

test("lddw is one instruction spanning two slots, and its value round trips", () => {
  const bytes = hex("18 01 00 00 f0 de bc 9a 00 00 00 00 78 56 34 12 95 00 00 00 00 00 00 00");
  const insns = decode(bytes);
  assert.equal(insns.length, 2);
  assert.equal(insns[0].imm2, 0x12345678);
  assert.equal(lddwValue(insns[0]), 0x123456789abcdef0n);
  assert.equal(slotCount(insns), 3);
  assert.deepEqual(encode(insns), bytes);
  assert.deepEqual(splitImm64(-1n), { imm: -1, imm2: -1 });
  assert.deepEqual(splitImm64(0xffffffffffffffffn), { imm: -1, imm2: -1 });
  assert.equal(lddwValue({ code: 0x18, dst: 0, src: 0, off: 0, ...splitImm64(-2n) }), -2n);
  assert.throws(() => splitImm64(1n << 64n), InsnError);
});

test("malformed byte sequences are InsnErrors naming the slot", () => {
  assert.throws(() => decode(hex("95 00 00 00 00 00 00")), /not a whole number/);
  assert.throws(
    () => decode(hex("b7 00 00 00 00 00 00 00 18 01 00 00 01 00 00 00")),
    (e: unknown) => e instanceof InsnError && e.slot === 1 && /missing its second slot/.test(e.message),
  );
  assert.throws(
    () => decode(hex("18 01 00 00 01 00 00 00 00 00 01 00 00 00 00 00")),
    (e: unknown) => e instanceof InsnError && e.slot === 1 && /second slot/.test(e.message),
  );
});

test("encode rejects fields that do not fit and accepts unsigned 32-bit immediates", () => {
  assert.throws(() => encode([{ code: 0xb7, dst: 16, src: 0, off: 0, imm: 0 }]), InsnError);
  assert.throws(() => encode([{ code: 0xb7, dst: 0, src: 0, off: 0x8000, imm: 0 }]), InsnError);
  assert.throws(() => encode([{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 2 ** 32 }]), InsnError);
  assert.throws(() => encode([{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 1.5 }]), InsnError);
  assert.throws(
    () => encode([{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0, imm2: 1 }]),
    /only meaningful on lddw/,
  );
  assert.deepEqual(
    encode([{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0xffffffff }]),
    hex("b7 00 00 00 ff ff ff ff"),
  );
});

test("SlotMap maps instruction indices to slots and back, around lddw", () => {
  const insns = decode(
    hex(
      "b7 00 00 00 00 00 00 00 18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05 00 fd ff 00 00 00 00 95 00 00 00 00 00 00 00",
    ),
  );
  const m = new SlotMap(insns);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((i) => m.slotOf(i)),
    [0, 1, 3, 4, 5],
  );
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((s) => m.indexOf(s)),
    [0, 1, undefined, 2, 3],
  );
  assert.equal(m.totalSlots, 5);
  assert.throws(() => m.slotOf(7), InsnError);
  // goto -3 at slot 3 goes to slot 1 (the lddw)
  assert.equal(branchTarget(insns[2], 3), 1);
  assert.equal(branchTarget(insns[3], 4), undefined);
  assert.equal(branchTarget({ code: 0x06, dst: 0, src: 0, off: 0, imm: -2 }, 10), 9, "gotol uses imm");
  assert.equal(branchTarget({ code: 0x85, dst: 0, src: 1, off: 0, imm: 4 }, 10), 15, "pseudo call");
  assert.equal(branchTarget({ code: 0x85, dst: 0, src: 0, off: 0, imm: 4 }, 10), undefined, "helper call");
  assert.equal(branchTarget({ code: 0x18, dst: 1, src: 4, off: 0, imm: 2, imm2: 0 }, 10), 13, "ld func");
});

test("(d) random bytes: decode either succeeds and re-encodes identically, or throws InsnError", () => {
  let decoded = 0;
  let rejected = 0;
  for (let round = 0; round < 3000; round++) {
    const n = Math.floor(Math.random() * 12) * 8 + (round % 10 === 0 ? round % 7 : 0);
    const bytes = randomBytes(n);
    // Make lddw (and its rules) frequent enough to matter.
    for (let p = 0; p + 8 <= n; p += 8) if (Math.random() < 0.3) bytes[p] = 0x18;
    try {
      const insns = decode(bytes);
      assert.deepEqual(encode(insns), bytes);
      for (const i of insns) {
        const v = validate(i);
        assert.ok(v === undefined || typeof v === "string");
      }
      decoded++;
    } catch (e) {
      if (!(e instanceof InsnError)) throw e;
      rejected++;
    }
  }
  assert.ok(
    decoded > 100 && rejected > 100,
    `both outcomes happen (${decoded} decoded, ${rejected} rejected)`,
  );
});

test("decode accepts views into larger buffers (byteOffset)", () => {
  const big = Buffer.concat([Buffer.alloc(3), hex("b7 01 00 00 2a 00 00 00")]);
  const [i] = decode(big.subarray(3));
  assert.deepEqual(i, { code: 0xb7, dst: 1, src: 0, off: 0, imm: 42 });
});
