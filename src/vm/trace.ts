// Formatting an interpreter trace: each executed instruction (objdump's numbering and syntax),
// indented by call depth, with the registers it reads as they were before it ran.
import { helperName } from "../bpf/constants.js";
import { formatInstruction } from "../bpf/insn/format.js";
import type { Instruction } from "../bpf/insn/instruction.js";
import { LDDW } from "../bpf/insn/instruction.js";
import { Class, Mode, Op } from "../bpf/insn/opcodes.js";
import type { TraceEvent } from "./interp.js";

/** Registers an instruction reads. */
export function readsOf(insn: Instruction): number[] {
  const cls = insn.code & 7;
  const x = (insn.code & 0x08) !== 0;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const op = insn.code & 0xf0;
      const regs = op === 0xb0 ? [] : [insn.dst];
      return x && op !== 0xd0 && op !== 0x80 ? [...regs, insn.src] : regs;
    }
    case Class.LDX:
      return [insn.src];
    case Class.ST:
      return [insn.dst];
    case Class.STX:
      return (insn.code & 0xe0) === Mode.ATOMIC && insn.imm === 0xf1
        ? [insn.dst, insn.src, 0]
        : [insn.dst, insn.src];
    case Class.LD:
      if (insn.code === LDDW) return [];
      return (insn.code & 0xe0) === Mode.IND ? [6, insn.src] : [6];
    default:
      if (insn.code === Op.EXIT) return [0];
      if (insn.code === Op.CALL) return [1, 2, 3, 4, 5];
      if (insn.code === Op.CALLX) return [insn.dst, 1, 2, 3, 4, 5];
      if (insn.code === Op.JA || insn.code === Op.JA32) return [];
      return x ? [insn.dst, insn.src] : [insn.dst];
  }
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** objdump's text, with map names for lddw of maps and helper names for calls. */
export function traceText(insn: Instruction): string {
  const ref = insn.ref;
  if (insn.code === LDDW && ref?.map !== undefined)
    return `r${insn.dst} = ${ref.map}${ref.mapOffset ? ` + ${ref.mapOffset}` : ""} ll`;
  if (insn.code === LDDW && ref?.func !== undefined) return `r${insn.dst} = ${ref.func} ll`;
  const text = formatInstruction(insn);
  if (insn.code === Op.CALL && insn.src === 0) return `${text} <${helperName(insn.imm)}>`;
  if (insn.code === Op.CALL && ref?.func) return `call ${ref.func}`;
  return text;
}

export function formatTraceLine(e: TraceEvent): string {
  const indent = "  ".repeat(Math.max(0, e.depth - 1));
  const text = traceText(e.insn);
  const regs = [...new Set(readsOf(e.insn))].map((r) => `r${r}=${hex(e.regs[r])}`).join(" ");
  return `${indent}${String(e.slot).padStart(4)}: ${text.padEnd(40)}${regs ? ` ; ${regs}` : ""}`;
}
