// The LLVM 19 oracles of the instruction tests (llvm-mc-19 and llvm-objdump-19), and our own
// objdump-equivalent built on objdumpSection.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { DisassembleOptions } from "../../src/bpf/insn/index.js";
import { objdumpSection } from "../../src/bpf/insn/index.js";
import { SHF_EXECINSTR, readElf, sectionSymbols } from "./elf-lite.js";

const run = promisify(execFile);
const BIG = { maxBuffer: 512 << 20 };

/** Assembles BPF assembly text with llvm-mc-19 (v4 ISA) and returns the object file's bytes. */
export async function llvmMc(source: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "px-insn-"));
  try {
    writeFileSync(join(dir, "a.s"), source);
    await run(
      "llvm-mc-19",
      ["-triple", "bpfel", "-mcpu=v4", "-filetype=obj", join(dir, "a.s"), "-o", join(dir, "a.o")],
      BIG,
    );
    return readFileSync(join(dir, "a.o"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs llvm-objdump-19 on an object (a path, or bytes written to a temporary file). */
export async function llvmObjdump(object: string | Buffer, args: string[] = ["-d"]): Promise<string> {
  if (typeof object === "string") return (await run("llvm-objdump-19", [...args, object], BIG)).stdout;
  const dir = mkdtempSync(join(tmpdir(), "px-insn-"));
  try {
    writeFileSync(join(dir, "a.o"), object);
    return (await run("llvm-objdump-19", [...args, join(dir, "a.o")], BIG)).stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bytes of the first code section of an object. */
export function codeSection(object: Buffer, name = ".text"): Buffer {
  const s = readElf(object).sections.find((x) => x.name === name);
  if (!s) throw new Error(`no section ${name}`);
  return s.data;
}

/** Our equivalent of `llvm-objdump -d` (or -dr with relocations) on a whole object file. */
export function ourObjdump(
  object: Buffer,
  fileLabel: string,
  opts: { relocations?: boolean } & Pick<DisassembleOptions, "alu32" | "showBytes"> = {},
): string {
  const elf = readElf(object);
  const blocks = elf.sections
    .filter((s) => (s.flags & SHF_EXECINSTR) !== 0n && s.data.length > 0)
    .map(
      (s) =>
        "\n" +
        objdumpSection(s.data, s.name, sectionSymbols(elf, s.index), {
          alu32: opts.alu32,
          showBytes: opts.showBytes,
          relocations: opts.relocations ? (elf.relocations.get(s.index) ?? []) : undefined,
        }),
    );
  return `\n${fileLabel}:\tfile format elf64-bpf\n${blocks.join("")}`;
}

/** Drops llvm-objdump's first line naming the file, so outputs for different paths compare. */
export const withoutFileLine = (text: string): string =>
  text.replace(/^\n?[^\n]*:\tfile format elf64-bpf\n/, "");
