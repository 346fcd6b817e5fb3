// Load-time preparation of a program for both engines: the validator (what the kernel's verifier
// checks about structure, without its type tracking) and a flat decoded form of the instructions.
// The validator rejects bad opcodes and registers, writes to r10, jumps out of range, into the
// middle of lddw or out of their function, stack accesses outside the frame, unknown helpers and
// kfuncs, and code that can fall off its end, is unreachable, or never reaches an exit.
import { Pseudo } from "../bpf/constants.js";
import { VmLoadError } from "../bpf/errors.js";
import { SlotMap, branchTarget } from "../bpf/insn/codec.js";
import type { Instruction } from "../bpf/insn/instruction.js";
import { LDDW } from "../bpf/insn/instruction.js";
import { AtomicOp, Class, JmpOp, Mode, Op, sizeBytes } from "../bpf/insn/opcodes.js";
import { validate } from "../bpf/insn/validate.js";
import { FRAME_SIZE } from "./layout.js";

/**
 * What a program's r1 points to: an XDP context (xdp_md), an skb (__sk_buff) as TC programs or
 * as socket filters see it, or plain input memory (uBPF's model: r1 = memory, r2 = its length).
 */
export type ContextKind = "xdp" | "tc" | "socket" | "raw";

export interface PreparedFunction {
  index: number;
  /** First and one-past-last instruction index. */
  start: number;
  end: number;
}

export interface PreparedProgram {
  name: string;
  ctx: ContextKind;
  insns: readonly Instruction[];
  n: number;
  op: Uint8Array;
  dst: Uint8Array;
  src: Uint8Array;
  off: Int32Array;
  imm: Int32Array;
  /** lddw: the resolved 64-bit value (map handles, value addresses, constants; code addresses are set by the runtime). */
  wide: bigint[];
  /** Jumps, bpf-to-bpf calls and may_goto: the target instruction index (-1 otherwise). */
  target: Int32Array;
  /** Instruction index -> 8-byte slot (what objdump and the kernel number instructions by). */
  slot: Int32Array;
  functions: PreparedFunction[];
  /** Instruction index -> index of the function that starts there, or -1. */
  funcAt: Int32Array;
  /** Helper ids the program calls directly. */
  helpers: number[];
}

export interface PrepareOptions {
  name: string;
  ctx: ContextKind;
  /** The value of an lddw (map handles, value addresses...); throws VmLoadError when it cannot. */
  resolveWide(insn: Instruction, index: number): bigint;
  /** undefined when the helper can be called by this program, else why not. */
  helperProblem(id: number): string | undefined;
  /** Accept unreachable instructions (uBPF does; the kernel does not). */
  allowUnreachable?: boolean;
}

const isCond = (code: number): boolean => {
  const cls = code & 7;
  if (cls !== Class.JMP && cls !== Class.JMP32) return false;
  const op = code & 0xf0;
  return op !== JmpOp.JA && op !== JmpOp.CALL && op !== JmpOp.EXIT;
};

/** Whether the instruction writes its dst register (so dst must not be r10). */
function writesDst(insn: Instruction): boolean {
  const cls = insn.code & 7;
  if (cls === Class.ALU || cls === Class.ALU64 || cls === Class.LDX) return true;
  return insn.code === LDDW;
}

/** The base register and access size of a memory instruction, if it is one. */
function memAccess(insn: Instruction): { base: number; size: number } | undefined {
  const cls = insn.code & 7;
  const mode = insn.code & 0xe0;
  if (cls === Class.LDX) return { base: insn.src, size: sizeBytes(insn.code & 0x18) };
  if (cls === Class.ST || cls === Class.STX) {
    if (mode !== Mode.MEM && mode !== Mode.ATOMIC) return undefined;
    return { base: insn.dst, size: sizeBytes(insn.code & 0x18) };
  }
  return undefined;
}

export function prepare(insns: readonly Instruction[], opts: PrepareOptions): PreparedProgram {
  const { name } = opts;
  const fail = (index: number | undefined, msg: string): never => {
    throw new VmLoadError(name, index === undefined ? undefined : slots.slotOf(index), msg);
  };
  const n = insns.length;
  const slots = new SlotMap(insns);
  if (n === 0) fail(undefined, "the program has no instructions");

  const p: PreparedProgram = {
    name,
    ctx: opts.ctx,
    insns,
    n,
    op: new Uint8Array(n),
    dst: new Uint8Array(n),
    src: new Uint8Array(n),
    off: new Int32Array(n),
    imm: new Int32Array(n),
    wide: new Array<bigint>(n).fill(0n),
    target: new Int32Array(n).fill(-1),
    slot: new Int32Array(n),
    functions: [],
    funcAt: new Int32Array(n).fill(-1),
    helpers: [],
  };
  const helpers = new Set<number>();
  const starts = new Set<number>([0]);

  insns.forEach((insn, i) => {
    const problem = validate(insn, { linux: true });
    if (problem) fail(i, problem);
    const cls = insn.code & 7;
    if (cls === Class.ALU64 && (insn.code & 0xf8) === 0xb8 && insn.off === 1)
      fail(i, "addr_space_cast (BPF arenas) is not supported by the userspace runtime");
    if (writesDst(insn) && insn.dst === 10) fail(i, "r10 (the frame pointer) is read-only");
    if (
      cls === Class.STX &&
      (insn.code & 0xe0) === Mode.ATOMIC &&
      insn.imm & AtomicOp.FETCH &&
      insn.src === 10
    )
      fail(i, "r10 (the frame pointer) is read-only");
    if (cls === Class.LD && insn.code !== LDDW && opts.ctx !== "tc" && opts.ctx !== "socket")
      fail(i, "legacy packet loads (ld_abs, ld_ind) need a socket filter or TC program");
    const acc = memAccess(insn);
    if (acc && acc.base === 10 && (insn.off < -FRAME_SIZE || insn.off + acc.size > 0))
      fail(
        i,
        `stack access at r10${insn.off >= 0 ? "+" : ""}${insn.off} (${acc.size} bytes) is outside the ${FRAME_SIZE}-byte frame`,
      );

    const slot = slots.slotOf(i);
    p.slot[i] = slot;
    p.op[i] = insn.code;
    p.dst[i] = insn.dst;
    p.src[i] = insn.src;
    p.off[i] = insn.off;
    p.imm[i] = insn.imm;

    if (insn.code === Op.CALL) {
      if (insn.src === Pseudo.KFUNC_CALL)
        fail(i, `kfunc calls (BTF id ${insn.imm}) are not supported by the userspace runtime`);
      if (insn.src === 0) {
        const why = opts.helperProblem(insn.imm);
        if (why) fail(i, why);
        helpers.add(insn.imm);
        return;
      }
    }
    const t = branchTarget(insn, slot);
    if (t !== undefined) {
      const ti = slots.indexOf(t);
      if (ti === undefined)
        fail(
          i,
          t < 0 || t >= slots.totalSlots
            ? `jump or call to slot ${t}, outside the program`
            : `jump or call to slot ${t}, the middle of an lddw`,
        );
      p.target[i] = ti as number;
      if (insn.code === Op.CALL || insn.code === LDDW) starts.add(ti as number);
    }
    // Function addresses are code addresses, given by the runtime once the functions are known.
    if (insn.code === LDDW && insn.src !== Pseudo.FUNC) p.wide[i] = opts.resolveWide(insn, i);
  });

  const sorted = [...starts].sort((a, b) => a - b);
  sorted.forEach((start, k) => {
    const f: PreparedFunction = { index: k, start, end: sorted[k + 1] ?? n };
    p.functions.push(f);
    p.funcAt[start] = k;
  });
  for (const f of p.functions) checkFunction(p, f, opts.allowUnreachable ?? false, fail);
  p.helpers = [...helpers];
  return p;
}

function checkFunction(
  p: PreparedProgram,
  f: PreparedFunction,
  allowUnreachable: boolean,
  fail: (i: number | undefined, msg: string) => never,
): void {
  const seen = new Uint8Array(f.end - f.start);
  const work = [f.start];
  let exits = 0;
  while (work.length) {
    const i = work.pop() as number;
    if (seen[i - f.start]) continue;
    seen[i - f.start] = 1;
    const code = p.op[i];
    const next: number[] = [];
    if (code === Op.EXIT) {
      exits++;
    } else if (code === Op.JA || code === Op.JA32) {
      next.push(p.target[i]);
    } else if (isCond(code) || code === Op.MAY_GOTO) {
      next.push(i + 1, p.target[i]);
    } else {
      next.push(i + 1);
    }
    for (const t of next) {
      if (t === f.end && t !== i + 1) fail(i, "jump out of its function");
      if (t === f.end) fail(i, "execution can fall off the end of the function");
      if (t < f.start || t > f.end) fail(i, "jump out of its function");
      work.push(t);
    }
  }
  if (!allowUnreachable) {
    const u = seen.indexOf(0);
    if (u >= 0) fail(f.start + u, "unreachable instruction");
  }
  if (exits === 0) fail(f.start, "no exit is reachable from the start of this function");
}
