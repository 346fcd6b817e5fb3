// The mnemonic syntax of uBPF and the bpf_conformance test suite, registers with or without %:
//   mov32 %r0, 1   ldxw r0, [r1+4]   jeq r1, 0x5, +2   lock fetch add [r10-8], r1   call local f
import { AsmError } from "../errors.js";
import { Pseudo } from "../constants.js";
import type { Cursor } from "./asm-lexer.js";
import type { ParseContext, Parsed } from "./asm-common.js";
import { SIZE_BY_BITS, callByName, insn, isPseudoForm, pseudoForm } from "./asm-common.js";
import type { AsmInstruction } from "./builder.js";
import { LDDW } from "./instruction.js";
import { AluOp, AtomicOp, Class, Endian, JmpOp, Mode, Op, Source } from "./opcodes.js";
import { splitImm64 } from "./codec.js";

const ALU: Record<string, [number, number]> = {
  add: [AluOp.ADD, 0],
  sub: [AluOp.SUB, 0],
  mul: [AluOp.MUL, 0],
  div: [AluOp.DIV, 0],
  sdiv: [AluOp.DIV, 1],
  or: [AluOp.OR, 0],
  and: [AluOp.AND, 0],
  lsh: [AluOp.LSH, 0],
  rsh: [AluOp.RSH, 0],
  mod: [AluOp.MOD, 0],
  smod: [AluOp.MOD, 1],
  xor: [AluOp.XOR, 0],
  mov: [AluOp.MOV, 0],
  arsh: [AluOp.ARSH, 0],
};

const JUMPS: Record<string, number> = {
  jeq: JmpOp.JEQ,
  jgt: JmpOp.JGT,
  jge: JmpOp.JGE,
  jset: JmpOp.JSET,
  jne: JmpOp.JNE,
  jsgt: JmpOp.JSGT,
  jsge: JmpOp.JSGE,
  jlt: JmpOp.JLT,
  jle: JmpOp.JLE,
  jslt: JmpOp.JSLT,
  jsle: JmpOp.JSLE,
};

const SIZE_SUFFIX: Record<string, string> = { b: "8", h: "16", w: "32", dw: "64" };
const ATOMIC: Record<string, number> = {
  add: AtomicOp.ADD,
  or: AtomicOp.OR,
  and: AtomicOp.AND,
  xor: AtomicOp.XOR,
};

const MNEMONIC =
  /^(?:(?:add|sub|mul|div|sdiv|or|and|lsh|rsh|mod|smod|xor|mov|arsh|neg)(?:32|64)?|movsx(?:8|16|32)(?:32|64)?|(?:be|le|swap|bswap)(?:16|32|64)|lddw|ldxs?(?:b|h|w|dw)|stx?(?:b|h|w|dw)|ld(?:abs|ind)(?:b|h|w)|ja(?:32)?|j(?:eq|gt|ge|set|ne|sgt|sge|lt|le|slt|sle)(?:32)?)$/;

/** Whether a line starting with `word` is in this syntax (call, exit and lock are decided by what follows). */
export function isUbpfLine(c: Cursor): boolean {
  const word = c.peek()?.kind === "ident" ? (c.peek()?.text.toLowerCase() ?? "") : "";
  if (MNEMONIC.test(word)) return true;
  if (word === "lock") return c.peek(1)?.text !== "*";
  if (word === "call") return ["local", "helper", "runtime"].includes(c.peek(1)?.text ?? "") || c.isReg(1);
  return false;
}

/** [rN], [rN+off], [rN-off] */
function memory(c: Cursor): { base: number; off: number } {
  c.expect("[");
  const base = c.reg("a base register").n;
  let off = 0;
  if (c.peek()?.text === "+" || c.peek()?.text === "-") off = c.off16("an offset");
  c.expect("]");
  return { base, off };
}

function jumpTarget(c: Cursor, i: AsmInstruction, field: "off" | "imm"): AsmInstruction {
  if (c.isNumber()) {
    if (field === "off") i.off = c.off16("a jump offset");
    else i.imm = c.imm32("a jump offset");
  } else i.target = c.ident("a jump offset or label");
  c.expectEnd();
  return i;
}

export function parseUbpf(c: Cursor, ctx: ParseContext): Parsed {
  const word = c.ident("a mnemonic").toLowerCase();
  let m: RegExpExecArray | null;

  if (word === "exit") {
    c.expectEnd();
    return { item: insn(Op.EXIT) };
  }
  if (word === "call") return call(c);
  if (word === "lock") return { item: lock(c) };
  if (word === "lddw") {
    const d = c.reg();
    c.expect(",");
    if (isPseudoForm(c)) {
      const p = pseudoForm(c, d.n, ctx);
      c.expectEnd();
      return p;
    }
    const { imm, imm2 } = splitImm64(c.int(64, "a 64-bit constant") as bigint);
    c.expectEnd();
    return { item: { code: LDDW, dst: d.n, src: 0, off: 0, imm, imm2 } };
  }
  if ((m = /^(be|le|swap|bswap)(16|32|64)$/.exec(word))) {
    const d = c.reg();
    c.expectEnd();
    const code =
      m[1] === "be"
        ? Class.ALU | AluOp.END | Endian.TO_BE
        : m[1] === "le"
          ? Class.ALU | AluOp.END
          : Class.ALU64 | AluOp.END;
    return { item: insn(code, d.n, 0, 0, Number(m[2])) };
  }
  if ((m = /^neg(32|64)?$/.exec(word))) {
    const d = c.reg();
    c.expectEnd();
    return { item: insn((m[1] === "32" ? Class.ALU : Class.ALU64) | AluOp.NEG, d.n) };
  }
  if ((m = /^movsx(8|16|32)(32|64)?$/.exec(word))) {
    const cls = m[2] === "32" ? Class.ALU : Class.ALU64;
    const d = c.reg();
    c.expect(",");
    const s = c.reg();
    c.expectEnd();
    return { item: insn(cls | AluOp.MOV | Source.X, d.n, s.n, Number(m[1])) };
  }
  if ((m = /^([a-z]+?)(32|64)?$/.exec(word)) && ALU[m[1]]) {
    const [op, off] = ALU[m[1]];
    const cls = m[2] === "32" ? Class.ALU : Class.ALU64;
    const d = c.reg();
    c.expect(",");
    if (c.isReg()) {
      const s = c.reg();
      c.expectEnd();
      return { item: insn(cls | op | Source.X, d.n, s.n, off) };
    }
    const imm = c.imm32();
    c.expectEnd();
    return { item: insn(cls | op | Source.K, d.n, 0, off, imm) };
  }
  if ((m = /^ldx(s?)(b|h|w|dw)$/.exec(word))) {
    if (m[1] && m[2] === "dw") c.fail("ldxsb, ldxsh or ldxsw", c.tokens[0]);
    const d = c.reg();
    c.expect(",");
    const { base, off } = memory(c);
    c.expectEnd();
    return {
      item: insn(
        Class.LDX | (m[1] ? Mode.MEMSX : Mode.MEM) | SIZE_BY_BITS[SIZE_SUFFIX[m[2]]],
        d.n,
        base,
        off,
      ),
    };
  }
  if ((m = /^st(x?)(b|h|w|dw)$/.exec(word))) {
    const size = SIZE_BY_BITS[SIZE_SUFFIX[m[2]]];
    const { base, off } = memory(c);
    c.expect(",");
    if (m[1]) {
      const s = c.reg();
      c.expectEnd();
      return { item: insn(Class.STX | Mode.MEM | size, base, s.n, off) };
    }
    const imm = c.imm32();
    c.expectEnd();
    return { item: insn(Class.ST | Mode.MEM | size, base, 0, off, imm) };
  }
  if ((m = /^ld(abs|ind)(b|h|w)$/.exec(word))) {
    const size = SIZE_BY_BITS[SIZE_SUFFIX[m[2]]];
    if (m[1] === "abs") {
      const imm = c.imm32();
      c.expectEnd();
      return { item: insn(Class.LD | Mode.ABS | size, 0, 0, 0, imm) };
    }
    const s = c.reg();
    c.expect(",");
    const imm = c.imm32();
    c.expectEnd();
    return { item: insn(Class.LD | Mode.IND | size, 0, s.n, 0, imm) };
  }
  if (word === "ja") return { item: jumpTarget(c, insn(Op.JA), "off") };
  if (word === "ja32") return { item: jumpTarget(c, insn(Op.JA32), "imm") };
  if ((m = /^(j[a-z]+?)(32)?$/.exec(word)) && JUMPS[m[1]] !== undefined) {
    const cls = m[2] ? Class.JMP32 : Class.JMP;
    const d = c.reg();
    c.expect(",");
    let i: AsmInstruction;
    if (c.isReg()) i = insn(cls | JUMPS[m[1]] | Source.X, d.n, c.reg().n);
    else i = insn(cls | JUMPS[m[1]] | Source.K, d.n, 0, 0, c.imm32());
    c.expect(",");
    return { item: jumpTarget(c, i, "off") };
  }
  throw new AsmError(`unknown mnemonic '${word}'`, c.line);
}

/** call N | call name | call helper N | call helper %rN | call %rN | call local target | call runtime N */
function call(c: Cursor): Parsed {
  const mode = c.peek()?.text;
  if (mode === "local") {
    c.next();
    return { item: jumpTarget(c, insn(Op.CALL, 0, Pseudo.CALL), "imm") };
  }
  if (mode === "runtime") {
    c.next();
    const id = c.imm32("a BTF id");
    c.expectEnd();
    return { item: insn(Op.CALL, 0, Pseudo.KFUNC_CALL, 0, id) };
  }
  if (mode === "helper") c.next();
  if (c.isReg()) {
    const r = c.reg();
    c.expectEnd();
    return { item: insn(Op.CALLX, r.n) };
  }
  if (c.isNumber()) {
    const id = c.imm32("a helper id");
    c.expectEnd();
    return { item: insn(Op.CALL, 0, 0, 0, id) };
  }
  const name = c.ident("a helper id, helper name, local label or register");
  c.expectEnd();
  return callByName(name, c.line);
}

/** lock [fetch] add|or|and|xor[32] [rD+off], rS; lock xchg[32] / cmpxchg[32] [rD+off], rS */
function lock(c: Cursor): AsmInstruction {
  const fetch = c.accept("fetch");
  const op = c.ident("add, or, and, xor, xchg or cmpxchg").toLowerCase();
  const m = /^(add|or|and|xor|xchg|cmpxchg)(32|64)?$/.exec(op);
  if (!m) c.fail("add, or, and, xor, xchg or cmpxchg", c.tokens[fetch ? 2 : 1]);
  const size = m[2] === "32" ? SIZE_BY_BITS["32"] : SIZE_BY_BITS["64"];
  const { base, off } = memory(c);
  c.expect(",");
  const s = c.reg();
  c.expectEnd();
  let imm: number;
  if (m[1] === "xchg") imm = AtomicOp.XCHG;
  else if (m[1] === "cmpxchg") imm = AtomicOp.CMPXCHG;
  else imm = ATOMIC[m[1]] | (fetch ? AtomicOp.FETCH : 0);
  return insn(Class.STX | Mode.ATOMIC | size, base, s.n, off, imm);
}
