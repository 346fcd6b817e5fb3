// The instruction syntax of llvm-objdump and llvm-mc for BPF ("pseudo-C"):
//   r0 = *(u32 *)(r1 + 0x4)   if w1 s> 5 goto +3   lock *(u64 *)(r1 + 0) += r2   r1 = 0x1234 ll
import { AsmError } from "../errors.js";
import { Pseudo } from "../constants.js";
import type { Cursor, RegToken } from "./asm-lexer.js";
import type { ParseContext, Parsed } from "./asm-common.js";
import { SIZE_BY_BITS, callByName, insn, isPseudoForm, lddwSymbol, pseudoForm } from "./asm-common.js";
import type { AsmInstruction } from "./builder.js";
import { LDDW } from "./instruction.js";
import { AluOp, AtomicOp, Class, Endian, JmpOp, Mode, Op, Size, Source } from "./opcodes.js";
import { splitImm64 } from "./codec.js";

const COMPOUND: Record<string, [number, number]> = {
  "+=": [AluOp.ADD, 0],
  "-=": [AluOp.SUB, 0],
  "*=": [AluOp.MUL, 0],
  "/=": [AluOp.DIV, 0],
  "s/=": [AluOp.DIV, 1],
  "%=": [AluOp.MOD, 0],
  "s%=": [AluOp.MOD, 1],
  "|=": [AluOp.OR, 0],
  "&=": [AluOp.AND, 0],
  "<<=": [AluOp.LSH, 0],
  ">>=": [AluOp.RSH, 0],
  "s>>=": [AluOp.ARSH, 0],
  "^=": [AluOp.XOR, 0],
};

const CONDITIONS: Record<string, number> = {
  "==": JmpOp.JEQ,
  "!=": JmpOp.JNE,
  ">": JmpOp.JGT,
  ">=": JmpOp.JGE,
  "<": JmpOp.JLT,
  "<=": JmpOp.JLE,
  "s>": JmpOp.JSGT,
  "s>=": JmpOp.JSGE,
  "s<": JmpOp.JSLT,
  "s<=": JmpOp.JSLE,
  "&": JmpOp.JSET,
};

const ATOMIC_OPS: Record<string, number> = {
  "+=": AtomicOp.ADD,
  "|=": AtomicOp.OR,
  "&=": AtomicOp.AND,
  "^=": AtomicOp.XOR,
};
const FETCH_OPS: Record<string, number> = {
  atomic_fetch_add: AtomicOp.FETCH_ADD,
  atomic_fetch_or: AtomicOp.FETCH_OR,
  atomic_fetch_and: AtomicOp.FETCH_AND,
  atomic_fetch_xor: AtomicOp.FETCH_XOR,
};

/** Jump target: +N / -N / N slots, or a label. */
function target(c: Cursor, i: AsmInstruction, field: "off" | "imm"): AsmInstruction {
  if (c.isNumber()) {
    if (field === "off") i.off = c.off16("a jump offset");
    else i.imm = c.imm32("a jump offset");
  } else {
    i.target = c.ident("a jump offset or label");
  }
  c.expectEnd();
  return i;
}

/** `*(u32 *)` or `(u32 *)`: returns the type name, e.g. "u32". */
function typeCast(c: Cursor, star: boolean): string {
  if (star) c.expect("*");
  c.expect("(");
  const t = c.ident("a type (u8, u16, u32, u64, s8, s16, s32)");
  if (!/^[us](8|16|32|64)$/.test(t) || t === "s64") c.fail("u8, u16, u32, u64, s8, s16 or s32", c.tokens[0]);
  c.expect("*");
  c.expect(")");
  return t;
}

/** `rN + off` / `rN - off` (the offset may be omitted). */
function address(c: Cursor): { base: number; off: number } {
  const base = c.reg("a base register").n;
  if (c.peek()?.text === "+" || c.peek()?.text === "-") {
    const neg = c.next()?.text === "-";
    // The sign is the operator: the value after it may itself be signed (r1 + -4).
    const v = c.number("an offset");
    const off = neg ? -v : v;
    if (off < -0x8000n || off > 0x7fffn) throw new AsmError(`offset ${off} does not fit in 16 bits`, c.line);
    return { base, off: Number(off) };
  }
  return { base, off: 0 };
}

function parenAddress(c: Cursor): { base: number; off: number } {
  c.expect("(");
  const a = address(c);
  c.expect(")");
  return a;
}

const sameWidth = (c: Cursor, a: RegToken, b: RegToken): void => {
  if (a.w !== b.w) c.fail(`a ${a.w ? "w" : "r"} register`, c.tokens[c.tokens.length - 1]);
};

export function parseLlvm(c: Cursor, ctx: ParseContext): Parsed {
  const first = c.peek();
  const kw = first?.kind === "ident" && !c.isReg() ? first.text : undefined;
  switch (kw) {
    case "exit":
      c.next();
      c.expectEnd();
      return { item: insn(Op.EXIT) };
    case "call": {
      c.next();
      if (c.accept("kfunc")) {
        const id = c.imm32("a BTF id");
        c.expectEnd();
        return { item: insn(Op.CALL, 0, Pseudo.KFUNC_CALL, 0, id) };
      }
      if (c.isNumber()) {
        const id = c.imm32("a helper id");
        c.expectEnd();
        return { item: insn(Op.CALL, 0, 0, 0, id) };
      }
      const name = c.ident("a helper id, helper name or label");
      c.expectEnd();
      return callByName(name, c.line);
    }
    case "callx": {
      c.next();
      const r = c.reg();
      c.expectEnd();
      return { item: insn(Op.CALLX, r.n) };
    }
    case "goto":
      c.next();
      return { item: target(c, insn(Op.JA), "off") };
    case "gotol":
      c.next();
      return { item: target(c, insn(Op.JA32), "imm") };
    case "may_goto":
      c.next();
      return { item: target(c, insn(Op.MAY_GOTO), "off") };
    case "if":
      c.next();
      return { item: conditional(c) };
    case "lock":
      c.next();
      return { item: lockOp(c) };
    case "ld_pseudo": {
      c.next();
      const d = c.reg();
      c.expect(",");
      const src = c.int(16, "a pseudo source") as number;
      if (src < 0 || src > 15) c.fail("a pseudo source 0..15");
      c.expect(",");
      const { imm } = splitImm64(c.int(64, "an immediate") as bigint);
      c.expectEnd();
      return { item: { code: LDDW, dst: d.n, src, off: 0, imm, imm2: 0 } };
    }
  }
  if (first?.text === "*") return { item: store(c) };
  if (kw !== undefined) throw new AsmError(`unknown mnemonic '${kw}'`, c.line);
  if (!c.isReg()) c.fail("an instruction");
  return assignment(c, ctx);
}

function conditional(c: Cursor): AsmInstruction {
  const d = c.reg();
  const opTok = c.next();
  const op = opTok ? CONDITIONS[opTok.text] : undefined;
  if (op === undefined) c.fail("a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &)", opTok);
  const cls = d.w ? Class.JMP32 : Class.JMP;
  let i: AsmInstruction;
  if (c.isReg()) {
    const s = c.reg();
    sameWidth(c, d, s);
    i = insn(cls | op | Source.X, d.n, s.n);
  } else {
    i = insn(cls | op | Source.K, d.n, 0, 0, c.imm32());
  }
  c.expect("goto");
  return target(c, i, "off");
}

function lockOp(c: Cursor): AsmInstruction {
  const t = typeCast(c, true);
  if (t !== "u32" && t !== "u64") c.fail("u32 or u64 for an atomic operation");
  const { base, off } = parenAddress(c);
  const opTok = c.next();
  const op = opTok ? ATOMIC_OPS[opTok.text] : undefined;
  if (op === undefined) c.fail("+=, |=, &= or ^=", opTok);
  const s = c.reg();
  if (s.w && t === "u64") c.fail("an r register for a u64 operation");
  c.expectEnd();
  return insn(Class.STX | Mode.ATOMIC | SIZE_BY_BITS[t.slice(1)], base, s.n, off, op);
}

function store(c: Cursor): AsmInstruction {
  const t = typeCast(c, true);
  if (t[0] !== "u") c.fail("u8, u16, u32 or u64 for a store");
  const size = SIZE_BY_BITS[t.slice(1)];
  const { base, off } = parenAddress(c);
  c.expect("=");
  if (c.isReg()) {
    const s = c.reg();
    if (s.w && size === Size.DW) c.fail("an r register for a u64 store");
    c.expectEnd();
    return insn(Class.STX | Mode.MEM | size, base, s.n, off);
  }
  const imm = c.imm32();
  c.expectEnd();
  return insn(Class.ST | Mode.MEM | size, base, 0, off, imm);
}

function assignment(c: Cursor, ctx: ParseContext): Parsed {
  const d = c.reg();
  const cls = d.w ? Class.ALU : Class.ALU64;
  const opTok = c.next();
  if (opTok === undefined) c.fail("an assignment");
  const compound = COMPOUND[opTok.text];
  if (compound) {
    const [op, off] = compound;
    if (c.isReg()) {
      const s = c.reg();
      sameWidth(c, d, s);
      c.expectEnd();
      return { item: insn(cls | op | Source.X, d.n, s.n, off) };
    }
    const imm = c.imm32();
    c.expectEnd();
    return { item: insn(cls | op | Source.K, d.n, 0, off, imm) };
  }
  if (opTok.text !== "=") c.fail("=, or an operator such as += or s>>=", opTok);

  // rD = -rD
  if (c.peek()?.text === "-" && c.isReg(1)) {
    c.next();
    const s = c.reg();
    if (s.n !== d.n || s.w !== d.w)
      c.fail(`${d.w ? "w" : "r"}${d.n} (neg works in place)`, c.tokens[c.tokens.length - 1]);
    c.expectEnd();
    return { item: insn(cls | AluOp.NEG | Source.K, d.n) };
  }
  // rD = (s8)rS
  if (c.peek()?.text === "(") {
    c.next();
    const t = c.ident("s8, s16 or s32");
    const bits = { s8: 8, s16: 16, s32: 32 }[t];
    if (bits === undefined || (bits === 32 && d.w)) c.fail(d.w ? "s8 or s16" : "s8, s16 or s32", c.tokens[3]);
    c.expect(")");
    const s = c.reg();
    sameWidth(c, d, s);
    c.expectEnd();
    return { item: insn(cls | AluOp.MOV | Source.X, d.n, s.n, bits) };
  }
  // loads: rD = *(u32 *)(rS + off), r0 = *(u8 *)skb[...]
  if (c.peek()?.text === "*") {
    const t = typeCast(c, true);
    const size = SIZE_BY_BITS[t.slice(1)];
    if (c.accept("skb")) {
      if (d.n !== 0 || d.w) c.fail("r0 as the destination of a packet load");
      if (t[0] !== "u" || size === Size.DW) c.fail("u8, u16 or u32 for a packet load");
      c.expect("[");
      let i: AsmInstruction;
      if (c.isReg()) i = insn(Class.LD | Mode.IND | size, 0, c.reg().n);
      else i = insn(Class.LD | Mode.ABS | size, 0, 0, 0, c.imm32());
      c.expect("]");
      c.expectEnd();
      return { item: i };
    }
    const { base, off } = parenAddress(c);
    c.expectEnd();
    if (d.w && (t[0] === "s" || size === Size.DW)) c.fail("an r register for this load", c.tokens[0]);
    const mode = t[0] === "s" ? Mode.MEMSX : Mode.MEM;
    return { item: insn(Class.LDX | mode | size, d.n, base, off) };
  }
  const word = c.peek()?.kind === "ident" && !c.isReg() ? (c.peek()?.text ?? "") : "";
  // byte swaps: rD = be16 rD
  const swap = /^(be|le|bswap)(16|32|64)$/.exec(word);
  if (swap) {
    c.next();
    const s = c.reg();
    if (s.n !== d.n || s.w || d.w)
      c.fail(`r${d.n} (byte swaps work in place)`, c.tokens[c.tokens.length - 1]);
    c.expectEnd();
    const code =
      swap[1] === "bswap"
        ? Class.ALU64 | AluOp.END | Endian.TO_LE
        : Class.ALU | AluOp.END | (swap[1] === "be" ? Endian.TO_BE : Endian.TO_LE);
    return { item: insn(code, d.n, 0, 0, Number(swap[2])) };
  }
  if (word === "addr_space_cast") {
    c.next();
    c.expect("(");
    const s = c.reg();
    c.expect(",");
    const dstAs = c.int(32, "an address space") as number;
    c.expect(",");
    const srcAs = c.int(32, "an address space") as number;
    c.expect(")");
    c.expectEnd();
    return {
      item: insn(
        Class.ALU64 | AluOp.MOV | Source.X,
        d.n,
        s.n,
        1,
        ((dstAs & 0xffff) << 16) | (srcAs & 0xffff),
      ),
    };
  }
  if (FETCH_OPS[word] !== undefined) {
    c.next();
    c.expect("(");
    const t = typeCast(c, false);
    const { base, off } = parenAddress(c);
    c.expect(",");
    const s = c.reg();
    c.expect(")");
    c.expectEnd();
    return { item: atomicRmw(c, d, s, t, base, off, FETCH_OPS[word]) };
  }
  if (word === "xchg_64" || word === "xchg32_32" || word === "cmpxchg_64" || word === "cmpxchg32_32") {
    c.next();
    c.expect("(");
    const { base, off } = address(c);
    c.expect(",");
    let s = c.reg();
    const cmp = word.startsWith("cmp");
    if (cmp) {
      if (s.n !== 0 || s.w !== d.w)
        c.fail(`${d.w ? "w" : "r"}0 (cmpxchg compares with r0)`, c.tokens[c.tokens.length - 1]);
      if (d.n !== 0) c.fail("r0 or w0 as the destination of cmpxchg", c.tokens[0]);
      c.expect(",");
      s = c.reg();
    }
    c.expect(")");
    c.expectEnd();
    const t = word.endsWith("_64") ? "u64" : "u32";
    if (cmp) return { item: atomicRmw(c, s, s, t, base, off, AtomicOp.CMPXCHG) };
    return { item: atomicRmw(c, d, s, t, base, off, AtomicOp.XCHG) };
  }
  if (isPseudoForm(c)) {
    if (d.w) c.fail("an r register for lddw", c.tokens[0]);
    const p = pseudoForm(c, d.n, ctx);
    c.accept("ll");
    c.expectEnd();
    return p;
  }
  // constants, register moves, lddw
  if (c.isReg()) {
    const s = c.reg();
    sameWidth(c, d, s);
    c.expectEnd();
    return { item: insn(cls | AluOp.MOV | Source.X, d.n, s.n) };
  }
  if (c.isNumber()) {
    const start = c.peek();
    if (c.tokens[c.tokens.length - 1].text === "ll") {
      const v = c.int(64, "a 64-bit constant") as bigint;
      c.expect("ll");
      c.expectEnd();
      if (d.w) c.fail("an r register for lddw", start);
      const { imm, imm2 } = splitImm64(v);
      return { item: { code: LDDW, dst: d.n, src: 0, off: 0, imm, imm2 } };
    }
    const imm = c.imm32();
    c.expectEnd();
    return { item: insn(cls | AluOp.MOV | Source.K, d.n, 0, 0, imm) };
  }
  const name = c.ident("a register, number, symbol or operation");
  c.expect("ll");
  c.expectEnd();
  if (d.w) c.fail("an r register for lddw", c.tokens[0]);
  return lddwSymbol(d.n, name);
}

/** Atomic read-modify-write where the value register is also the result (`s` must equal `d`). */
function atomicRmw(
  c: Cursor,
  d: RegToken,
  s: RegToken,
  t: string,
  base: number,
  off: number,
  op: number,
): AsmInstruction {
  if (t !== "u32" && t !== "u64") c.fail("u32 or u64 for an atomic operation", c.tokens[0]);
  if (s.n !== d.n || s.w !== d.w)
    c.fail(`${d.w ? "w" : "r"}${d.n} as the value register`, c.tokens[c.tokens.length - 2]);
  if (d.w !== (t === "u32")) c.fail(`${t === "u32" ? "w" : "r"} registers for a ${t} operation`, c.tokens[0]);
  return insn(Class.STX | Mode.ATOMIC | SIZE_BY_BITS[t.slice(1)], base, s.n, off, op);
}
