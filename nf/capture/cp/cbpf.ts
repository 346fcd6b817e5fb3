// Classic BPF (cBPF) as tcpdump and libpcap produce it: the instruction model, the text of
// `tcpdump -ddd` (a count, then "code jt jf k" per line), and the checks the kernel's classic
// checker makes, so the translator only ever sees programs it can translate.
import { ValidationError } from "../../../src/core/errors.js";

export interface CbpfInsn {
  code: number;
  jt: number;
  jf: number;
  /** Unsigned 32 bits. */
  k: number;
}

/** A filter expression or program that cannot be used; the message names what and why. */
export class FilterError extends ValidationError {
  override name = "FilterError";
}

/** The kernel's and libpcap's limit on a classic program. */
export const CBPF_MAX_INSNS = 4096;
/** Scratch memory words M[0..15]. */
export const CBPF_MEMWORDS = 16;

export const Cls = { LD: 0, LDX: 1, ST: 2, STX: 3, ALU: 4, JMP: 5, RET: 6, MISC: 7 } as const;
export const Sz = { W: 0x00, H: 0x08, B: 0x10 } as const;
export const Md = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0 } as const;
export const Alu = {
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
} as const;
export const Jmp = { JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40 } as const;
/** Operand source of ALU and JMP (bit 3): the constant k, or X. */
export const SrcX = 0x08;
/** RET: the value returned (bits 3-4). */
export const Rval = { K: 0x00, A: 0x10 } as const;
export const Misc = { TAX: 0x00, TXA: 0x80 } as const;

export const cls = (code: number): number => code & 0x07;
export const size = (code: number): number => code & 0x18;
export const mode = (code: number): number => code & 0xe0;
export const op = (code: number): number => code & 0xf0;

/** Bytes read by a load of this size code. */
export const sizeBytes = (code: number): 1 | 2 | 4 => (size(code) === Sz.B ? 1 : size(code) === Sz.H ? 2 : 4);

const LD_OK = new Set([
  Cls.LD | Sz.W | Md.ABS,
  Cls.LD | Sz.H | Md.ABS,
  Cls.LD | Sz.B | Md.ABS,
  Cls.LD | Sz.W | Md.IND,
  Cls.LD | Sz.H | Md.IND,
  Cls.LD | Sz.B | Md.IND,
  Cls.LD | Sz.W | Md.LEN,
  Cls.LD | Sz.W | Md.IMM,
  Cls.LD | Sz.W | Md.MEM,
  Cls.LDX | Sz.W | Md.IMM,
  Cls.LDX | Sz.W | Md.MEM,
  Cls.LDX | Sz.W | Md.LEN,
  Cls.LDX | Sz.B | Md.MSH,
]);
const ALU_OPS = new Set<number>(Object.values(Alu));
const JMP_OPS = new Set<number>(Object.values(Jmp));

/** Parses the output of `tcpdump -ddd`: "N" then N lines of "code jt jf k" in decimal. */
export function parseDecimal(text: string): CbpfInsn[] {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  if (lines.length === 0) throw new FilterError("the compiled filter is empty");
  const count = Number(lines[0]);
  if (!/^\d+$/.test(lines[0]) || count !== lines.length - 1)
    throw new FilterError(
      `the compiled filter is not in tcpdump -ddd form (first line '${lines[0]}', ${lines.length - 1} instructions follow)`,
    );
  return lines.slice(1).map((l, i) => {
    const f = l.split(/\s+/);
    if (f.length !== 4 || f.some((x) => !/^\d+$/.test(x)))
      throw new FilterError(`compiled filter, instruction ${i}: '${l}' is not "code jt jf k"`);
    const [code, jt, jf, k] = f.map(Number);
    if (code > 0xffff || jt > 0xff || jf > 0xff || k > 0xffffffff)
      throw new FilterError(`compiled filter, instruction ${i}: '${l}' has a field out of range`);
    return { code, jt, jf, k };
  });
}

/** The same program in `tcpdump -ddd` form. */
export const formatDecimal = (prog: readonly CbpfInsn[]): string =>
  `${prog.length}\n${prog.map((i) => `${i.code} ${i.jt} ${i.jf} ${i.k}`).join("\n")}\n`;

/** Jump targets of instruction `pc` (indexes of the instructions that may run next). */
export function successors(prog: readonly CbpfInsn[], pc: number): number[] {
  const i = prog[pc];
  switch (cls(i.code)) {
    case Cls.RET:
      return [];
    case Cls.JMP:
      if (op(i.code) === Jmp.JA) return [pc + 1 + i.k];
      return [...new Set([pc + 1 + i.jt, pc + 1 + i.jf])];
    default:
      return [pc + 1];
  }
}

/**
 * Checks a program the way the kernel's classic checker does (known opcodes, forward jumps
 * inside the program, scratch words 0..15, no division by the constant 0, a RET at the end) and
 * refuses what this translator does not do: ancillary loads (SKF_AD_*) and link-layer or network
 * offsets, which only live capture handles use and which tcpdump -d does not emit.
 */
export function checkProgram(prog: readonly CbpfInsn[]): void {
  if (prog.length === 0) throw new FilterError("the filter program is empty");
  if (prog.length > CBPF_MAX_INSNS)
    throw new FilterError(
      `the filter compiles to ${prog.length} classic BPF instructions; at most ${CBPF_MAX_INSNS} are allowed (simplify the expression)`,
    );
  prog.forEach((ins, pc) => {
    const where = `filter instruction ${pc} (code ${ins.code})`;
    const c = cls(ins.code);
    switch (c) {
      case Cls.LD:
      case Cls.LDX:
        if (!LD_OK.has(ins.code)) throw new FilterError(`${where}: not a classic BPF load`);
        if ((mode(ins.code) === Md.ABS || mode(ins.code) === Md.IND) && ins.k >= 0x80000000)
          throw new FilterError(
            `${where}: loads at negative offsets (kernel ancillary data, SKF_AD_*) are not supported`,
          );
        if (mode(ins.code) === Md.MEM && ins.k >= CBPF_MEMWORDS)
          throw new FilterError(`${where}: scratch word ${ins.k} does not exist (0..15)`);
        break;
      case Cls.ST:
      case Cls.STX:
        if (ins.code !== c) throw new FilterError(`${where}: not a classic BPF store`);
        if (ins.k >= CBPF_MEMWORDS)
          throw new FilterError(`${where}: scratch word ${ins.k} does not exist (0..15)`);
        break;
      case Cls.ALU: {
        const o = op(ins.code);
        if (ins.code > 0xff || !ALU_OPS.has(o))
          throw new FilterError(`${where}: not a classic BPF arithmetic operation`);
        if (o === Alu.NEG && ins.code & SrcX) throw new FilterError(`${where}: NEG takes no operand`);
        if ((o === Alu.DIV || o === Alu.MOD) && !(ins.code & SrcX) && ins.k === 0)
          throw new FilterError(`${where}: division by the constant 0`);
        break;
      }
      case Cls.JMP: {
        const o = op(ins.code);
        if (ins.code > 0xff || !JMP_OPS.has(o) || (o === Jmp.JA && ins.code & SrcX))
          throw new FilterError(`${where}: not a classic BPF jump`);
        const targets = o === Jmp.JA ? [pc + 1 + ins.k] : [pc + 1 + ins.jt, pc + 1 + ins.jf];
        for (const t of targets)
          if (t >= prog.length) throw new FilterError(`${where}: jumps to ${t}, past the end of the program`);
        break;
      }
      case Cls.RET:
        if (ins.code !== (Cls.RET | Rval.K) && ins.code !== (Cls.RET | Rval.A))
          throw new FilterError(`${where}: not a classic BPF return`);
        break;
      case Cls.MISC:
        if (ins.code !== (Cls.MISC | Misc.TAX) && ins.code !== (Cls.MISC | Misc.TXA))
          throw new FilterError(`${where}: not TAX or TXA`);
        break;
    }
  });
  const last = prog[prog.length - 1];
  if (cls(last.code) !== Cls.RET)
    throw new FilterError("the filter program does not end with a return instruction");
}

/** Which instructions can run at all (from instruction 0): unreachable ones are not translated. */
export function reachable(prog: readonly CbpfInsn[]): boolean[] {
  const seen = prog.map(() => false);
  seen[0] = true;
  // Jumps only go forward, so one pass in order visits every reachable instruction after its sources.
  for (let pc = 0; pc < prog.length; pc++) {
    if (!seen[pc]) continue;
    for (const s of successors(prog, pc)) seen[s] = true;
  }
  return seen;
}
