// plexus/bpf instructions: the model, byte codec, validation, builder, assemblers and disassembler.
export type { Instruction, InstructionRef } from "./instruction.js";
export { INSN_SIZE, LDDW, isWide, slots } from "./instruction.js";
export * from "./opcodes.js";
export { SlotMap, branchTarget, decode, encode, lddwValue, slotCount, splitImm64 } from "./codec.js";
export type { ValidateOptions } from "./validate.js";
export { assertValid, validate } from "./validate.js";
export type { FormatOptions } from "./format.js";
export { formatInstruction } from "./format.js";
export type { DisasmRelocation, DisasmSymbol, DisassembleOptions } from "./disasm.js";
export { disassemble, objdumpSection } from "./disasm.js";
export * from "./builder.js";
export type { AsmOptions } from "./asm.js";
export { assemble } from "./asm.js";
export type { ConformanceMap, ConformanceTest } from "./conformance.js";
export { parseConformance } from "./conformance.js";
