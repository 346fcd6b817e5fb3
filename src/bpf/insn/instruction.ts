// The eBPF instruction as the rest of the library sees it (RFC 9669 encoding, little endian).
// A wide instruction (lddw: BPF_LD | BPF_IMM | BPF_DW) is one Instruction occupying two 8-byte slots.

/** What an instruction refers to, kept while programs are linked and relocated. */
export interface InstructionRef {
  /** A map (by name in the object) for lddw with a map pseudo source. */
  map?: string;
  /** Offset inside a map's value (global data). */
  mapOffset?: number;
  /** A function symbol (bpf-to-bpf call target, or a callback loaded with BPF_PSEUDO_FUNC). */
  func?: string;
  /** A kconfig/ksym extern. */
  extern?: string;
}

export interface Instruction {
  /** Opcode byte: class | source/size | operation/mode. */
  code: number;
  /** Destination register, 0..10. */
  dst: number;
  /** Source register, 0..10 (or a pseudo source for lddw and calls). */
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate (low half of the constant for lddw). */
  imm: number;
  /** lddw only: the second slot's imm (high half of the constant, or the value offset for map values). */
  imm2?: number;
  /** Symbolic reference, set by the object loader; never encoded. */
  ref?: InstructionRef;
}

export const INSN_SIZE = 8;

/** BPF_LD | BPF_IMM | BPF_DW: the only two-slot instruction. */
export const LDDW = 0x18;

export const isWide = (insn: Instruction): boolean => insn.code === LDDW;

/** Number of 8-byte slots an instruction occupies (2 for lddw). */
export const slots = (insn: Instruction): number => (insn.code === LDDW ? 2 : 1);
