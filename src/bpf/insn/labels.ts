// Label resolution shared by the builder and the text assembler: positions count in slots
// (lddw is two), and a jump's offset (or a call's imm) is relative to the next slot.
import { AsmError } from "../errors.js";
import type { AsmInstruction, Label } from "./builder.js";
import type { Instruction } from "./instruction.js";
import { LDDW, slots } from "./instruction.js";
import { Op } from "./opcodes.js";

/** An instruction or label, with the source line it came from (for errors). */
export interface LocatedItem {
  item: AsmInstruction | Label;
  line?: number;
  /** Used instead of the instruction when its target is not a label (e.g. `call name` of a helper). */
  fallback?: () => Instruction;
}

const isLabel = (x: AsmInstruction | Label): x is Label => typeof (x as Label).label === "string";

/** Calls, gotol and lddw of a function keep their target in imm; the other jumps in off. */
const targetInImm = (i: Instruction): boolean => i.code === Op.JA32 || i.code === Op.CALL || i.code === LDDW;

/**
 * Turns labels into offsets. A target named "exit" that is not a label means the first exit
 * instruction, as in the uBPF / bpf_conformance assembler.
 */
export function resolveLabels(entries: readonly LocatedItem[]): Instruction[] {
  const labels = new Map<string, number>();
  let slot = 0;
  let firstExit: number | undefined;
  for (const { item, line } of entries) {
    if (isLabel(item)) {
      if (labels.has(item.label)) throw new AsmError(`label ${item.label} is defined twice`, line);
      labels.set(item.label, slot);
    } else {
      if (item.code === Op.EXIT && firstExit === undefined) firstExit = slot;
      slot += slots(item);
    }
  }
  if (!labels.has("exit") && firstExit !== undefined) labels.set("exit", firstExit);

  const out: Instruction[] = [];
  slot = 0;
  for (const { item, line, fallback } of entries) {
    if (isLabel(item)) continue;
    const { target, ...rest } = item;
    let resolved: Instruction = rest;
    if (target !== undefined) {
      const to = labels.get(target);
      if (to !== undefined) {
        const delta = to - (slot + 1);
        if (targetInImm(item)) resolved = { ...rest, imm: delta };
        else if (delta < -0x8000 || delta > 0x7fff)
          throw new AsmError(
            `jump to ${target} is ${delta} slots away, beyond a 16-bit offset (use gotol)`,
            line,
          );
        else resolved = { ...rest, off: delta };
      } else if (fallback) {
        resolved = fallback();
      } else {
        throw new AsmError(`unknown label ${target}`, line);
      }
    }
    out.push(resolved);
    slot += slots(resolved);
  }
  return out;
}
