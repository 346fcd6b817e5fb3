import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Btf, vmlinuxBtf, VMLINUX_BTF_PATH } from "../../src/bpf/btf/index.js";
import type { BtfComposite, BtfType } from "../../src/bpf/btf/index.js";
import { BtfError } from "../../src/bpf/errors.js";
import { asBpftool, bpftoolTypes, btfSection, compileFixture } from "./helpers.js";

const objects = compileFixture("btf_objects.c");

test("fixture BTF matches bpftool btf dump type by type", async () => {
  const { path, elf } = await objects;
  const btf = Btf.parse(btfSection(elf), { fileName: path });
  const expected = bpftoolTypes(path);
  assert.equal(btf.types.length - 1, expected.length);
  for (const e of expected) assert.deepEqual(asBpftool(btf.typeById(e.id)), e);
});

test("vmlinux BTF matches bpftool btf dump for every type, and parses quickly", () => {
  const buf = readFileSync(VMLINUX_BTF_PATH);
  const times: number[] = [];
  let btf: Btf | undefined;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    btf = Btf.parse(buf);
    times.push(performance.now() - t0);
  }
  const best = Math.min(...times);
  console.log(
    `# vmlinux BTF: ${btf!.types.length} types, ${buf.length} bytes, parse ${best.toFixed(0)} ms (best of 3)`,
  );
  assert.ok(best < 3000, `vmlinux parse took ${best} ms`);
  const expected = bpftoolTypes(VMLINUX_BTF_PATH);
  assert.equal(btf!.types.length - 1, expected.length);
  let mismatches = 0;
  for (const e of expected) {
    const got = asBpftool(btf!.typeById(e.id));
    // Compare the full records; report the first few differences.
    try {
      assert.deepEqual(got, e);
    } catch (err) {
      if (++mismatches <= 3) console.log(err);
    }
  }
  assert.equal(mismatches, 0);
});

test("marshal of an untouched parse is byte-identical (fixture and vmlinux)", async () => {
  const { elf } = await objects;
  const raw = btfSection(elf);
  assert.ok(Buffer.from(raw).equals(Btf.parse(raw).marshal()));
  const vm = readFileSync(VMLINUX_BTF_PATH);
  const t0 = performance.now();
  const out = Btf.parse(vm).marshal();
  console.log(`# vmlinux parse+marshal ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(vm.equals(out));
});

test("parse(marshal(x)) gives back x after edits, with new strings appended", async () => {
  const { elf } = await objects;
  const btf = Btf.parse(btfSection(elf));
  const types = structuredClone(btf.ownTypes) as BtfType[];
  const flags = types.find((t) => t.name === "flags") as BtfComposite;
  flags.members[0].name = "renamed_field";
  flags.members.push({ name: "extra", type: flags.members[3].type, bitOffset: 128, bitfieldSize: 0 });
  flags.size = 24;
  const id = types.length + 1;
  types.push({ id, name: "brand_new_t", kind: "typedef", type: flags.id });
  types.push({
    id: id + 1,
    name: "neg",
    kind: "enum64",
    size: 8,
    signed: true,
    values: [{ name: "M", value: -5n }],
  });
  types.push({ id: id + 2, name: "", kind: "type_tag", type: 1, attribute: true });
  types.push({ id: id + 3, name: "only_kf", kind: "struct", size: 0, members: [], kindFlag: true });
  const edited = new Btf(types, { strings: btf.strings });
  const blob = edited.marshal();
  const back = Btf.parse(blob);
  assert.deepEqual(back.types, edited.types);
  assert.equal(back.typeName(id), "brand_new_t");
  assert.equal(back.member(flags.id, "renamed_field")?.member.bitOffset, 0);
  // A BTF built from scratch (no string table to reuse) round trips too.
  const fresh = new Btf(structuredClone(types));
  assert.deepEqual(Btf.parse(fresh.marshal()).types, fresh.types);
});

test("split BTF: ids and string offsets continue the base", () => {
  const base = vmlinuxBtf();
  const intId = base.typeByName("int", "int").id;
  const skb = base.typeByName("sk_buff", "struct").id;
  const first = base.types.length;
  const own: BtfType[] = [
    {
      id: first,
      name: "px_mod_struct",
      kind: "struct",
      size: 16,
      members: [
        { name: "count", type: intId, bitOffset: 0, bitfieldSize: 0 },
        { name: "skb", type: first + 1, bitOffset: 64, bitfieldSize: 0 },
      ],
    },
    { id: first + 1, name: "", kind: "ptr", type: skb },
  ];
  const split = new Btf(own, { base });
  const blob = split.marshal();
  const back = Btf.parse(blob, { base });
  assert.equal(back.firstTypeId, first);
  assert.deepEqual(back.ownTypes, own);
  assert.equal(back.typeById(intId), base.typeById(intId));
  assert.equal(back.typeName(first + 1), "struct sk_buff *");
  assert.deepEqual(
    back.typesByName("px_mod_struct").map((t) => t.id),
    [first],
  );
  assert.equal(back.sizeof(first), 16);
  // "count" exists in the base string table, so no new copy of it is added.
  assert.ok(!blob.includes(Buffer.from("count\0")));
  assert.throws(() => Btf.parse(blob), BtfError, "split BTF without its base is rejected");
});

test("lookups, resolve, sizeof, alignof and typeName", async () => {
  const { elf } = await objects;
  const btf = Btf.parse(btfSection(elf));
  const flags = btf.typeByName("flags", "struct");
  assert.equal(btf.typeName(flags.id), "struct flags");
  assert.equal(btf.sizeof(flags.id), 16);
  assert.equal(btf.alignof(flags.id), 8);
  const c = btf.member(flags.id, "c");
  assert.deepEqual([c?.member.bitOffset, c?.member.bitfieldSize], [8, 7]);
  const cb = btf.typeByName("cb_t");
  assert.equal(btf.typeName(cb.id), "cb_t");
  assert.equal(btf.typeName(btf.resolveId(cb.id)), "int (*)(void *)");
  const greeting = btf.typeByName("greeting", "var");
  assert.equal(btf.typeName(greeting.id), "const char greeting[16]");
  assert.equal(btf.sizeof(greeting.id), 16);
  assert.equal(btf.typeName((greeting as { type: number }).type), "const char[16]");
  const xdp = btf.typeByName("xdp_prog", "func");
  assert.equal(btf.typeName(xdp.id), "int xdp_prog(struct xdp_md *ctx)");
  assert.equal(btf.typeName(btf.typeByName("colour", "enum").id), "enum colour");
  assert.throws(() => btf.typeByName("no_such_type"), /no BTF type named 'no_such_type'/);
  assert.throws(() => btf.sizeof(xdp.id), /has no size/);
  assert.equal(btf.findType("flags", "union"), undefined);

  const vm = vmlinuxBtf();
  assert.equal(vmlinuxBtf(), vm, "vmlinux BTF is parsed once and cached");
  const skb = vm.typeByName("sk_buff", "struct");
  assert.equal(vm.sizeof(skb.id), (skb as BtfComposite).size);
  assert.equal(vm.alignof(skb.id), 8);
  assert.equal(vm.typeName(vm.typeByName("u32", "typedef").id), "u32");
  assert.equal(vm.typeName(vm.resolveId(vm.typeByName("u32", "typedef").id)), "unsigned int");
  // sk_buff.len sits inside nested anonymous unions/structs in some kernels: found either way.
  const len = vm.member(skb.id, "len");
  assert.ok(len && len.bitOffset > 0 && len.member.name === "len");
  const iph = vm.typeByName("iphdr", "struct");
  assert.equal(vm.sizeof(iph.id), 20);
  const saddr = vm.member(iph.id, "saddr")!;
  assert.equal(saddr.bitOffset, 96);
  assert.ok(saddr.path.length >= 1);
  const charPtrArr = vm.types.find((t) => t.kind === "ptr" && vm.types[t.type]?.kind === "array");
  if (charPtrArr) assert.match(vm.typeName(charPtrArr.id), /\(\*\)\[\d+\]$/);
  const constPtr = vm.types.find((t) => t.kind === "const" && vm.types[t.type]?.kind === "ptr");
  assert.ok(constPtr && / \*const$/.test(vm.typeName(constPtr.id)), vm.typeName(constPtr!.id));
});

/** Asserts that Btf.parse fails with a BtfError matching `re`. */
function rejects(buf: Uint8Array, re: RegExp) {
  assert.throws(
    () => Btf.parse(buf, { fileName: "x.o" }),
    (e: unknown) => e instanceof BtfError && re.test(e.message) && e.message.startsWith("x.o: "),
  );
}

test("corrupt BTF is reported with what is wrong", async () => {
  const { elf } = await objects;
  const good = Buffer.from(btfSection(elf));
  const patch = (at: number, f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  rejects(good.subarray(0, 5), /truncated/);
  rejects(
    patch(0, (b) => b.writeUInt16BE(0xeb9f, 0)),
    /big-endian BTF/,
  );
  rejects(
    patch(0, (b) => b.writeUInt16LE(0x1234, 0)),
    /not BTF: magic 0x1234/,
  );
  rejects(
    patch(0, (b) => b.writeUInt32LE(0xffff, 12)),
    /type section .* runs past the end/,
  );
  rejects(
    patch(0, (b) => b.writeUInt32LE(0x7fffffff, 20)),
    /string section .* runs past the end/,
  );
  rejects(good.subarray(0, good.length - 200), /runs past the end/);
  // First type: make its name offset point outside the string table.
  rejects(
    patch(0, (b) => b.writeUInt32LE(0xfffff0, 24)),
    /BTF type 1 .*name offset 16777200 is outside/,
  );
  // First type: unknown kind 31.
  rejects(
    patch(0, (b) => b.writeUInt32LE((31 << 24) >>> 0, 28)),
    /BTF type 1 has unknown kind 31/,
  );
  // A pointer to a type id that does not exist.
  const btf = Btf.parse(good);
  const ptr = btf.types.find((t) => t.kind === "ptr")!;
  let off = 24;
  for (let id = 1; id < ptr.id; id++) off += 12 + extraSize(btf.types[id]);
  rejects(
    patch(0, (b) => b.writeUInt32LE(99999, off + 8)),
    new RegExp(`type ${ptr.id} refers to type 99999`),
  );
});

function extraSize(t: BtfType): number {
  switch (t.kind) {
    case "int":
    case "var":
    case "decl_tag":
      return 4;
    case "array":
      return 12;
    case "struct":
    case "union":
      return 12 * t.members.length;
    case "enum":
      return 8 * t.values.length;
    case "func_proto":
      return 8 * t.params.length;
    case "enum64":
      return 12 * t.values.length;
    case "datasec":
      return 12 * t.vars.length;
    default:
      return 0;
  }
}
