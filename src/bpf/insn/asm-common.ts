// Pieces both assembly syntaxes share: calls by name, lddw of symbols and the RFC 9669 pseudo
// forms (map_by_fd(...), map_val(map_by_fd(...)) + off, ...), and memory size names.
import { AsmError } from "../errors.js";
import { Pseudo } from "../constants.js";
import type { AsmInstruction } from "./builder.js";
import { helperId } from "./builder.js";
import type { Cursor } from "./asm-lexer.js";
import type { Instruction } from "./instruction.js";
import { LDDW } from "./instruction.js";
import type { LocatedItem } from "./labels.js";
import { Op, Size } from "./opcodes.js";

export interface ParseContext {
  /** Map names usable in map_by_fd(name) etc., with the fd or index to encode. Unknown names become references. */
  maps?: Readonly<Record<string, number>>;
}

export type Parsed = Omit<LocatedItem, "line">;

export const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): AsmInstruction => ({
  code,
  dst,
  src,
  off,
  imm,
});

/** `call name`: a bpf-to-bpf call when name is a label of the program, else a helper by name. */
export function callByName(name: string, line: number): Parsed {
  const helper = helperId(name);
  return {
    item: { ...insn(Op.CALL, 0, Pseudo.CALL), target: name },
    fallback: () => {
      if (helper === undefined) throw new AsmError(`'${name}' is neither a label nor a helper`, line);
      return insn(Op.CALL, 0, 0, 0, helper);
    },
  };
}

/** `rD = name ll`: address of a function of the program, else a symbol the loader resolves. */
export function lddwSymbol(dst: number, name: string): Parsed {
  return {
    item: { code: LDDW, dst, src: Pseudo.FUNC, off: 0, imm: 0, imm2: 0, target: name },
    fallback: () => ({ code: LDDW, dst, src: 0, off: 0, imm: 0, imm2: 0, ref: { map: name } }),
  };
}

const PSEUDO_FUNCS = new Set(["map_by_fd", "map_by_idx", "var_addr", "code_addr", "map_val"]);

export const isPseudoForm = (c: Cursor): boolean =>
  c.peek()?.kind === "ident" && PSEUDO_FUNCS.has(c.peek()?.text ?? "") && c.peek(1)?.text === "(";

/** Parses map_by_fd(X), map_val(map_by_fd(X)) + N, var_addr(X), code_addr(X), map_by_idx(X). */
export function pseudoForm(c: Cursor, dst: number, ctx: ParseContext): Parsed {
  const fn = c.ident("map_by_fd, map_by_idx, map_val, var_addr or code_addr");
  c.expect("(");
  if (fn === "map_val") {
    const inner = c.ident("map_by_fd or map_by_idx");
    if (inner !== "map_by_fd" && inner !== "map_by_idx") c.fail("map_by_fd or map_by_idx", c.tokens[0]);
    c.expect("(");
    const arg = pseudoArg(c, ctx);
    c.expect(")");
    c.expect(")");
    let off = 0;
    if (c.accept("+") || c.peek()?.text === "-") off = c.imm32("a value offset");
    const src = inner === "map_by_fd" ? Pseudo.MAP_VALUE : Pseudo.MAP_IDX_VALUE;
    const i: Instruction = { code: LDDW, dst, src, off: 0, imm: arg.imm, imm2: off };
    if (arg.name !== undefined) i.ref = { map: arg.name, mapOffset: off };
    return { item: i };
  }
  if (fn === "code_addr" && !c.isNumber()) {
    const name = c.ident("a label or number");
    c.expect(")");
    return { item: { code: LDDW, dst, src: Pseudo.FUNC, off: 0, imm: 0, imm2: 0, target: name } };
  }
  const arg = pseudoArg(c, ctx);
  c.expect(")");
  const src = {
    map_by_fd: Pseudo.MAP_FD,
    map_by_idx: Pseudo.MAP_IDX,
    var_addr: Pseudo.BTF_ID,
    code_addr: Pseudo.FUNC,
  }[fn as "map_by_fd"];
  const i: Instruction = { code: LDDW, dst, src, off: 0, imm: arg.imm, imm2: 0 };
  if (arg.name !== undefined) i.ref = fn === "var_addr" ? { extern: arg.name } : { map: arg.name };
  return { item: i };
}

function pseudoArg(c: Cursor, ctx: ParseContext): { imm: number; name?: string } {
  if (c.isNumber()) return { imm: c.imm32() };
  const name = c.ident("a number or name");
  const known = ctx.maps?.[name];
  return known !== undefined ? { imm: known } : { imm: 0, name };
}

/** Size code for u8/u16/u32/u64 (and the signed s8/s16/s32). */
export const SIZE_BY_BITS: Record<string, number> = {
  "8": Size.B,
  "16": Size.H,
  "32": Size.W,
  "64": Size.DW,
};
