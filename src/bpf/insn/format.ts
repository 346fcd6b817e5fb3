// One instruction in the syntax llvm-objdump prints for BPF, decided the way LLVM 19's decoder
// decides it: fields LLVM ignores are ignored here too, and words LLVM cannot decode are <unknown>.
import type { Instruction } from "./instruction.js";
import { LDDW } from "./instruction.js";

export interface FormatOptions {
  /** Decode 32-bit loads, stores and atomics with w registers, as `llvm-objdump --mattr=+alu32` does. */
  alu32?: boolean;
}

/** An instruction as LLVM decodes it from bytes. */
export interface DecodedText {
  /** The instruction text, or "<unknown>". */
  text: string;
  /** Bytes consumed: 8, or 16 for lddw; 0 for an lddw whose second slot is missing. */
  size: number;
  /** For jumps: target relative to the next slot, in slots. */
  jump?: number;
}

/** A raw 8-byte slot, with the high half of an lddw when the bytes are there. */
export interface RawWord {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  imm2?: number;
}

const SIZE_NAMES = ["32", "16", "8", "64"] as const;
const ALU_OPS: Record<number, string> = {
  0x0: "+=",
  0x1: "-=",
  0x2: "*=",
  0x3: "/=",
  0x4: "|=",
  0x5: "&=",
  0x6: "<<=",
  0x7: ">>=",
  0x9: "%=",
  0xa: "^=",
  0xc: "s>>=",
};
const JMP_OPS: Record<number, string> = {
  0x1: "==",
  0x2: ">",
  0x3: ">=",
  0x4: "&",
  0x5: "!=",
  0x6: "s>",
  0x7: "s>=",
  0xa: "<",
  0xb: "<=",
  0xc: "s<",
  0xd: "s<=",
};
const ATOMIC_OPS: Record<number, [string, string]> = {
  0x0: ["+", "add"],
  0x4: ["|", "or"],
  0x5: ["&", "and"],
  0xa: ["^", "xor"],
};

/** LLVM prints immediates in hex with a sign: 0x10, -0x4. */
export const hexImm = (n: number | bigint): string =>
  n < 0 ? `-0x${(-BigInt(n)).toString(16)}` : `0x${n.toString(16)}`;
const rel = (n: number): string => (n < 0 ? `-0x${(-n).toString(16)}` : `+0x${n.toString(16)}`);

class Unknown extends Error {}
/** LLVM knows r0..r11; r12..r15 make the word undecodable. */
const reg = (prefix: "r" | "w", n: number): string => {
  if (n > 11) throw new Unknown();
  return `${prefix}${n}`;
};
const mem = (base: number, off: number): string =>
  `${reg("r", base)} ${off < 0 ? "-" : "+"} ${hexImm(Math.abs(off))}`;

/** Decodes one word (or two for lddw) as LLVM does. `imm2` undefined means the section ends there. */
export function llvmDecode(w: RawWord, opts: FormatOptions = {}): DecodedText {
  try {
    return decodeWord(w, opts.alu32 ?? false);
  } catch (e) {
    if (e instanceof Unknown) return { text: "<unknown>", size: 8 };
    throw e;
  }
}

function decodeWord(w: RawWord, alu32: boolean): DecodedText {
  const { code, dst, src, off, imm } = w;
  const cls = code & 7;
  const text = (t: string, jump?: number): DecodedText =>
    jump === undefined ? { text: t, size: 8 } : { text: t, size: 8, jump };
  switch (cls) {
    case 0x4:
    case 0x7:
      return text(alu(w, cls === 0x7));
    case 0x5:
    case 0x6: {
      const is32 = cls === 0x6;
      const op = code >> 4;
      const x = (code & 8) !== 0;
      const R = is32 ? "w" : "r";
      if (op === 0x0) {
        if (x) throw new Unknown();
        return is32 ? text(`gotol ${rel(imm)}`, imm) : text(`goto ${rel(off)}`, off);
      }
      const cmp = JMP_OPS[op];
      if (cmp !== undefined) {
        const rhs = x ? reg(R, src) : hexImm(imm);
        return text(`if ${reg(R, dst)} ${cmp} ${rhs} goto ${rel(off)}`, off);
      }
      if (is32) throw new Unknown();
      if (op === 0x8) return text(x ? `callx ${reg("r", dst)}` : `call ${hexImm(imm)}`);
      if (op === 0x9 && !x && imm === 0) return text("exit");
      if (op === 0xe && !x) return text(`may_goto ${rel(off)}`, off);
      throw new Unknown();
    }
    case 0x0: {
      const mode = code >> 5;
      const size = (code >> 3) & 3;
      if (mode === 0) {
        if (code !== LDDW || off !== 0) throw new Unknown();
        const d = reg("r", dst);
        // LLVM accepts the first word, then fails for want of the second (objdump skips one byte).
        if (w.imm2 === undefined) return { text: "<unknown>", size: 0 };
        if (src !== 0) return { text: `ld_pseudo\t${d}, ${hexImm(src)}, ${hexImm(imm >>> 0)}`, size: 16 };
        const v = BigInt.asIntN(64, (BigInt(w.imm2) << 32n) | BigInt(imm >>> 0));
        return { text: `${d} = ${hexImm(v)} ll`, size: 16 };
      }
      if ((mode !== 1 && mode !== 2) || size === 3) throw new Unknown();
      const where = mode === 1 ? hexImm(imm) : reg("r", src);
      return text(`r0 = *(u${SIZE_NAMES[size]} *)skb[${where}]`);
    }
    case 0x1: {
      const mode = code >> 5;
      const size = (code >> 3) & 3;
      if (mode === 3) {
        const d = alu32 && size !== 3 ? reg("w", dst) : reg("r", dst);
        return text(`${d} = *(u${SIZE_NAMES[size]} *)(${mem(src, off)})`);
      }
      if (mode === 4 && size !== 3)
        return text(`${reg("r", dst)} = *(s${SIZE_NAMES[size]} *)(${mem(src, off)})`);
      throw new Unknown();
    }
    case 0x2: {
      if (code >> 5 !== 3) throw new Unknown();
      return text(`*(u${SIZE_NAMES[(code >> 3) & 3]} *)(${mem(dst, off)}) = ${hexImm(imm)}`);
    }
    default: {
      const mode = code >> 5;
      const size = (code >> 3) & 3;
      if (mode === 3) {
        const s = alu32 && size !== 3 ? reg("w", src) : reg("r", src);
        return text(`*(u${SIZE_NAMES[size]} *)(${mem(dst, off)}) = ${s}`);
      }
      if (mode !== 6 || size === 1 || size === 2) throw new Unknown();
      return text(atomic(w, size === 3, alu32));
    }
  }
}

function alu(w: RawWord, is64: boolean): string {
  const { code, dst, src, off, imm } = w;
  const op = code >> 4;
  const x = (code & 8) !== 0;
  const R = is64 ? "r" : "w";
  const d = reg(R, dst);
  if (op === 0x8) {
    if (x) throw new Unknown();
    return `${d} = -${d}`;
  }
  if (op === 0xd) {
    if (imm !== 16 && imm !== 32 && imm !== 64) throw new Unknown();
    if (is64 && x) throw new Unknown();
    const name = is64 ? "bswap" : x ? "be" : "le";
    const r = reg("r", dst);
    return `${r} = ${name}${imm} ${r}`;
  }
  if (op === 0xb) {
    if (!x) {
      if (off !== 0) throw new Unknown();
      return `${d} = ${hexImm(imm)}`;
    }
    if (off === 0) return `${d} = ${reg(R, src)}`;
    if (off === 8 || off === 16 || (off === 32 && is64)) return `${d} = (s${off})${reg(R, src)}`;
    if (off === 1 && is64)
      return `${d} = addr_space_cast(${reg("r", src)}, ${hexImm(imm >>> 16)}, ${hexImm(imm & 0xffff)})`;
    throw new Unknown();
  }
  const name = ALU_OPS[op];
  if (name === undefined) throw new Unknown();
  let opText = name;
  if (off !== 0) {
    if (off !== 1 || (op !== 0x3 && op !== 0x9)) throw new Unknown();
    opText = `s${name}`;
  }
  return `${d} ${opText} ${x ? reg(R, src) : hexImm(imm)}`;
}

function atomic(w: RawWord, is64: boolean, alu32: boolean): string {
  const { dst, src, off, imm } = w;
  const opNibble = (imm >> 4) & 0xf;
  const fetch = (imm & 0xf) === 1;
  const where = mem(dst, off);
  if (!is64 && !alu32) {
    // Without alu32 LLVM only knows the 32-bit add, and ignores the fetch bits.
    if (opNibble !== 0) throw new Unknown();
    return `lock *(u32 *)(${where}) += ${reg("r", src)}`;
  }
  const R = is64 ? "r" : "w";
  const bits = is64 ? "64" : "32";
  const s = reg(R, src);
  const pair = ATOMIC_OPS[opNibble];
  if (pair !== undefined) {
    return fetch
      ? `${s} = atomic_fetch_${pair[1]}((u${bits} *)(${where}), ${s})`
      : `lock *(u${bits} *)(${where}) ${pair[0]}= ${s}`;
  }
  if (!fetch) throw new Unknown();
  if (opNibble === 0xe) return `${s} = ${is64 ? "xchg_64" : "xchg32_32"}(${where}, ${s})`;
  if (opNibble === 0xf) return `${R}0 = ${is64 ? "cmpxchg_64" : "cmpxchg32_32"}(${where}, ${R}0, ${s})`;
  throw new Unknown();
}

/**
 * Formats one instruction as llvm-objdump prints it (without the jump-target annotation),
 * e.g. "r0 = *(u32 *)(r1 + 0x4)" or "if r1 s> 0x5 goto +0x3".
 */
export function formatInstruction(insn: Instruction, opts: FormatOptions = {}): string {
  const word: RawWord = { code: insn.code, dst: insn.dst, src: insn.src, off: insn.off, imm: insn.imm | 0 };
  if (insn.code === LDDW) word.imm2 = (insn.imm2 ?? 0) | 0;
  return llvmDecode(word, opts).text;
}
