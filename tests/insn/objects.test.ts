// (b) and (c): real clang-compiled programs. Our disassembly of every code section equals
// llvm-objdump-19's (-d, -dr, --mattr=+alu32), decode/encode is byte-identical, and jumps and
// relocations land on instruction boundaries.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compileBpf, projectRoot } from "../../src/build/compile-bpf.js";
import { SlotMap, branchTarget, decode, disassemble, encode, isWide } from "../../src/bpf/insn/index.js";
import { SHF_EXECINSTR, readElf, sectionSymbols } from "./elf-lite.js";
import { llvmObjdump, ourObjdump, withoutFileLine } from "./llvm-tools.js";

const FIXTURES = ["insn_xdp_parse.c", "insn_calls_loops.c", "insn_atomics.c", "insn_alu32.c"];
const VARIANTS: { name: string; extraFlags: string[] }[] = [
  { name: "default cpu", extraFlags: [] },
  { name: "-mcpu=v3", extraFlags: ["-mcpu=v3", "-DV3"] },
];

const objects = (async () => {
  const out: { label: string; path: string }[] = [];
  for (const f of FIXTURES)
    for (const v of VARIANTS)
      out.push({
        label: `${f} (${v.name})`,
        path: await compileBpf(join(projectRoot, "tests", "fixtures", f), { extraFlags: v.extraFlags }),
      });
  return out;
})();

test("our objdump of compiled programs equals llvm-objdump-19 -d, -dr and --mattr=+alu32", async () => {
  for (const { label, path } of await objects) {
    const obj = readFileSync(path);
    const modes: [string[], Parameters<typeof ourObjdump>[2]][] = [
      [["-d"], {}],
      [["-dr"], { relocations: true }],
      [["-d", "--mattr=+alu32"], { alu32: true }],
    ];
    for (const [args, opts] of modes) {
      const theirs = withoutFileLine(await llvmObjdump(path, args));
      const ours = withoutFileLine(ourObjdump(obj, path, opts));
      assert.equal(ours, theirs, `${label}, llvm-objdump ${args.join(" ")}`);
    }
  }
});

test("decode/encode of every code section is byte-identical, and jumps land on instructions", async () => {
  let jumps = 0;
  let lddws = 0;
  for (const { label, path } of await objects) {
    const elf = readElf(readFileSync(path));
    for (const s of elf.sections.filter((x) => (x.flags & SHF_EXECINSTR) !== 0n && x.data.length > 0)) {
      const insns = decode(s.data);
      assert.deepEqual(encode(insns), s.data, `${label} ${s.name}`);
      const map = new SlotMap(insns);
      assert.equal(map.totalSlots * 8, s.data.length);
      // Calls into other sections are still relocations (imm -1) in an object.
      const relocated = new Set((elf.relocations.get(s.index) ?? []).map((r) => r.offset / 8));
      insns.forEach((insn, i) => {
        const target = branchTarget(insn, map.slotOf(i));
        if (target === undefined || relocated.has(map.slotOf(i))) return;
        jumps++;
        assert.ok(
          target === map.totalSlots || map.indexOf(target) !== undefined,
          `${label} ${s.name}: jump at ${i}`,
        );
      });
      for (const r of elf.relocations.get(s.index) ?? []) {
        const i = map.indexOf(r.offset / 8);
        assert.notEqual(i, undefined, `${label}: relocation at ${r.offset} is inside an instruction`);
        if (r.type === 1) {
          lddws++;
          assert.ok(isWide(insns[i as number]), `${label}: R_BPF_64_64 on an lddw`);
        }
      }
      // The listing of decoded instructions is the section objdump prints.
      const listing = disassemble(insns, { sectionName: s.name, symbols: sectionSymbols(elf, s.index) });
      const objdump = ourObjdump(readFileSync(path), path);
      assert.ok(objdump.includes(listing), `${label} ${s.name}: listing`);
    }
  }
  assert.ok(
    jumps > 20 && lddws > 5,
    `fixtures exercise jumps (${jumps}) and map/data relocations (${lddws})`,
  );
});
