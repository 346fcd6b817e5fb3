// Opcode fields of the eBPF instruction set (RFC 9669, plus the Linux extensions LLVM 19 knows:
// may_goto and addr_space_cast). The opcode byte is class | (size | mode) for loads and stores,
// class | source | operation for arithmetic and jumps.

/** Instruction classes (low 3 bits). */
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** Access sizes of loads and stores (bits 3-4). */
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export type SizeCode = (typeof Size)[keyof typeof Size];

/** Modes of loads and stores (bits 5-7). */
export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;

/** Arithmetic operations (bits 4-7). */
export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;

/** Jump operations (bits 4-7). */
export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  /** may_goto (JMP class only, Linux extension). */
  JCOND: 0xe0,
} as const;

/** Operand source (bit 3): immediate or register. */
export const Source = { K: 0x00, X: 0x08 } as const;

/** Byte-order conversions share the source bit: ALU|END|TO_LE, ALU|END|TO_BE, ALU64|END|TO_LE (bswap). */
export const Endian = { TO_LE: 0x00, TO_BE: 0x08 } as const;

/** The imm field of an atomic instruction (STX|ATOMIC). */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  FETCH: 0x01,
  FETCH_ADD: 0x01,
  FETCH_OR: 0x41,
  FETCH_AND: 0x51,
  FETCH_XOR: 0xa1,
  XCHG: 0xe1,
  CMPXCHG: 0xf1,
} as const;

/** Highest register number; r10 is the read-only frame pointer. */
export const MAX_REG = 10;

/** Sizes in bytes, indexed by the size field >> 3. */
const SIZE_BYTES = [4, 2, 1, 8] as const;

export const insnClass = (code: number): number => code & 0x07;
export const insnSize = (code: number): number => code & 0x18;
export const insnMode = (code: number): number => code & 0xe0;
export const insnOp = (code: number): number => code & 0xf0;
export const insnSource = (code: number): number => code & 0x08;
export const sizeBytes = (size: number): number => SIZE_BYTES[(size >> 3) & 3];

export const isAlu = (code: number): boolean =>
  insnClass(code) === Class.ALU || insnClass(code) === Class.ALU64;
export const isJump = (code: number): boolean =>
  insnClass(code) === Class.JMP || insnClass(code) === Class.JMP32;

/** The opcodes that need a name in more than one module. */
export const Op = {
  LDDW: Class.LD | Mode.IMM | Size.DW,
  CALL: Class.JMP | JmpOp.CALL | Source.K,
  CALLX: Class.JMP | JmpOp.CALL | Source.X,
  EXIT: Class.JMP | JmpOp.EXIT,
  JA: Class.JMP | JmpOp.JA,
  /** gotol: 32-bit unconditional jump, offset in imm. */
  JA32: Class.JMP32 | JmpOp.JA,
  MAY_GOTO: Class.JMP | JmpOp.JCOND,
} as const;

/** Returns whether a jump's target is in imm (gotol) rather than off. */
export const jumpUsesImm = (code: number): boolean => code === Op.JA32;
