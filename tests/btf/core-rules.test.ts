// CO-RE rules that clang 14 cannot emit or that need hand-made BTF: ambiguity, candidate pruning,
// flexible arrays, enum64 and lddw, TYPE_MATCHES, validation of the compiler's values.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Btf,
  CoreCandidateCache,
  CoreReloKind,
  applyCoreRelocations,
  essentialName,
  resolveCoreRelocation,
  vmlinuxBtf,
} from "../../src/bpf/btf/index.js";
import type { BtfType, CoreRelo } from "../../src/bpf/btf/index.js";
import { RelocationError } from "../../src/bpf/errors.js";
import type { Instruction } from "../../src/bpf/insn/index.js";

type NewType = BtfType extends infer T ? (T extends BtfType ? Omit<T, "id"> : never) : never;
/** A BTF from types listed in id order (ids from 1). */
const mk = (...types: NewType[]) => new Btf(types.map((t, i) => ({ ...t, id: i + 1 }) as BtfType));
const int = {
  name: "int",
  kind: "int",
  size: 4,
  signed: true,
  char: false,
  bool: false,
  bitOffset: 0,
  bits: 32,
} as const;
const uint = { ...int, name: "unsigned int", signed: false } as const;
const member = (name: string, type: number, bitOffset: number) => ({
  name,
  type,
  bitOffset,
  bitfieldSize: 0,
});
const relo = (typeId: number, accessStr: string, kind: number, insnOff = 0): CoreRelo => ({
  insnOff,
  typeId,
  accessStrOff: 0,
  accessStr,
  kind,
});
const K = CoreReloKind;

/** Asserts a RelocationError whose message matches every pattern. */
function fails(f: () => unknown, ...patterns: RegExp[]) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof RelocationError, String(e));
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test("flavor suffixes are stripped at the last X___Y separator", () => {
  assert.equal(essentialName("task_struct___old"), "task_struct");
  assert.equal(essentialName("a___b___c"), "a___b");
  assert.equal(essentialName("x___y"), "x");
  assert.equal(essentialName("___x"), "___x");
  assert.equal(essentialName("x____y"), "x____y", "four underscores are not a separator");
  assert.equal(essentialName("x___"), "x___");
});

const local = mk(int, {
  name: "foo",
  kind: "struct",
  size: 8,
  members: [member("x", 1, 0), member("y", 1, 32)],
});

test("candidates disagreeing on a field offset are an ambiguity error naming the access", () => {
  const target = mk(
    int,
    { name: "foo___a", kind: "struct", size: 8, members: [member("x", 1, 0), member("y", 1, 32)] },
    { name: "foo___b", kind: "struct", size: 8, members: [member("y", 1, 0), member("x", 1, 32)] },
  );
  fails(
    () => resolveCoreRelocation(relo(2, "0:0", K.FIELD_BYTE_OFFSET), local, target),
    /field offset ambiguity/,
    /struct foo/,
  );
  // Candidates that agree are fine.
  const agree = mk(
    int,
    { name: "foo___a", kind: "struct", size: 8, members: [member("x", 1, 0)] },
    { name: "foo___c", kind: "struct", size: 12, members: [member("x", 1, 0), member("z", 1, 64)] },
  );
  const r = resolveCoreRelocation(relo(2, "0:0", K.FIELD_BYTE_OFFSET), local, agree);
  assert.equal(r.newVal, 0n);
  assert.equal(r.target, "struct foo___a.x");
});

test("candidate lists are pruned by earlier relocations of the same type, as libbpf's cache does", () => {
  const target = mk(
    int,
    { name: "foo___a", kind: "struct", size: 4, members: [member("x", 1, 0)] },
    { name: "foo___b", kind: "struct", size: 8, members: [member("w", 1, 0), member("y", 1, 32)] },
  );
  const y = relo(2, "0:1", K.FIELD_BYTE_OFFSET);
  assert.equal(resolveCoreRelocation(y, local, target).newVal, 4n, "alone, y is found in foo___b");
  const cache = new CoreCandidateCache();
  assert.equal(
    resolveCoreRelocation(relo(2, "0:0", K.FIELD_BYTE_OFFSET), local, target, { cache }).target,
    "struct foo___a.x",
  );
  assert.deepEqual(cache.lists.get(2), [2]);
  assert.equal(
    resolveCoreRelocation(y, local, target, { cache }).poison,
    true,
    "after x matched only foo___a",
  );
});

test("flexible array members may be indexed past their (zero) length; fixed arrays may not", () => {
  const char = {
    name: "char",
    kind: "int",
    size: 1,
    signed: true,
    char: true,
    bool: false,
    bitOffset: 0,
    bits: 8,
  } as const;
  const loc = mk(
    int,
    char,
    { name: "", kind: "array", type: 2, indexType: 1, nelems: 0 },
    {
      name: "buf",
      kind: "struct",
      size: 4,
      members: [member("n", 1, 0), member("data", 3, 32)],
    },
  );
  const long = { ...int, name: "long", size: 8, bits: 64 } as const;
  const targ = mk(int, char, { name: "", kind: "array", type: 2, indexType: 1, nelems: 0 }, long, {
    name: "buf",
    kind: "struct",
    size: 16,
    members: [member("a", 4, 0), member("n", 1, 64), member("data", 3, 96)],
  });
  const r = resolveCoreRelocation(relo(4, "0:1:5", K.FIELD_BYTE_OFFSET), loc, targ);
  assert.deepEqual([r.origVal, r.newVal, r.target], [9n, 17n, "struct buf.data[5]"]);
  const fixed = mk(int, char, { name: "", kind: "array", type: 2, indexType: 1, nelems: 4 }, long, {
    name: "buf",
    kind: "struct",
    size: 16,
    members: [member("a", 4, 0), member("n", 1, 64), member("data", 3, 96), member("after", 1, 128)],
  });
  assert.equal(resolveCoreRelocation(relo(4, "0:1:5", K.FIELD_BYTE_OFFSET), loc, fixed).poison, true);
  assert.equal(resolveCoreRelocation(relo(4, "0:1:3", K.FIELD_BYTE_OFFSET), loc, fixed).newVal, 15n);
  fails(
    () => resolveCoreRelocation(relo(4, "0:1:5", K.FIELD_LSHIFT_U64), loc, targ),
    /cannot be applied to an array element/,
  );
});

test("enum64 values patch both halves of an lddw; enum and enum64 are compatible", () => {
  const loc = mk({
    name: "e64",
    kind: "enum64",
    size: 8,
    signed: false,
    values: [{ name: "BIG", value: 0x1_0000_0005n }],
  });
  const targ = mk({
    name: "e64",
    kind: "enum64",
    size: 8,
    signed: false,
    values: [
      { name: "OTHER", value: 1n },
      { name: "BIG", value: 0x2_0000_0007n },
    ],
  });
  const lddw = (): Instruction => ({ code: 0x18, dst: 1, src: 0, off: 0, imm: 5, imm2: 1 });
  const insns = [lddw()];
  const [applied] = applyCoreRelocations(
    insns,
    new Map([[0, 0]]),
    [relo(1, "0", K.ENUMVAL_VALUE)],
    loc,
    targ,
  );
  assert.deepEqual([applied.result.origVal, applied.result.newVal], [0x1_0000_0005n, 0x2_0000_0007n]);
  assert.deepEqual(insns[0], { code: 0x18, dst: 1, src: 0, off: 0, imm: 7, imm2: 2 });
  const wrong = [{ ...lddw(), imm2: 0 }];
  assert.throws(
    () =>
      applyCoreRelocations(wrong, new Map([[0, 0]]), [relo(1, "0", K.ENUMVAL_VALUE)], loc, targ, {
        section: "xdp",
      }),
    (e: unknown) =>
      e instanceof RelocationError &&
      /enum e64::BIG in xdp, instruction 0: unexpected lddw value: got 5, expected 4294967301/.test(
        e.message,
      ),
  );
  // A 32-bit local enum finds the enum64 target by name.
  const loc32 = mk({
    name: "e64",
    kind: "enum",
    size: 4,
    signed: false,
    values: [{ name: "OTHER", value: 9n }],
  });
  assert.equal(resolveCoreRelocation(relo(1, "0", K.ENUMVAL_VALUE), loc32, targ).newVal, 1n);
});

test("TYPE_MATCHES compares structure: names, int size and signedness", () => {
  const vm = vmlinuxBtf();
  const matches = (members: { name: string; t: NewType }[]) => {
    const types: NewType[] = members.map((m) => m.t);
    types.push({
      name: "sk_buff___m",
      kind: "struct",
      size: 0,
      members: members.map((m, i) => member(m.name, i + 1, 0)),
    });
    const loc = mk(...types);
    return resolveCoreRelocation(relo(types.length, "0", K.TYPE_MATCHES), loc, vm).newVal;
  };
  assert.equal(matches([{ name: "len", t: uint }]), 1n);
  assert.equal(matches([{ name: "len", t: int }]), 0n, "signedness differs");
  assert.equal(
    matches([
      { name: "len", t: uint },
      { name: "px_missing", t: uint },
    ]),
    0n,
  );
  // TYPE_EXISTS is looser: any struct of that name.
  const loc = mk(int, {
    name: "sk_buff___m",
    kind: "struct",
    size: 4,
    members: [member("px_missing", 1, 0)],
  });
  assert.equal(resolveCoreRelocation(relo(2, "0", K.TYPE_EXISTS), loc, vm).newVal, 1n);
});

test("TYPE_ID_LOCAL needs no candidates and is not validated", () => {
  const r = resolveCoreRelocation(relo(2, "0", K.TYPE_ID_LOCAL), local, mk(int));
  assert.deepEqual([r.origVal, r.newVal, r.validate], [2n, 2n, false]);
});

test("the compiler's value is validated and unsupported instructions are rejected, naming the access", () => {
  const target = mk(int, {
    name: "foo",
    kind: "struct",
    size: 8,
    members: [member("y", 1, 0), member("x", 1, 32)],
  });
  const run = (insn: Instruction, r = relo(2, "0:0", K.FIELD_BYTE_OFFSET)) => {
    const insns = [insn];
    applyCoreRelocations(insns, new Map([[0, 0]]), [r], local, target, { fileName: "obj.o", section: "tc" });
    return insns[0];
  };
  assert.equal(run({ code: 0x07, dst: 1, src: 0, off: 0, imm: 0 }).imm, 4, "r1 += 0 becomes r1 += 4");
  assert.equal(run({ code: 0x61, dst: 0, src: 1, off: 0, imm: 0 }).off, 4, "ldxw off 0 becomes off 4");
  fails(
    () => run({ code: 0x07, dst: 1, src: 0, off: 0, imm: 8 }),
    /^obj\.o: /,
    /struct foo\.x in tc/,
    /unexpected ALU immediate: got 8, expected 0/,
  );
  fails(() => run({ code: 0x0f, dst: 1, src: 2, off: 0, imm: 0 }), /register operand/);
  fails(() => run({ code: 0x05, dst: 0, src: 0, off: 0, imm: 0 }), /opcode 0x5 cannot be relocated/);
  fails(
    () => run({ code: 0x07, dst: 1, src: 0, off: 0, imm: 0 }, relo(2, "0:7", K.FIELD_BYTE_OFFSET)),
    /struct foo \(access 0:7\)/,
    /member index 7 is out of range/,
  );
  fails(
    () => run({ code: 0x07, dst: 1, src: 0, off: 0, imm: 0 }, relo(2, "", K.FIELD_BYTE_OFFSET)),
    /empty access string/,
  );
  fails(
    () => run({ code: 0x07, dst: 1, src: 0, off: 0, imm: 0 }, relo(2, "0", 77)),
    /unknown relocation kind 77/,
  );
  fails(
    () =>
      applyCoreRelocations(
        [{ code: 0x07, dst: 1, src: 0, off: 0, imm: 0 }],
        new Map([[0, 0]]),
        [relo(2, "0:0", K.FIELD_BYTE_OFFSET, 12)],
        local,
        target,
      ),
    /offset 12 is not the start of an instruction/,
  );
  const anon = mk(int, { name: "", kind: "struct", size: 4, members: [member("x", 1, 0)] });
  fails(() => resolveCoreRelocation(relo(2, "0:0", K.FIELD_BYTE_OFFSET), anon, target), /anonymous types/);
  // A field whose kernel type is incompatible (struct vs int) does not match: poisoned.
  const incompatible = mk(
    int,
    { name: "", kind: "struct", size: 4, members: [] },
    {
      name: "foo",
      kind: "struct",
      size: 8,
      members: [member("x", 2, 0)],
    },
  );
  assert.equal(resolveCoreRelocation(relo(2, "0:0", K.FIELD_BYTE_OFFSET), local, incompatible).poison, true);
  // Offsets beyond the 16-bit load/store offset cannot be patched.
  const huge = mk(int, { name: "foo", kind: "struct", size: 70000, members: [member("x", 1, 8 * 40000)] });
  fails(
    () =>
      applyCoreRelocations(
        [{ code: 0x61, dst: 0, src: 1, off: 0, imm: 0 }],
        new Map([[0, 0]]),
        [relo(2, "0:0", K.FIELD_BYTE_OFFSET)],
        local,
        huge,
      ),
    /40000 does not fit/,
  );
});
