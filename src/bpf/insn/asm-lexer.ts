// Tokens of one assembly line, and a cursor with the expectations both syntaxes share.
import { AsmError } from "../errors.js";

export type TokenKind = "ident" | "num" | "op";

export interface Token {
  kind: TokenKind;
  text: string;
  /** Numbers only: the unsigned value. */
  value?: bigint;
}

// Longest first. The s-prefixed operators are LLVM's signed forms (s>=, s/=, s>>=...).
const OPERATORS = [
  "s>>=",
  "s/=",
  "s%=",
  "s>=",
  "s<=",
  "<<=",
  ">>=",
  "s>",
  "s<",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "|=",
  "&=",
  "^=",
  "==",
  "!=",
  ">=",
  "<=",
  ">",
  "<",
  "=",
  "&",
  "(",
  ")",
  "*",
  "[",
  "]",
  ",",
  "+",
  "-",
  ":",
];

const NUMBER = /^(0x[0-9a-f]+|0b[01]+|\d+)(?![\w$])/i;
const IDENT = /^%?[A-Za-z_.$][\w.$]*/;

export function tokenize(text: string, line: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const ws = /^\s+/.exec(rest);
    if (ws) {
      i += ws[0].length;
      continue;
    }
    const num = NUMBER.exec(rest);
    if (num) {
      out.push({ kind: "num", text: num[0], value: BigInt(num[0].toLowerCase()) });
      i += num[0].length;
      continue;
    }
    const signed = rest[0] === "s" && "<>/%".includes(rest[1] ?? "");
    if (!signed) {
      const id = IDENT.exec(rest);
      if (id) {
        out.push({ kind: "ident", text: id[0] });
        i += id[0].length;
        continue;
      }
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (!op) throw new AsmError(`unexpected character '${rest[0]}'`, line);
    out.push({ kind: "op", text: op });
    i += op.length;
  }
  return out;
}

/** A parsed register: number and whether it was written as a 32-bit subregister (wN). */
export interface RegToken {
  n: number;
  w: boolean;
}

const REGISTER = /^%?([rw])(\d+)$/i;

export class Cursor {
  private i = 0;
  constructor(
    readonly tokens: Token[],
    readonly line: number,
  ) {}

  peek(k = 0): Token | undefined {
    return this.tokens[this.i + k];
  }
  atEnd(): boolean {
    return this.i >= this.tokens.length;
  }
  next(): Token | undefined {
    return this.tokens[this.i++];
  }
  fail(expected: string, at: Token | undefined = this.peek()): never {
    throw new AsmError(`expected ${expected}, found ${at ? `'${at.text}'` : "end of line"}`, this.line);
  }
  /** Consumes `text` if it is next. */
  accept(text: string): boolean {
    const t = this.peek();
    if (t && t.text.toLowerCase() === text) {
      this.i++;
      return true;
    }
    return false;
  }
  expect(text: string): void {
    if (!this.accept(text)) this.fail(`'${text}'`);
  }
  expectEnd(): void {
    if (!this.atEnd()) this.fail("end of instruction");
  }
  isReg(k = 0): boolean {
    const t = this.peek(k);
    return t?.kind === "ident" && REGISTER.test(t.text) && Number(REGISTER.exec(t.text)?.[2]) <= 15;
  }
  /** A register r0..r15 or w0..w15 (r11..r15 only exist to build malformed programs). */
  reg(what = "a register"): RegToken {
    const t = this.peek();
    const m = t?.kind === "ident" ? REGISTER.exec(t.text) : null;
    if (!m || Number(m[2]) > 15) this.fail(what);
    this.i++;
    return { n: Number(m[2]), w: m[1].toLowerCase() === "w" };
  }
  ident(what: string): string {
    const t = this.peek();
    if (t?.kind !== "ident") this.fail(what);
    this.i++;
    return t.text;
  }
  /** Whether a (possibly signed) number comes next. */
  isNumber(): boolean {
    const t = this.peek();
    if (t?.kind === "num") return true;
    return (t?.text === "-" || t?.text === "+") && this.peek(1)?.kind === "num";
  }
  /** A number with an optional sign. */
  number(what = "a number"): bigint {
    let sign = 1n;
    if (this.accept("-")) sign = -1n;
    else this.accept("+");
    const t = this.peek();
    if (t?.kind !== "num" || t.value === undefined) this.fail(what);
    this.i++;
    return sign * t.value;
  }
  /** A number that must fit in `bits`, signed or (for non-negative values) unsigned. */
  int(bits: 16 | 32 | 64, what = "a number"): number | bigint {
    const start = this.peek();
    const v = this.number(what);
    const lo = -(1n << BigInt(bits - 1));
    const hi = bits === 16 ? (1n << 15n) - 1n : (1n << BigInt(bits)) - 1n;
    if (v < lo || v > hi)
      throw new AsmError(
        `${start?.text === "-" ? "-" : ""}${v < 0 ? -v : v} does not fit in ${bits} bits`,
        this.line,
      );
    return bits === 64 ? v : Number(BigInt.asIntN(bits, v));
  }
  imm32(what = "an immediate"): number {
    return this.int(32, what) as number;
  }
  off16(what = "an offset"): number {
    return this.int(16, what) as number;
  }
}
