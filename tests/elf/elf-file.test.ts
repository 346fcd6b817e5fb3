import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compileBpf, projectRoot } from "../../src/build/compile-bpf.js";
import { ElfError } from "../../src/bpf/errors.js";
import { ElfFile, R_BPF, SHN_ABS, SHN_UNDEF, SHT } from "../../src/bpf/elf/index.js";

const fixture = (name: string) => join(projectRoot, "tests", "fixtures", name);
const readelf = (args: string[], file: string) =>
  execFileSync("llvm-readelf", [...args, file], { encoding: "utf8", maxBuffer: 64 << 20 });

const objPath = compileBpf(fixture("btf_objects.c"));

test("sections match llvm-readelf -S", async () => {
  const path = await objPath;
  const elf = ElfFile.parse(readFileSync(path), path);
  const rows = readelf(["-S", "-W"], path)
    .split("\n")
    .map((l) => /^\s*\[\s*(\d+)\]\s(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  assert.equal(elf.sections.length, rows.length);
  for (const m of rows) {
    const idx = Number(m[1]);
    // Name Type Address Off Size ES [Flg] Lk Inf Al: parse from both ends because Flg may be empty.
    const f = m[2].trim().split(/\s+/);
    const name = idx === 0 ? "" : f[0];
    const tail = f.slice(-3).map(Number);
    const [addr, off, size, es] = f.slice(idx === 0 ? 1 : 2, idx === 0 ? 5 : 6).map((x) => parseInt(x, 16));
    const s = elf.section(idx);
    assert.equal(s.name, name, `section ${idx} name`);
    assert.deepEqual(
      [s.addr, s.offset, s.size, s.entsize, s.link, s.info, s.addralign],
      [addr, off, size, es, ...tail],
      `section ${idx} ${name}`,
    );
    assert.equal(elf.sectionByName(name === "" ? "\0" : name)?.index ?? idx, idx);
  }
  const text = elf.sectionByName(".text");
  assert.ok(text && text.type === SHT.PROGBITS && text.data().length === text.size);
  assert.equal(elf.sectionByName(".bss")?.type, SHT.NOBITS);
  assert.equal(elf.sectionByName(".bss")?.data().length, 0, ".bss has no file bytes");
  assert.equal(Buffer.from(elf.sectionByName("license")!.data()).toString("latin1"), "GPL\0");
});

test("symbols match llvm-readelf -s", async () => {
  const path = await objPath;
  const elf = ElfFile.parse(readFileSync(path), path);
  const rows = readelf(["-s", "-W"], path)
    .split("\n")
    .map((l) => /^\s*(\d+):\s+([0-9a-f]+)\s+(\d+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s?(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  assert.equal(elf.symbols.length, rows.length);
  for (const [, num, value, size, type, bind, vis, ndx, name] of rows) {
    const s = elf.symbols[Number(num)];
    const sectionIndex = ndx === "UND" ? SHN_UNDEF : ndx === "ABS" ? SHN_ABS : Number(ndx);
    // readelf prints a section symbol with its section's name; the symbol itself has none.
    const shown = s.type === "SECTION" ? elf.section(s.sectionIndex).name : s.name;
    assert.deepEqual(
      [s.index, shown, s.value, s.size, s.type, s.bind, s.visibility, s.sectionIndex],
      [Number(num), name, parseInt(value, 16), Number(size), type, bind, vis, sectionIndex],
    );
  }
  const hidden = elf.symbolByName("hidden_global");
  assert.equal(hidden?.visibility, "HIDDEN");
  assert.equal(elf.symbolByName("CONFIG_BPF_SYSCALL")?.bind, "WEAK");
  assert.equal(elf.symbolByName("LINUX_KERNEL_VERSION")?.sectionIndex, SHN_UNDEF);
  const xdp = elf.sectionByName("xdp")!;
  assert.ok(elf.symbolsIn(xdp.index).some((s) => s.name === "xdp_prog" && s.type === "FUNC"));
});

test("relocations match llvm-readelf -r", async () => {
  const path = await objPath;
  const elf = ElfFile.parse(readFileSync(path), path);
  const out = readelf(["-r", "-W"], path);
  const typeNumber: Record<string, number> = {
    R_BPF_64_64: R_BPF["64_64"],
    R_BPF_64_ABS64: R_BPF["64_ABS64"],
    R_BPF_64_ABS32: R_BPF["64_ABS32"],
    R_BPF_64_NODYLD32: R_BPF["64_NODYLD32"],
    R_BPF_64_32: R_BPF["64_32"],
  };
  let checked = 0;
  for (const block of out.split("Relocation section '").slice(1)) {
    const secName = block.slice(0, block.indexOf("'"));
    const rs = elf.sectionByName(secName)!;
    const expected = block
      .split("\n")
      .map((l) => /^([0-9a-f]{16})\s+([0-9a-f]{16})\s+(\S+)\s+[0-9a-f]+\s*(\S*)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({
        offset: parseInt(m[1], 16),
        symbol: Number(BigInt("0x" + m[2]) >> 32n),
        type: typeNumber[m[3]],
        name: m[4],
      }));
    const got = elf.relocationsFor(rs.info).map((r) => ({
      offset: r.offset,
      symbol: r.symbol.index,
      type: r.type,
      name: r.symbol.type === "SECTION" ? elf.section(r.symbol.sectionIndex).name : r.symbol.name,
    }));
    assert.deepEqual(got, expected, secName);
    checked += got.length;
  }
  assert.ok(checked > 50);
  const xdp = elf.sectionByName("xdp")!;
  const calls = elf.relocationsFor(xdp.index).filter((r) => r.type === R_BPF["64_32"]);
  assert.deepEqual(
    calls.map((r) => [r.symbol.type, r.symbol.name]),
    [
      ["SECTION", ""],
      ["FUNC", "global_helper"],
    ],
    "static call through the section symbol, global call through the function symbol",
  );
  assert.deepEqual(elf.relocationsFor(elf.sectionByName(".data")!.index), []);
});

/** Asserts ElfFile.parse rejects `bytes` with an ElfError whose message matches every pattern. */
function rejects(bytes: Uint8Array, ...patterns: RegExp[]) {
  assert.throws(
    () => ElfFile.parse(bytes, "bad.o"),
    (e: unknown) => {
      assert.ok(e instanceof ElfError, `expected ElfError, got ${String(e)}`);
      assert.match(e.message, /^bad\.o: /);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

test("clear errors for objects that are not BPF ELF64 little-endian relocatables", async () => {
  const good = readFileSync(await objPath);
  const patched = (at: number, bytes: number[]) => {
    const b = Buffer.from(good);
    b.set(bytes, at);
    return b;
  };
  rejects(Buffer.from("hello world, this is text"), /not an ELF file/);
  rejects(patched(5, [2]), /big-endian ELF \(EI_DATA=2\)/, /-target bpfel/);
  rejects(patched(4, [1]), /32-bit ELF \(EI_CLASS=1\)/, /clang -target bpf/);
  rejects(patched(18, [62, 0]), /x86-64 \(62\), not BPF \(247\): compile with clang -target bpf/);
  rejects(patched(16, [2, 0]), /ET_EXEC/, /not a relocatable object/);
  rejects(good.subarray(0, 40), /truncated file: the ELF header needs bytes 0\.\.64/);
  rejects(good.subarray(0, good.length - 100), /section count 34 is absurd|truncated/);
  rejects(patched(60, [0xff, 0x7f]), /section count 32767 is absurd/);
  rejects(patched(62, [200, 0]), /e_shstrndx=200 is out of bounds/);
});

test("corrupt section headers, names and symbol tables are reported with what is wrong", async () => {
  const good = readFileSync(await objPath);
  const elf = ElfFile.parse(good);
  const shoff = Number(good.readBigUInt64LE(40));
  const hdr = (i: number) => shoff + i * 64;
  const text = elf.sectionByName(".text")!;
  const symtab = elf.sections.find((s) => s.type === SHT.SYMTAB)!;

  let b = Buffer.from(good);
  b.writeBigUInt64LE(BigInt(good.length), hdr(text.index) + 32);
  rejects(b, new RegExp(`section ${text.index} is out of bounds`));

  b = Buffer.from(good);
  b.writeUInt32LE(0xfffff, hdr(text.index));
  rejects(b, new RegExp(`name of section ${text.index}: string offset 1048575 is outside`));

  b = Buffer.from(good);
  b.writeBigUInt64LE(0xffffffffffffn, hdr(text.index) + 24);
  rejects(b, /out of bounds/);

  b = Buffer.from(good);
  b.writeBigUInt64LE(0xffffffffffffffffn, hdr(text.index) + 32);
  rejects(b, /sh_size is too large/);

  b = Buffer.from(good);
  b.writeBigUInt64LE(17n, hdr(symtab.index) + 56);
  rejects(b, /symbol table entry size sh_entsize=17, expected 24/);

  b = Buffer.from(good);
  b.writeUInt16LE(3000, symtab.offset + 24 * 5 + 6);
  rejects(b, /symbol 5 refers to section 3000/);

  // A relocation naming a symbol past the end of .symtab is caught when the relocations are read.
  const rel = elf.sections.find((s) => s.type === SHT.REL)!;
  b = Buffer.from(good);
  b.writeUInt32LE(9999, rel.offset + 12);
  const bad = ElfFile.parse(b);
  assert.throws(() => bad.relocationsFor(rel.info), /refers to symbol 9999/);
});
