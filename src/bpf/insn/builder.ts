// Typed constructors for every instruction, in the spirit of cilium/ebpf's asm package:
//   build([mov64(R0, 0), jmp.jeq(R1, 0, "out"), mov64(R0, 1), label("out"), exit()])
// Jump, call and function-address operands may name a label; build() (or ProgramBuilder)
// turns labels into slot offsets, counting lddw as two slots.
import { AsmError } from "../errors.js";
import type { HelperName } from "../constants.js";
import { HelperId, Pseudo } from "../constants.js";
import type { Instruction } from "./instruction.js";
import { LDDW } from "./instruction.js";
import type { LocatedItem } from "./labels.js";
import { resolveLabels } from "./labels.js";
import { splitImm64 } from "./codec.js";
import type { SizeCode } from "./opcodes.js";
import { AluOp, AtomicOp, Class, Endian, JmpOp, Mode, Op, Size, Source } from "./opcodes.js";

/** A register operand. Plain numbers are immediates, so registers are objects: R0..R10. */
export class Register {
  constructor(readonly n: number) {}
  toString(): string {
    return `r${this.n}`;
  }
}

export const R0 = new Register(0);
export const R1 = new Register(1);
export const R2 = new Register(2);
export const R3 = new Register(3);
export const R4 = new Register(4);
export const R5 = new Register(5);
export const R6 = new Register(6);
export const R7 = new Register(7);
export const R8 = new Register(8);
export const R9 = new Register(9);
export const R10 = new Register(10);
/** The frame pointer (r10). */
export const FP = R10;

/** A register or a 32-bit immediate (signed, or unsigned up to 0xffffffff). */
export type Operand = Register | number;
/** A jump target: a label name, or a raw offset in slots relative to the next instruction. */
export type Target = string | number;

/** An instruction that may still refer to a label. */
export interface AsmInstruction extends Instruction {
  /** Label whose position becomes this instruction's offset (jumps) or imm (calls, gotol, ldFunc). */
  target?: string;
}

/** Marks a position in the program. */
export interface Label {
  label: string;
}

/** What build() accepts: instructions, labels, and (nested) arrays of them. */
export type AsmItem = AsmInstruction | Label | readonly AsmItem[];

export const label = (name: string): Label => ({ label: name });

const imm32 = (v: number, what = "immediate"): number => {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff)
    throw new AsmError(`${what} ${v} does not fit in 32 bits`);
  return v | 0;
};
const off16 = (v: number, what = "offset"): number => {
  if (!Number.isInteger(v) || v < -0x8000 || v > 0x7fff)
    throw new AsmError(`${what} ${v} does not fit in 16 bits`);
  return v;
};
const regNo = (r: Register): number => {
  if (!(r instanceof Register)) throw new AsmError(`expected a register, got ${String(r)}`);
  return r.n;
};
const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): AsmInstruction => ({
  code,
  dst,
  src,
  off,
  imm,
});

function aluInsn(cls: number, op: number, dst: Register, src: Operand, off = 0): AsmInstruction {
  return src instanceof Register
    ? insn(cls | op | Source.X, regNo(dst), regNo(src), off)
    : insn(cls | op | Source.K, regNo(dst), 0, off, imm32(src));
}

/** The arithmetic operations of one width (alu64: 64-bit, alu32: 32-bit with zero extension). */
export interface AluOps {
  add(dst: Register, src: Operand): AsmInstruction;
  sub(dst: Register, src: Operand): AsmInstruction;
  mul(dst: Register, src: Operand): AsmInstruction;
  div(dst: Register, src: Operand): AsmInstruction;
  sdiv(dst: Register, src: Operand): AsmInstruction;
  or(dst: Register, src: Operand): AsmInstruction;
  and(dst: Register, src: Operand): AsmInstruction;
  lsh(dst: Register, src: Operand): AsmInstruction;
  rsh(dst: Register, src: Operand): AsmInstruction;
  arsh(dst: Register, src: Operand): AsmInstruction;
  mod(dst: Register, src: Operand): AsmInstruction;
  smod(dst: Register, src: Operand): AsmInstruction;
  xor(dst: Register, src: Operand): AsmInstruction;
  mov(dst: Register, src: Operand): AsmInstruction;
  neg(dst: Register): AsmInstruction;
  /** dst = (sN)src: sign-extends the low `bits` of src (8, 16, or 32 for alu64). */
  movsx(dst: Register, src: Register, bits: 8 | 16 | 32): AsmInstruction;
}

function aluOps(cls: number): AluOps {
  const op =
    (code: number, off = 0) =>
    (dst: Register, src: Operand) =>
      aluInsn(cls, code, dst, src, off);
  return {
    add: op(AluOp.ADD),
    sub: op(AluOp.SUB),
    mul: op(AluOp.MUL),
    div: op(AluOp.DIV),
    sdiv: op(AluOp.DIV, 1),
    or: op(AluOp.OR),
    and: op(AluOp.AND),
    lsh: op(AluOp.LSH),
    rsh: op(AluOp.RSH),
    arsh: op(AluOp.ARSH),
    mod: op(AluOp.MOD),
    smod: op(AluOp.MOD, 1),
    xor: op(AluOp.XOR),
    mov: op(AluOp.MOV),
    neg: (dst) => insn(cls | AluOp.NEG | Source.K, regNo(dst)),
    movsx: (dst, src, bits) => {
      if (bits !== 8 && bits !== 16 && !(bits === 32 && cls === Class.ALU64))
        throw new AsmError(`movsx cannot sign-extend ${bits} bits here`);
      return aluInsn(cls, AluOp.MOV, dst, src, bits);
    },
  };
}

/** 64-bit arithmetic: alu64.add(R1, 5), alu64.add(R1, R2)... */
export const alu64: AluOps = aluOps(Class.ALU64);
/** 32-bit arithmetic (results are zero-extended): alu32.add(R1, 5)... */
export const alu32: AluOps = aluOps(Class.ALU);

export const mov64 = (dst: Register, src: Operand): AsmInstruction => alu64.mov(dst, src);
export const mov32 = (dst: Register, src: Operand): AsmInstruction => alu32.mov(dst, src);
export const mov64Reg = (dst: Register, src: Register): AsmInstruction => alu64.mov(dst, regOnly(src));
export const mov32Reg = (dst: Register, src: Register): AsmInstruction => alu32.mov(dst, regOnly(src));
export const movsx64 = (dst: Register, src: Register, bits: 8 | 16 | 32): AsmInstruction =>
  alu64.movsx(dst, src, bits);
export const movsx32 = (dst: Register, src: Register, bits: 8 | 16): AsmInstruction =>
  alu32.movsx(dst, src, bits);
export const neg64 = (dst: Register): AsmInstruction => alu64.neg(dst);
export const neg32 = (dst: Register): AsmInstruction => alu32.neg(dst);

const regOnly = (r: Register): Register => {
  regNo(r);
  return r;
};

type Width = 16 | 32 | 64;
const width = (bits: number): Width => {
  if (bits !== 16 && bits !== 32 && bits !== 64)
    throw new AsmError(`byte swap width must be 16, 32 or 64, not ${bits}`);
  return bits;
};
/** Converts dst to big endian (a byte swap on little-endian machines), keeping the low `bits`. */
export const be = (bits: Width, dst: Register): AsmInstruction =>
  insn(Class.ALU | AluOp.END | Endian.TO_BE, regNo(dst), 0, 0, width(bits));
/** Converts dst to little endian (truncation only on little-endian machines). */
export const le = (bits: Width, dst: Register): AsmInstruction =>
  insn(Class.ALU | AluOp.END | Endian.TO_LE, regNo(dst), 0, 0, width(bits));
/** Unconditional byte swap (ISA v4). */
export const bswap = (bits: Width, dst: Register): AsmInstruction =>
  insn(Class.ALU64 | AluOp.END | Endian.TO_LE, regNo(dst), 0, 0, width(bits));

/** rD = addr_space_cast(rS, dstAs, srcAs) (Linux arena programs). */
export const addrSpaceCast = (dst: Register, src: Register, dstAs: number, srcAs: number): AsmInstruction =>
  insn(
    Class.ALU64 | AluOp.MOV | Source.X,
    regNo(dst),
    regNo(src),
    1,
    ((dstAs & 0xffff) << 16) | (srcAs & 0xffff),
  );

const size = (s: SizeCode): number => {
  if (s !== Size.W && s !== Size.H && s !== Size.B && s !== Size.DW)
    throw new AsmError(`invalid size ${String(s)}`);
  return s;
};

/** dst = *(size *)(src + off) */
export const ldx = (sz: SizeCode, dst: Register, src: Register, off = 0): AsmInstruction =>
  insn(Class.LDX | Mode.MEM | size(sz), regNo(dst), regNo(src), off16(off));
/** dst = *(signed size *)(src + off): sign-extending load (B, H, W). */
export const ldxsx = (sz: SizeCode, dst: Register, src: Register, off = 0): AsmInstruction => {
  if (sz === Size.DW) throw new AsmError("ldxsx has no DW form");
  return insn(Class.LDX | Mode.MEMSX | size(sz), regNo(dst), regNo(src), off16(off));
};
/** *(size *)(dst + off) = src */
export const stx = (sz: SizeCode, dst: Register, src: Register, off = 0): AsmInstruction =>
  insn(Class.STX | Mode.MEM | size(sz), regNo(dst), regNo(src), off16(off));
/** *(size *)(dst + off) = imm */
export const st = (sz: SizeCode, dst: Register, off: number, imm: number): AsmInstruction =>
  insn(Class.ST | Mode.MEM | size(sz), regNo(dst), 0, off16(off), imm32(imm));

const atomicSize = (sz: SizeCode): number => {
  if (sz !== Size.W && sz !== Size.DW) throw new AsmError("atomic operations are W or DW");
  return sz;
};
/** An atomic operation on *(size *)(dst + off) with src; `op` is an AtomicOp value. */
export const atomic = (sz: SizeCode, op: number, dst: Register, src: Register, off = 0): AsmInstruction =>
  insn(Class.STX | Mode.ATOMIC | atomicSize(sz), regNo(dst), regNo(src), off16(off), op);
export const atomicAdd = (
  sz: SizeCode,
  dst: Register,
  src: Register,
  off = 0,
  fetch = false,
): AsmInstruction => atomic(sz, fetch ? AtomicOp.FETCH_ADD : AtomicOp.ADD, dst, src, off);
export const atomicOr = (
  sz: SizeCode,
  dst: Register,
  src: Register,
  off = 0,
  fetch = false,
): AsmInstruction => atomic(sz, fetch ? AtomicOp.FETCH_OR : AtomicOp.OR, dst, src, off);
export const atomicAnd = (
  sz: SizeCode,
  dst: Register,
  src: Register,
  off = 0,
  fetch = false,
): AsmInstruction => atomic(sz, fetch ? AtomicOp.FETCH_AND : AtomicOp.AND, dst, src, off);
export const atomicXor = (
  sz: SizeCode,
  dst: Register,
  src: Register,
  off = 0,
  fetch = false,
): AsmInstruction => atomic(sz, fetch ? AtomicOp.FETCH_XOR : AtomicOp.XOR, dst, src, off);
/** src = xchg(*(dst + off), src) */
export const xchg = (sz: SizeCode, dst: Register, src: Register, off = 0): AsmInstruction =>
  atomic(sz, AtomicOp.XCHG, dst, src, off);
/** r0 = cmpxchg(*(dst + off), r0, src) */
export const cmpxchg = (sz: SizeCode, dst: Register, src: Register, off = 0): AsmInstruction =>
  atomic(sz, AtomicOp.CMPXCHG, dst, src, off);

const wide = (
  dst: Register,
  src: number,
  imm: number,
  imm2: number,
  ref?: Instruction["ref"],
): AsmInstruction => {
  const i: AsmInstruction = { code: LDDW, dst: regNo(dst), src, off: 0, imm, imm2 };
  if (ref) i.ref = ref;
  return i;
};
/** dst = 64-bit constant */
export const lddw = (dst: Register, value: bigint | number): AsmInstruction => {
  if (typeof value === "number" && !Number.isSafeInteger(value))
    throw new AsmError(`${value} is not an exact integer; pass a bigint`);
  const { imm, imm2 } = splitImm64(BigInt(value));
  return wide(dst, 0, imm, imm2);
};
/** dst = map (by fd, or by name: then a reference the loader resolves, as for an ELF relocation). */
export const ldMapFd = (dst: Register, map: number | string): AsmInstruction =>
  typeof map === "string" ? wide(dst, Pseudo.MAP_FD, 0, 0, { map }) : wide(dst, Pseudo.MAP_FD, imm32(map), 0);
/** dst = address of the map's value + off (global data). */
export const ldMapValue = (dst: Register, map: number | string, off = 0): AsmInstruction =>
  typeof map === "string"
    ? wide(dst, Pseudo.MAP_VALUE, 0, imm32(off), { map, mapOffset: off })
    : wide(dst, Pseudo.MAP_VALUE, imm32(map), imm32(off));
/** dst = map at index `idx` of the fd_array given at load time. */
export const ldMapIdx = (dst: Register, idx: number): AsmInstruction =>
  wide(dst, Pseudo.MAP_IDX, imm32(idx), 0);
export const ldMapIdxValue = (dst: Register, idx: number, off = 0): AsmInstruction =>
  wide(dst, Pseudo.MAP_IDX_VALUE, imm32(idx), imm32(off));
/** dst = address of a kernel variable by BTF id (ksym). */
export const ldBtfId = (dst: Register, btfId: number): AsmInstruction =>
  wide(dst, Pseudo.BTF_ID, imm32(btfId), 0);
/** dst = address of a function of this program (callbacks), by label or relative offset. */
export const ldFunc = (dst: Register, target: Target): AsmInstruction =>
  withTarget(wide(dst, Pseudo.FUNC, 0, 0), target, "imm");

/** Legacy packet access: r0 = *(size *)skb[imm] */
export const ldAbs = (sz: SizeCode, imm: number): AsmInstruction =>
  insn(Class.LD | Mode.ABS | size(sz), 0, 0, 0, imm32(imm));
/** Legacy packet access: r0 = *(size *)skb[src + imm] */
export const ldInd = (sz: SizeCode, src: Register, imm = 0): AsmInstruction =>
  insn(Class.LD | Mode.IND | size(sz), 0, regNo(src), 0, imm32(imm));

function withTarget(i: AsmInstruction, target: Target, field: "off" | "imm"): AsmInstruction {
  if (typeof target === "string") {
    if (target === "") throw new AsmError("empty label");
    i.target = target;
  } else if (field === "off") i.off = off16(target, "jump offset");
  else i.imm = imm32(target, "jump offset");
  return i;
}

/** Conditional jumps of one width. */
export interface JmpOps {
  jeq(dst: Register, src: Operand, target: Target): AsmInstruction;
  jne(dst: Register, src: Operand, target: Target): AsmInstruction;
  jgt(dst: Register, src: Operand, target: Target): AsmInstruction;
  jge(dst: Register, src: Operand, target: Target): AsmInstruction;
  jlt(dst: Register, src: Operand, target: Target): AsmInstruction;
  jle(dst: Register, src: Operand, target: Target): AsmInstruction;
  jsgt(dst: Register, src: Operand, target: Target): AsmInstruction;
  jsge(dst: Register, src: Operand, target: Target): AsmInstruction;
  jslt(dst: Register, src: Operand, target: Target): AsmInstruction;
  jsle(dst: Register, src: Operand, target: Target): AsmInstruction;
  jset(dst: Register, src: Operand, target: Target): AsmInstruction;
  /** Unconditional jump (64-bit class: 16-bit offset; 32-bit class: gotol, 32-bit offset). */
  ja(target: Target): AsmInstruction;
}

function jmpOps(cls: number): JmpOps {
  const cond = (op: number) => (dst: Register, src: Operand, target: Target) =>
    withTarget(aluInsn(cls, op, dst, src), target, "off");
  return {
    jeq: cond(JmpOp.JEQ),
    jne: cond(JmpOp.JNE),
    jgt: cond(JmpOp.JGT),
    jge: cond(JmpOp.JGE),
    jlt: cond(JmpOp.JLT),
    jle: cond(JmpOp.JLE),
    jsgt: cond(JmpOp.JSGT),
    jsge: cond(JmpOp.JSGE),
    jslt: cond(JmpOp.JSLT),
    jsle: cond(JmpOp.JSLE),
    jset: cond(JmpOp.JSET),
    ja: (target) => withTarget(insn(cls | JmpOp.JA), target, cls === Class.JMP32 ? "imm" : "off"),
  };
}

/** 64-bit comparisons: jmp.jeq(R1, 0, "out") */
export const jmp: JmpOps = jmpOps(Class.JMP);
/** 32-bit comparisons (low halves): jmp32.jeq(R1, 0, "out") */
export const jmp32: JmpOps = jmpOps(Class.JMP32);

/** goto target (16-bit offset). */
export const ja = (target: Target): AsmInstruction => jmp.ja(target);
/** gotol target (32-bit offset, ISA v4). */
export const gotol = (target: Target): AsmInstruction => jmp32.ja(target);
/** may_goto target (Linux: jumps once the loop budget is exhausted). */
export const mayGoto = (target: Target): AsmInstruction => withTarget(insn(Op.MAY_GOTO), target, "off");

/** Calls a helper by id or name ("map_lookup_elem" or "bpf_map_lookup_elem"). */
export function call(helper: number | HelperName | `bpf_${HelperName}`): AsmInstruction {
  if (typeof helper === "number") return insn(Op.CALL, 0, 0, 0, imm32(helper, "helper id"));
  const id = helperId(helper);
  if (id === undefined) throw new AsmError(`unknown helper ${helper}`);
  return insn(Op.CALL, 0, 0, 0, id);
}

/** Helper id for a name with or without the bpf_ prefix. */
export function helperId(name: string): number | undefined {
  const key = name.startsWith("bpf_") ? name.slice(4) : name;
  return Object.hasOwn(HelperId, key) ? HelperId[key as HelperName] : undefined;
}

/** bpf-to-bpf call of a function of this program, by label or relative offset. */
export const callFunc = (target: Target): AsmInstruction =>
  withTarget(insn(Op.CALL, 0, Pseudo.CALL), target, "imm");
/** Calls a kernel function by BTF id; `btfFdIdx` selects a module BTF from fd_array (0: vmlinux). */
export const callKfunc = (btfId: number, btfFdIdx = 0): AsmInstruction =>
  insn(Op.CALL, 0, Pseudo.KFUNC_CALL, off16(btfFdIdx), imm32(btfId, "BTF id"));
/** Indirect call through a register (LLVM's callx; the register is in dst). */
export const callx = (reg: Register): AsmInstruction => insn(Op.CALLX, regNo(reg));
export const exit = (): AsmInstruction => insn(Op.EXIT);

/** Resolves labels into offsets and returns plain instructions. Throws AsmError. */
export function build(items: readonly AsmItem[]): Instruction[] {
  const flat: LocatedItem[] = [];
  const walk = (xs: readonly AsmItem[]) => {
    for (const x of xs) {
      if (Array.isArray(x)) walk(x);
      else flat.push({ item: x as AsmInstruction | Label });
    }
  };
  walk(items);
  return resolveLabels(flat);
}

/** An assembly buffer: emit instructions and labels, then finish() into resolved instructions. */
export class ProgramBuilder {
  private readonly items: AsmItem[] = [];

  /** Appends instructions (or labels, or arrays of them). */
  emit(...items: AsmItem[]): this {
    this.items.push(...items);
    return this;
  }

  /** Defines a label at the current position. */
  label(name: string): this {
    this.items.push(label(name));
    return this;
  }

  finish(): Instruction[] {
    return build(this.items);
  }
}
