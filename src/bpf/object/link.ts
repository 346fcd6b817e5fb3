// Links an entry function with the subprograms it calls or takes the address of, the way
// libbpf's bpf_object__reloc_code() does: depth first, each subprogram appended once at the end,
// call and BPF_PSEUDO_FUNC immediates rewritten as pc-relative slot offsets. Func and line info
// follow the instructions they describe.
import { RelocationError } from "../errors.js";
import type { Instruction } from "../insn/instruction.js";
import { slots } from "../insn/instruction.js";
import type { CodeFunction } from "./functions.js";
import type { FuncInfoRecord, LineInfoRecord } from "./spec.js";

/** func_info / line_info of one ELF section, keyed by section slot. */
export interface SectionDebugInfo {
  funcInfo: Map<number, number>;
  lineInfo: { slot: number; fileNameOff: number; lineOff: number; lineCol: number }[];
}

export interface LinkedProgram {
  instructions: Instruction[];
  functions: string[];
  funcInfo: FuncInfoRecord[];
  lineInfo: LineInfoRecord[];
}

const copy = (i: Instruction): Instruction => ({ ...i, ref: i.ref ? { ...i.ref } : undefined });

export function linkProgram(
  entry: CodeFunction,
  functions: ReadonlyMap<string, CodeFunction>,
  debugInfo: ReadonlyMap<number, SectionDebugInfo>,
  file: string,
): LinkedProgram {
  const out: Instruction[] = [];
  const placed = new Map<string, number>(); // function key -> first slot in the linked program
  const order: CodeFunction[] = [];
  let nextSlot = 0;

  const append = (fn: CodeFunction): number => {
    const start = nextSlot;
    placed.set(fn.key, start);
    order.push(fn);
    const first = out.length;
    for (const insn of fn.instructions) {
      out.push(copy(insn));
      nextSlot += slots(insn);
    }
    // Resolve this function's references, appending callees as they are met (depth first).
    let slot = start;
    for (let i = first; i < first + fn.instructions.length; i++) {
      const insn = out[i];
      const target = insn.ref?.func;
      if (target !== undefined) {
        const callee = functions.get(target);
        if (!callee)
          throw new RelocationError(
            `function ${fn.name}: call or function address at instruction ${slot - start} points to no function (${target})`,
            file,
          );
        const at = placed.get(target) ?? append(callee);
        insn.imm = at - (slot + 1);
        insn.ref = { ...insn.ref, func: callee.name };
      }
      slot += slots(insn);
    }
    return start;
  };
  append(entry);

  const funcInfo: FuncInfoRecord[] = [];
  const lineInfo: LineInfoRecord[] = [];
  for (const fn of order) {
    const base = placed.get(fn.key) as number;
    const info = debugInfo.get(fn.section.index);
    if (!info) continue;
    const typeId = info.funcInfo.get(fn.startSlot);
    if (typeId !== undefined) funcInfo.push({ insnOff: base, typeId });
    for (const l of info.lineInfo) {
      if (l.slot >= fn.startSlot && l.slot < fn.startSlot + fn.slotCount) {
        lineInfo.push({
          insnOff: base + l.slot - fn.startSlot,
          fileNameOff: l.fileNameOff,
          lineOff: l.lineOff,
          lineCol: l.lineCol,
        });
      }
    }
  }
  // The kernel wants func_info for every function or for none.
  const complete = funcInfo.length === order.length;
  return {
    instructions: out,
    functions: order.map((f) => f.name),
    funcInfo: complete ? funcInfo : [],
    lineInfo: complete ? lineInfo.sort((a, b) => a.insnOff - b.insnOff) : [],
  };
}
