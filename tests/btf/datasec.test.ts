import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Btf, DUMMY_KSYM, fixupDatasecs } from "../../src/bpf/btf/index.js";
import type { BtfDatasec, BtfFunc, BtfFuncProto, BtfVar } from "../../src/bpf/btf/index.js";
import { ElfFile } from "../../src/bpf/elf/index.js";
import { BtfError } from "../../src/bpf/errors.js";
import { btfSection, closeFd, compileFixture, loadBtf } from "./helpers.js";

const objects = compileFixture("btf_objects.c");

const datasec = (btf: Btf, name: string) => btf.typeByName(name, "datasec") as BtfDatasec;
/** name -> [offset, size, linkage] of a DATASEC's variables. */
const layout = (btf: Btf, name: string) =>
  datasec(btf, name).vars.map((v) => {
    const t = btf.typeById(v.type) as BtfVar;
    return [t.name, v.offset, v.size, t.linkage];
  });

test("the kernel rejects clang's BTF as is and accepts it after fixupDatasecs", async () => {
  const { elf, path } = await objects;
  const raw = Btf.parse(btfSection(elf), { fileName: path });
  const before = loadBtf(raw.marshal());
  closeFd(before.fd);
  assert.notEqual(before.errno, 0, "clang's DATASECs have size 0");
  const fixed = fixupDatasecs(raw, elf);
  const after = loadBtf(fixed.marshal());
  closeFd(after.fd);
  assert.equal(after.errno, 0, after.log);
  assert.ok(after.fd >= 0);
  // The input is not modified.
  assert.equal(datasec(raw, ".data").size, 0);
});

test("data sections get ELF sizes and symbol offsets, as the BPF static linker computes them", async () => {
  const { elf, path } = await objects;
  const fixed = fixupDatasecs(Btf.parse(btfSection(elf)), elf);
  // bpftool gen object runs libbpf's static linker, which fills in the same sizes and offsets.
  const dir = mkdtempSync(join(tmpdir(), "px-btf-"));
  try {
    const linked = join(dir, "linked.o");
    execFileSync("bpftool", ["gen", "object", linked, path]);
    const lelf = ElfFile.parse(readFileSync(linked));
    const oracle = Btf.parse(lelf.sectionByName(".BTF")!.data());
    for (const sec of [".data", ".bss", ".rodata", ".maps", "license"]) {
      assert.equal(
        datasec(fixed, sec).size,
        elf.sectionByName(sec)!.size,
        `${sec} size from the ELF section`,
      );
      assert.equal(datasec(fixed, sec).size, datasec(oracle, sec).size, `${sec} size as the linker has it`);
      const offsets = (b: Btf) => layout(b, sec).map(([n, o, s]) => [n, o, s]);
      assert.deepEqual(offsets(fixed), offsets(oracle), sec);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(layout(fixed, ".data"), [
    ["counter", 0, 4, "global"],
    ["hidden_global", 4, 4, "static"], // visibility("hidden"): made static, as libbpf does
    ["hidden_static", 8, 4, "static"],
  ]);
  assert.deepEqual(layout(fixed, ".bss"), [
    ["zeroed", 0, 8, "global"],
    ["big_holder", 8, 8, "global"],
    ["callback_slot", 16, 8, "global"],
  ]);
});

test(".kconfig externs are laid out like libbpf: alignment down, size up, then name", async () => {
  const { elf } = await objects;
  const fixed = fixupDatasecs(Btf.parse(btfSection(elf)), elf);
  assert.deepEqual(layout(fixed, ".kconfig"), [
    ["LINUX_KERNEL_VERSION", 0, 4, "global"],
    ["CONFIG_BPF_SYSCALL", 4, 1, "global"],
    ["CONFIG_DEFAULT_HOSTNAME", 5, 8, "global"],
  ]);
  assert.equal(datasec(fixed, ".kconfig").size, 13);
});

test(".ksyms externs become 4-byte int variables; extern functions go through dummy_ksym", async () => {
  const { elf } = await objects;
  const raw = Btf.parse(btfSection(elf));
  const fixed = fixupDatasecs(raw, elf);
  const ksyms = datasec(fixed, ".ksyms");
  assert.equal(ksyms.size, 8);
  const entries = ksyms.vars.map((v) => [fixed.typeById(v.type).name, v.offset, v.size]);
  assert.deepEqual(entries, [
    [DUMMY_KSYM, 0, 4],
    ["bpf_prog_active", 4, 4],
  ]);
  const dummy = fixed.typeByName(DUMMY_KSYM, "var") as BtfVar;
  assert.equal(dummy.linkage, "global");
  assert.equal(fixed.typeName(dummy.type), "int");
  const active = fixed.typeByName("bpf_prog_active", "var") as BtfVar;
  assert.deepEqual([active.linkage, fixed.typeName(active.type)], ["global", "int"]);
  const fn = fixed.typeByName("bpf_rcu_read_lock", "func") as BtfFunc;
  assert.equal(fn.linkage, "global");
  assert.equal((raw.typeByName("bpf_rcu_read_lock", "func") as BtfFunc).linkage, "extern");
  const proto = fixed.typeById(fn.type) as BtfFuncProto;
  assert.ok(proto.params.every((p) => p.type === 0 || p.name !== ""));
});

test("a DATASEC without a matching ELF section is an error naming it", async () => {
  const { elf } = await objects;
  const raw = Btf.parse(btfSection(elf));
  const types = structuredClone(raw.ownTypes);
  (types.find((t) => t.name === ".rodata") as BtfDatasec).name = ".rodata.missing";
  const renamed = new Btf(types, { strings: raw.strings });
  assert.throws(
    () => fixupDatasecs(renamed, elf),
    (e: unknown) => e instanceof BtfError && /DATASEC '\.rodata\.missing' has size 0/.test(e.message),
  );
});
