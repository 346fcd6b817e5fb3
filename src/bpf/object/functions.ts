// Code sections -> functions: decodes each executable section, resolves its ELF relocations into
// symbolic references (maps, global data, externs, call targets) the way libbpf's
// bpf_program__record_reloc() classifies them, and splits the section at its FUNC symbols.
import { InsnError, ObjectFileError, RelocationError } from "../errors.js";
import { Pseudo } from "../constants.js";
import type { ElfFile, ElfSection, ElfSymbol } from "../elf/index.js";
import { SHF, SHN_UNDEF } from "../elf/index.js";
import { decode } from "../insn/codec.js";
import type { Instruction } from "../insn/instruction.js";
import { LDDW, slots } from "../insn/instruction.js";

const CALL = 0x85;

/** A function of the object: an entry program or a subprogram. */
export interface CodeFunction {
  /** Unique key: "<section index>:<start slot>". */
  key: string;
  name: string;
  section: ElfSection;
  /** First slot of the function in its section. */
  startSlot: number;
  slotCount: number;
  instructions: Instruction[];
  global: boolean;
}

/** What the relocation pass needs to know about sections that hold maps and data. */
export interface SymbolClassifier {
  /** Map name for a symbol in a map-definition section (.maps or legacy maps), else undefined. */
  mapAt(section: number, offset: number, symbol: ElfSymbol): string | undefined;
  /** Internal map name for a global-data section, else undefined. */
  dataMap(section: number): string | undefined;
  /** Whether the symbol is an extern (kconfig, ksym, kfunc). */
  isExtern(symbol: ElfSymbol): boolean;
}

export interface RelocationCounts {
  maps: number;
  globalData: number;
  calls: number;
  funcAddresses: number;
  externs: number;
}

export const functionKey = (section: number, slot: number): string => `${section}:${slot}`;

const isCall = (i: Instruction) => i.code === CALL;

/** Decoded instructions of a code section with the slot offset of each. */
export interface DecodedSection {
  section: ElfSection;
  instructions: Instruction[];
  slotOf: number[];
  /** slot -> instruction index (only for slots where an instruction starts). */
  indexAt: Map<number, number>;
}

export function decodeSection(section: ElfSection, file: string): DecodedSection {
  const data = section.data();
  if (data.length % 8 !== 0)
    throw new RelocationError(`section ${section.name} has ${data.length} bytes, not a multiple of 8`, file);
  let instructions: Instruction[];
  try {
    instructions = decode(data);
  } catch (e) {
    if (e instanceof InsnError) throw new ObjectFileError(`section ${section.name}: ${e.message}`, file);
    throw e;
  }
  const slotOf: number[] = [];
  const indexAt = new Map<number, number>();
  let slot = 0;
  instructions.forEach((insn, i) => {
    slotOf.push(slot);
    indexAt.set(slot, i);
    slot += slots(insn);
  });
  return { section, instructions, slotOf, indexAt };
}

/** Records symbolic references for every relocation of a code section (libbpf's classification). */
export function resolveRelocations(
  elf: ElfFile,
  code: DecodedSection,
  classify: SymbolClassifier,
  textIndex: number | undefined,
  counts: RelocationCounts,
  file: string,
): void {
  const { section } = code;
  for (const rel of elf.relocationsFor(section.index)) {
    const where = `section ${section.name}, offset ${rel.offset}`;
    if (rel.offset % 8 !== 0 || rel.offset >= section.size)
      throw new RelocationError(`${where}: relocation offset is not an instruction boundary`, file);
    const idx = code.indexAt.get(rel.offset / 8);
    if (idx === undefined)
      throw new RelocationError(`${where}: relocation points into the middle of lddw`, file);
    const insn = code.instructions[idx];
    const sym = rel.symbol;
    const symName = sym.name || elf.section(sym.sectionIndex).name;
    if (!isCall(insn) && insn.code !== LDDW)
      throw new RelocationError(
        `${where}: relocation against '${symName}' on an instruction (opcode 0x${insn.code.toString(16)}) that is neither lddw nor call`,
        file,
      );

    if (classify.isExtern(sym)) {
      insn.ref = { extern: sym.name };
      counts.externs++;
      continue;
    }
    if (isCall(insn)) {
      if (insn.src !== Pseudo.CALL)
        throw new RelocationError(
          `${where}: call relocation against '${symName}' is not a bpf-to-bpf call`,
          file,
        );
      if (sym.sectionIndex === SHN_UNDEF || sym.sectionIndex !== textIndex)
        throw new RelocationError(`${where}: call to '${symName}' outside the .text section`, file);
      if (sym.value % 8)
        throw new RelocationError(`${where}: call to '${symName}' at a misaligned offset`, file);
      insn.ref = { func: functionKey(sym.sectionIndex, sym.value / 8 + insn.imm + 1) };
      counts.calls++;
      continue;
    }
    if (sym.sectionIndex === SHN_UNDEF || sym.sectionIndex >= 0xff00)
      throw new RelocationError(
        `${where}: relocation against '${symName}' in a special section; an uninitialised global variable? (initialise it, or mark it static)`,
        file,
      );
    const target = elf.section(sym.sectionIndex);
    if (target.flags & SHF.EXECINSTR) {
      // Address of a function (callback): lddw with BPF_PSEUDO_FUNC.
      if (sym.value % 8 || insn.imm % 8)
        throw new RelocationError(`${where}: function address of '${symName}' is misaligned`, file);
      insn.ref = { func: functionKey(sym.sectionIndex, (sym.value + insn.imm) / 8) };
      insn.src = Pseudo.FUNC;
      counts.funcAddresses++;
      continue;
    }
    const map = classify.mapAt(sym.sectionIndex, sym.value, sym);
    if (map !== undefined) {
      insn.ref = { map };
      counts.maps++;
      continue;
    }
    const data = classify.dataMap(sym.sectionIndex);
    if (data !== undefined) {
      insn.ref = { map: data, mapOffset: insn.imm + sym.value };
      counts.globalData++;
      continue;
    }
    throw new RelocationError(
      `${where}: relocation against '${symName}' in section ${target.name}, which holds no map or data`,
      file,
    );
  }

  // Calls to static functions of the same section carry no relocation: imm is pc-relative.
  code.instructions.forEach((insn, i) => {
    if (isCall(insn) && insn.src === Pseudo.CALL && !insn.ref) {
      insn.ref = { func: functionKey(section.index, code.slotOf[i] + insn.imm + 1) };
      counts.calls++;
    }
  });
}

/** Splits a decoded section into functions at its FUNC symbols. */
export function splitFunctions(elf: ElfFile, code: DecodedSection, file: string): CodeFunction[] {
  const { section } = code;
  const totalSlots = section.size / 8;
  const syms = elf
    .symbolsIn(section.index)
    .filter((s) => s.type === "FUNC")
    .sort((a, b) => a.value - b.value);
  if (syms.length === 0) {
    // Hand-written sections without symbols: the whole section is one function named after it.
    return [makeFunction(code, section.name, 0, totalSlots, true, file)];
  }
  return syms.map((s) => {
    if (s.value % 8 || s.size % 8 || s.value + s.size > section.size)
      throw new RelocationError(`function ${s.name} in ${section.name} has a bad offset or size`, file);
    const size = s.size > 0 ? s.size / 8 : totalSlots - s.value / 8;
    return makeFunction(code, s.name, s.value / 8, size, s.bind !== "LOCAL", file);
  });
}

function makeFunction(
  code: DecodedSection,
  name: string,
  startSlot: number,
  slotCount: number,
  global: boolean,
  file: string,
): CodeFunction {
  const first = code.indexAt.get(startSlot);
  if (first === undefined) throw new RelocationError(`function ${name} starts inside an instruction`, file);
  const instructions: Instruction[] = [];
  for (let i = first; i < code.instructions.length && code.slotOf[i] < startSlot + slotCount; i++) {
    instructions.push(code.instructions[i]);
  }
  return {
    key: functionKey(code.section.index, startSlot),
    name,
    section: code.section,
    startSlot,
    slotCount,
    instructions,
    global,
  };
}
