// plexus/bpf: a pure-TypeScript eBPF library. Objects (ELF, BTF, CO-RE) are read in TypeScript;
// only the bpf(2) system call and a few socket and mmap calls cross into native code.
export * from "./constants.js";
export * from "./errors.js";

// Objects: open, adjust, load.
export { BpfObject } from "./object/object.js";
export { LoadedObject, type LoadOptions } from "./object/load.js";
export { openObject, openObjectFile, internalMapName, type OpenOptions } from "./object/open.js";
export type * from "./object/spec.js";
export type { VariableValue } from "./object/variables.js";
export { SECTION_DEFS, findSectionDef, type SectionDef } from "./object/sections.js";

// Kernel objects.
export * from "./map/index.js";
export * from "./prog/index.js";
export * from "./ringbuf/index.js";
export * from "./link/index.js";
export { loadBtf, btfFromId, type KernelBtf } from "./btf-kernel.js";
export { probeHelper, probeLinkType, probeMapType, probeProgType } from "./features.js";
export {
  isBpffs,
  openOrCreatePinnedMap,
  openPinned,
  openPinnedLink,
  openPinnedMap,
  openPinnedProgram,
  pinFd,
  unpinPath,
  type PinPolicy,
} from "./pin.js";
export { possibleCpus } from "./sys/cpus.js";

// Pure parts: instructions, ELF, BTF.
export * as insn from "./insn/index.js";
export * as elf from "./elf/index.js";
export * as btf from "./btf/index.js";
export * as netlink from "./netlink/index.js";
