// ELF numbers used by eBPF objects (from elf.h and the LLVM BPF backend).

export const EM_BPF = 247;
export const ET_REL = 1;

export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  NOBITS: 8,
  REL: 9,
  DYNSYM: 11,
  SYMTAB_SHNDX: 18,
  LLVM_ADDRSIG: 0x6fff4c03,
} as const;

export const SHF = {
  WRITE: 0x1,
  ALLOC: 0x2,
  EXECINSTR: 0x4,
  MERGE: 0x10,
  STRINGS: 0x20,
} as const;

/** Special section indexes of a symbol. */
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;

export type SymbolType = "NOTYPE" | "OBJECT" | "FUNC" | "SECTION" | "FILE" | "COMMON" | "TLS" | "OTHER";
export type SymbolBind = "LOCAL" | "GLOBAL" | "WEAK" | "OTHER";
export type SymbolVisibility = "DEFAULT" | "INTERNAL" | "HIDDEN" | "PROTECTED";

const SYMBOL_TYPES: readonly SymbolType[] = ["NOTYPE", "OBJECT", "FUNC", "SECTION", "FILE", "COMMON", "TLS"];
const SYMBOL_BINDS: readonly SymbolBind[] = ["LOCAL", "GLOBAL", "WEAK"];
const VISIBILITIES: readonly SymbolVisibility[] = ["DEFAULT", "INTERNAL", "HIDDEN", "PROTECTED"];

export const symbolType = (info: number): SymbolType => SYMBOL_TYPES[info & 0xf] ?? "OTHER";
export const symbolBind = (info: number): SymbolBind => SYMBOL_BINDS[info >> 4] ?? "OTHER";
export const symbolVisibility = (other: number): SymbolVisibility => VISIBILITIES[other & 3];

/** BPF relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def). */
export const R_BPF = {
  NONE: 0,
  /** lddw imm: 64-bit address of a map or global data. */
  "64_64": 1,
  /** 64-bit data (e.g. .BTF.ext, .maps pointers). */
  "64_ABS64": 2,
  /** 32-bit data (DWARF, .BTF). */
  "64_ABS32": 3,
  /** 32-bit data not resolved by the dynamic loader (.BTF, .BTF.ext). */
  "64_NODYLD32": 4,
  /** call imm: pc-relative target of a bpf-to-bpf call. */
  "64_32": 10,
} as const;

const MACHINES: Record<number, string> = {
  0: "none",
  2: "SPARC",
  3: "x86 (i386)",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "S/390",
  40: "ARM",
  43: "SPARC v9",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  247: "BPF",
  258: "LoongArch",
};

export const machineName = (m: number): string => MACHINES[m] ?? "unknown machine";

const ELF_TYPES: Record<number, string> = {
  0: "ET_NONE",
  1: "ET_REL",
  2: "ET_EXEC (an executable)",
  3: "ET_DYN (a shared object or PIE)",
  4: "ET_CORE (a core dump)",
};

export const elfTypeName = (t: number): string => ELF_TYPES[t] ?? `type ${t}`;
