// Public API of the ELF reader.
export { ElfFile, ElfSection } from "./elf-file.js";
export type { ElfRelocation, ElfSymbol } from "./elf-file.js";
export {
  EM_BPF,
  ET_REL,
  R_BPF,
  SHF,
  SHN_ABS,
  SHN_COMMON,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT,
  machineName,
} from "./constants.js";
export type { SymbolBind, SymbolType, SymbolVisibility } from "./constants.js";
