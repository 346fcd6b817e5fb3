// Structural validation of one instruction: is it an instruction of RFC 9669 with its reserved
// fields zero, the way the kernel's verifier checks them before it looks at semantics.
import { InsnError } from "../errors.js";
import type { Instruction } from "./instruction.js";
import { LDDW } from "./instruction.js";
import { AluOp, AtomicOp, Class, Endian, JmpOp, MAX_REG, Mode, Size, Source } from "./opcodes.js";

export interface ValidateOptions {
  /** Also accept the Linux extensions outside RFC 9669: may_goto and addr_space_cast. */
  linux?: boolean;
}

const ATOMIC_IMMS: ReadonlySet<number> = new Set([
  AtomicOp.ADD,
  AtomicOp.OR,
  AtomicOp.AND,
  AtomicOp.XOR,
  AtomicOp.FETCH_ADD,
  AtomicOp.FETCH_OR,
  AtomicOp.FETCH_AND,
  AtomicOp.FETCH_XOR,
  AtomicOp.XCHG,
  AtomicOp.CMPXCHG,
]);

const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`;

/**
 * Describes what is wrong with an instruction, or returns undefined when it is well formed.
 * Checks the opcode, register numbers (0..10) and that unused fields are zero; it does not
 * check jump targets or what the program does.
 */
export function validate(insn: Instruction, opts: ValidateOptions = {}): string | undefined {
  const { code, dst, src, off, imm } = insn;
  if (dst > MAX_REG) return `invalid dst register r${dst}`;
  const cls = code & 0x07;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64:
      return validateAlu(insn, cls === Class.ALU64, opts);
    case Class.JMP:
    case Class.JMP32:
      return validateJmp(insn, cls === Class.JMP32, opts);
    case Class.LD: {
      const mode = code & 0xe0;
      if (code === LDDW) {
        if (off !== 0) return "lddw uses the reserved offset field";
        if (src > 6) return `lddw has unknown pseudo source ${src}`;
        if ((src === 1 || src === 3 || src === 4 || src === 5) && (insn.imm2 ?? 0) !== 0)
          return `lddw with pseudo source ${src} needs a zero second immediate`;
        return undefined;
      }
      if (mode === Mode.ABS || mode === Mode.IND) {
        if ((code & 0x18) === Size.DW) return `unknown opcode ${hex(code)} (legacy packet loads have no DW)`;
        if (dst !== 0 || off !== 0) return "legacy packet load uses reserved fields";
        if (mode === Mode.ABS && src !== 0) return "legacy packet load uses reserved fields";
        if (src > MAX_REG) return `invalid src register r${src}`;
        return undefined;
      }
      return `unknown opcode ${hex(code)}`;
    }
    case Class.LDX: {
      const mode = code & 0xe0;
      if (mode !== Mode.MEM && !(mode === Mode.MEMSX && (code & 0x18) !== Size.DW))
        return `unknown opcode ${hex(code)}`;
      if (src > MAX_REG) return `invalid src register r${src}`;
      if (imm !== 0) return "load uses the reserved immediate field";
      return undefined;
    }
    case Class.ST:
      if ((code & 0xe0) !== Mode.MEM) return `unknown opcode ${hex(code)}`;
      if (src !== 0) return "store of an immediate uses the reserved src field";
      return undefined;
    default: {
      // STX
      const mode = code & 0xe0;
      if (src > MAX_REG) return `invalid src register r${src}`;
      if (mode === Mode.MEM) return imm !== 0 ? "store uses the reserved immediate field" : undefined;
      if (mode === Mode.ATOMIC) {
        const size = code & 0x18;
        if (size !== Size.W && size !== Size.DW) return `unknown opcode ${hex(code)} (atomics are W or DW)`;
        if (!ATOMIC_IMMS.has(imm)) return `unknown atomic operation ${hex(imm >>> 0)}`;
        return undefined;
      }
      return `unknown opcode ${hex(code)}`;
    }
  }
}

function validateAlu(insn: Instruction, is64: boolean, opts: ValidateOptions): string | undefined {
  const { code, src, off, imm } = insn;
  const op = code & 0xf0;
  const x = (code & 0x08) === Source.X;
  if (op > AluOp.END) return `unknown opcode ${hex(code)}`;
  if (op === AluOp.END) {
    if (is64 && (code & 0x08) !== Endian.TO_LE) return `unknown opcode ${hex(code)}`;
    if (imm !== 16 && imm !== 32 && imm !== 64) return `byte swap of invalid width ${imm}`;
    return src !== 0 || off !== 0 ? "byte swap uses reserved fields" : undefined;
  }
  if (op === AluOp.NEG)
    return x || src !== 0 || off !== 0 || imm !== 0 ? "neg uses reserved fields" : undefined;
  if (x) {
    if (src > MAX_REG) return `invalid src register r${src}`;
    if (op === AluOp.MOV && is64 && off === 1 && opts.linux) {
      return imm === 1 || imm === 0x10000 ? undefined : "addr_space_cast between unsupported address spaces";
    }
    if (imm !== 0) return "register operation uses the reserved immediate field";
  } else if (src !== 0) {
    return "immediate operation uses the reserved src field";
  }
  if (op === AluOp.MOV) {
    if (off === 0) return undefined;
    const widths = is64 ? [8, 16, 32] : [8, 16];
    if (x && widths.includes(off)) return undefined;
    return `mov with invalid sign-extension offset ${off}`;
  }
  if (op === AluOp.DIV || op === AluOp.MOD)
    return off === 0 || off === 1 ? undefined : "div/mod offset not 0 or 1";
  return off !== 0 ? "arithmetic uses the reserved offset field" : undefined;
}

function validateJmp(insn: Instruction, is32: boolean, opts: ValidateOptions): string | undefined {
  const { code, dst, src, off, imm } = insn;
  const op = code & 0xf0;
  const x = (code & 0x08) === Source.X;
  switch (op) {
    case JmpOp.JA:
      if (x || dst !== 0 || src !== 0) return "ja uses reserved fields";
      if (is32) return off !== 0 ? "gotol uses the reserved offset field" : undefined;
      return imm !== 0 ? "ja uses the reserved immediate field" : undefined;
    case JmpOp.CALL:
      if (is32) return `unknown opcode ${hex(code)}`;
      if (x) return src !== 0 || off !== 0 || imm !== 0 ? "callx uses reserved fields" : undefined;
      if (dst !== 0) return "call uses the reserved dst field";
      if (src > 2) return `call has unknown source ${src}`;
      // A kfunc call may carry the index of the module BTF in off.
      return off !== 0 && src !== 2 ? "call uses the reserved offset field" : undefined;
    case JmpOp.EXIT:
      if (is32) return `unknown opcode ${hex(code)}`;
      return x || dst !== 0 || src !== 0 || off !== 0 || imm !== 0 ? "exit uses reserved fields" : undefined;
    case JmpOp.JCOND:
      if (is32 || x || !opts.linux) return `unknown opcode ${hex(code)}`;
      return dst !== 0 || src !== 0 || imm !== 0 ? "may_goto uses reserved fields" : undefined;
    case 0xf0:
      return `unknown opcode ${hex(code)}`;
    default:
      if (x) {
        if (src > MAX_REG) return `invalid src register r${src}`;
        return imm !== 0 ? "register jump uses the reserved immediate field" : undefined;
      }
      return src !== 0 ? "immediate jump uses the reserved src field" : undefined;
  }
}

/** Throws InsnError naming the first malformed instruction. */
export function assertValid(insns: readonly Instruction[], opts: ValidateOptions = {}): void {
  insns.forEach((insn, i) => {
    const problem = validate(insn, opts);
    if (problem !== undefined) throw new InsnError(`instruction ${i}: ${problem}`);
  });
}
