// Listings in exactly the form `llvm-objdump-19 -d` (and -dr) prints for BPF code sections.
import type { Instruction } from "./instruction.js";
import { encode } from "./codec.js";
import type { FormatOptions, RawWord } from "./format.js";
import { llvmDecode } from "./format.js";

/** A symbol of the code section: a function or a label, at a byte offset. */
export interface DisasmSymbol {
  name: string;
  /** Byte offset from the start of the section. */
  offset: number;
}

/** A relocation of the code section, printed under the instruction it patches (objdump -r). */
export interface DisasmRelocation {
  /** Byte offset from the start of the section. */
  offset: number;
  /** R_BPF_* number or name. */
  type: number | string;
  /** Name of the symbol the relocation refers to (the section name for section symbols). */
  symbol: string;
}

export interface DisassembleOptions extends FormatOptions {
  /** Symbols: print headers like objdump and annotate jump targets as <sym+0x..>. */
  symbols?: readonly DisasmSymbol[];
  relocations?: readonly DisasmRelocation[];
  /** Print the raw bytes column (default true, like objdump without --no-show-raw-insn). */
  showBytes?: boolean;
  /** Slot number of the first instruction (the section offset / 8); default 0. */
  startSlot?: number;
  /** Section name: stands for a symbol at the section start when there is none there, as objdump does. */
  sectionName?: string;
  /** Print runs of zero bytes as instructions instead of "..." (objdump -z). */
  disassembleZeroes?: boolean;
}

const RELOC_NAMES: Record<number, string> = {
  0: "R_BPF_NONE",
  1: "R_BPF_64_64",
  2: "R_BPF_64_ABS64",
  3: "R_BPF_64_ABS32",
  4: "R_BPF_64_NODYLD32",
  10: "R_BPF_64_32",
};

const hex2 = (b: number): string => b.toString(16).padStart(2, "0");

interface Sym {
  name: string;
  addr: bigint;
}

/** objdump sorts symbols by address, then name, and shows the last of those sharing an address. */
function symbolTable(opts: DisassembleOptions, base: number): Sym[] | undefined {
  if (opts.symbols === undefined && opts.sectionName === undefined) return undefined;
  const syms = (opts.symbols ?? [])
    .map((s) => ({ name: s.name, addr: BigInt(s.offset) }))
    .sort((a, b) =>
      a.addr !== b.addr ? (a.addr < b.addr ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  if (opts.sectionName !== undefined && (syms.length === 0 || syms[0].addr !== BigInt(base)))
    syms.unshift({ name: opts.sectionName, addr: BigInt(base) });
  return syms;
}

function annotation(syms: Sym[] | undefined, target: bigint): string {
  if (syms === undefined || syms.length === 0) return "";
  let found: Sym | undefined;
  for (const s of syms) {
    if (s.addr <= target) found = s;
    else break;
  }
  if (found === undefined) return "";
  const delta = target - found.addr;
  return delta === 0n ? ` <${found.name}>` : ` <${found.name}+0x${delta.toString(16)}>`;
}

/** Reads the word at p; imm2 only when the second slot lies within `limit`. */
function readWord(bytes: Uint8Array, p: number, limit: number): RawWord {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w: RawWord = {
    code: bytes[p],
    dst: bytes[p + 1] & 0xf,
    src: bytes[p + 1] >> 4,
    off: view.getInt16(p + 2, true),
    imm: view.getInt32(p + 4, true),
  };
  if (p + 16 <= limit) w.imm2 = view.getInt32(p + 12, true);
  return w;
}

/**
 * The lines objdump prints for one code section's bytes, symbol headers included (each header
 * preceded by an empty line), shared by objdumpSection and disassemble.
 */
function listing(bytes: Uint8Array, opts: DisassembleOptions): string {
  const startSlot = opts.startSlot ?? 0;
  const base = startSlot * 8;
  const end = base + bytes.length;
  const showBytes = opts.showBytes ?? true;
  const syms = symbolTable(opts, base);
  const relocs = [...(opts.relocations ?? [])].sort((a, b) => a.offset - b.offset);
  const out: string[] = [];

  // objdump decodes each symbol's range separately: an instruction never runs over the next symbol.
  const ranges: { name?: string; start: number; stop: number }[] = [];
  const heads = (syms ?? []).filter((s, i, all) => {
    const a = Number(s.addr);
    return a >= base && a < end && (i + 1 === all.length || all[i + 1].addr !== s.addr);
  });
  if (heads.length === 0 || Number(heads[0].addr) > base)
    ranges.push({ start: base, stop: heads.length ? Number(heads[0].addr) : end });
  heads.forEach((s, i) =>
    ranges.push({
      name: s.name,
      start: Number(s.addr),
      stop: i + 1 < heads.length ? Number(heads[i + 1].addr) : end,
    }),
  );

  let r = 0;
  for (const range of ranges) {
    if (range.name !== undefined)
      out.push("", `${range.start.toString(16).padStart(16, "0")} <${range.name}>:`);
    let addr = range.start;
    while (addr < range.stop) {
      const p = addr - base;
      if (!opts.disassembleZeroes) {
        // objdump elides runs of 8+ zero bytes (in steps of 4), stopping at the next relocation.
        while (r < relocs.length && relocs[r].offset < addr) r++;
        const limit = Math.min(range.stop, r < relocs.length ? Math.max(relocs[r].offset, addr) : range.stop);
        let n = 0;
        while (addr + n < limit && bytes[p + n] === 0) n++;
        if (n >= 8) {
          out.push("\t\t...");
          addr += n & ~3;
          continue;
        }
      }
      let size: number;
      let text: string;
      if (range.stop - addr < 8) {
        size = 1;
        text = "<unknown>";
      } else {
        const d = llvmDecode(readWord(bytes, p, range.stop - base), opts);
        size = d.size === 0 ? 1 : d.size;
        text = d.text;
        if (d.jump !== undefined)
          text += annotation(syms, BigInt.asUintN(64, BigInt(addr) + 8n + BigInt(d.jump) * 8n));
      }
      const raw = Array.from(bytes.subarray(p, p + size), hex2).join(" ");
      const index = String(Math.floor(addr / 8)).padStart(8);
      out.push(showBytes ? `${index}:\t${raw}\t${text}` : `${index}:\t${text}`);
      while (r < relocs.length && relocs[r].offset < addr + size) {
        const rel = relocs[r++];
        if (rel.offset < addr) continue;
        const type =
          typeof rel.type === "number" ? (RELOC_NAMES[rel.type] ?? `Unknown (${rel.type})`) : rel.type;
        out.push(`\t\t${rel.offset.toString(16).padStart(16, "0")}:  ${type}\t${rel.symbol}`);
      }
      addr += size;
    }
  }
  return out.join("\n");
}

/**
 * Disassembles instructions as `llvm-objdump -d` prints them: "   slot:\tbytes\ttext" lines,
 * with symbol headers and <sym+0x..> jump annotations when symbols (or a section name) are given.
 */
export function disassemble(insns: readonly Instruction[], opts: DisassembleOptions = {}): string {
  const text = listing(encode(insns), opts);
  return text.startsWith("\n") ? text.slice(1) : text;
}

/**
 * The block llvm-objdump -d prints for one code section: "Disassembly of section NAME:" followed
 * by each symbol's header and lines. `symbols` are the section's functions and labels
 * (e.g. LBB0_3); pass relocations to get the -dr form.
 */
export function objdumpSection(
  sectionBytes: Uint8Array,
  sectionName: string,
  symbols: readonly DisasmSymbol[],
  opts: Omit<DisassembleOptions, "symbols" | "sectionName" | "startSlot"> = {},
): string {
  return `Disassembly of section ${sectionName}:\n${listing(sectionBytes, { ...opts, symbols, sectionName })}\n`;
}
