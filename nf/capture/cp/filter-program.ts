// Loads a translated filter as an eBPF program of the capture NF's hook: XDP programs with
// expected_attach_type BPF_XDP (a prog array only takes programs like its first), TC programs as
// sched_cls, like the NF's own programs.
import { AttachType, ProgType } from "../../../src/bpf/constants.js";
import { encode } from "../../../src/bpf/insn/codec.js";
import type { Instruction } from "../../../src/bpf/insn/instruction.js";
import { BpfProgram, type ProgramLoadOptions } from "../../../src/bpf/prog/program.js";
import type { CbpfInsn } from "./cbpf.js";
import { translate, type FilterHook, type TranslateOptions } from "./translate.js";

export const FILTER_PROGRAM_NAME = "cap_filter";

export interface FilterProgram {
  program: BpfProgram;
  /** Sizes, for the `filter` table: classic instructions in, eBPF instructions out. */
  classic: number;
  ebpf: number;
}

function loadOptions(hook: FilterHook, insns: readonly Instruction[], name: string): ProgramLoadOptions {
  return {
    type: hook === "xdp" ? ProgType.XDP : ProgType.SCHED_CLS,
    ...(hook === "xdp" ? { expectedAttachType: AttachType.XDP } : {}),
    name,
    insns: encode(insns),
    license: "Dual BSD/GPL",
  };
}

/** Translates and loads `prog` (the verifier runs on libuv's thread pool). */
export async function loadFilter(
  prog: readonly CbpfInsn[],
  opts: TranslateOptions,
  name = FILTER_PROGRAM_NAME,
): Promise<FilterProgram> {
  const insns = translate(prog, opts);
  const program = await BpfProgram.loadAsync(loadOptions(opts.hook, insns, name));
  return { program, classic: prog.length, ebpf: insns.length };
}

/** The same, synchronously (tests). */
export function loadFilterSync(
  prog: readonly CbpfInsn[],
  opts: TranslateOptions,
  name = FILTER_PROGRAM_NAME,
): FilterProgram {
  const insns = translate(prog, opts);
  return {
    program: BpfProgram.load(loadOptions(opts.hook, insns, name)),
    classic: prog.length,
    ebpf: insns.length,
  };
}
