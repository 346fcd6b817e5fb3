// The interpreter: the reference engine, one instruction at a time on BigInt registers, with every
// memory access checked. Re-entrant, so helpers can call back into programs (bpf_loop,
// bpf_for_each_map_elem). Calls push a frame (r6..r9 and the caller's r1..r5 preserved, a fresh
// 512-byte stack frame below the caller's); tail calls replace the running function.
import { HelperId } from "../bpf/constants.js";
import { VmFault } from "../bpf/errors.js";
import type { Instruction } from "../bpf/insn/instruction.js";
import { LDDW } from "../bpf/insn/instruction.js";
import { AtomicOp, Class, JmpOp, Mode, Op, sizeBytes } from "../bpf/insn/opcodes.js";
import { alu32, alu64, bswap, compare, u64 } from "./alu.js";
import { checkAccess } from "./check.js";
import {
  CALL_DEPTH,
  CODE_BASE,
  FRAME_SIZE,
  HELPER_ARGS,
  HELPER_FP,
  HELPER_PC,
  MAX_FRAMES,
} from "./layout.js";
import type { PreparedProgram } from "./prepare.js";
import type { VmProgram } from "./program.js";
import type { Vm } from "./vm.js";

/** may_goto iterations per frame before the jump is taken (the kernel's BPF_MAX_LOOPS). */
export const MAY_GOTO_LOOPS = 8 * 1024 * 1024;

export interface TraceEvent {
  program: string;
  /** Instruction index and its slot (objdump's numbering). */
  pc: number;
  slot: number;
  /** Call depth, 1 for the program's entry function. */
  depth: number;
  insn: Instruction;
  /** r0..r10 before the instruction runs. */
  regs: readonly bigint[];
}

export type Tracer = (e: TraceEvent) => void;

interface Frame {
  prog: VmProgram;
  ret: number;
  saved: bigint[];
  mayGoto: number;
}

const M32 = 0xffff_ffffn;

export class Interpreter {
  /** Instructions left in this run's budget. */
  remaining = 0;
  tracer: Tracer | undefined;

  constructor(private readonly vm: Vm) {}

  #fault(prog: VmProgram, pc: number, kind: VmFault["kind"], msg: string, access?: VmFault["access"]): never {
    throw new VmFault(kind, prog.name, prog.prepared.slot[pc] ?? -1, msg, access);
  }

  #checkBudget(prog: VmProgram, pc: number): void {
    if (this.remaining < 0)
      this.#fault(prog, pc, "budget", `instruction budget of ${this.vm.budget} exhausted (an endless loop?)`);
  }

  /** Checks an access and returns its address as a number. */
  #addr(prog: VmProgram, pc: number, a: bigint, size: number, write: boolean, fp: number): number {
    const n = a <= M32 ? Number(a) : Infinity;
    if (!checkAccess(this.vm.regions, this.vm.mem.u8, n, size, write, fp)) {
      const region = n === Infinity ? "no region (beyond 4 GiB)" : this.vm.regions.describe(n);
      this.#fault(
        prog,
        pc,
        "memory",
        `invalid ${write ? "write" : "read"} of ${size} bytes at 0x${a.toString(16)}: ${region}`,
        { address: a, size, write, region },
      );
    }
    return n;
  }

  #load(addr: number, size: number): bigint {
    const dv = this.vm.mem.dv;
    switch (size) {
      case 1:
        return BigInt(dv.getUint8(addr));
      case 2:
        return BigInt(dv.getUint16(addr, true));
      case 4:
        return BigInt(dv.getUint32(addr, true));
      default:
        return dv.getBigUint64(addr, true);
    }
  }

  #store(addr: number, size: number, v: bigint): void {
    const dv = this.vm.mem.dv;
    switch (size) {
      case 1:
        dv.setUint8(addr, Number(v & 0xffn));
        return;
      case 2:
        dv.setUint16(addr, Number(v & 0xffffn), true);
        return;
      case 4:
        dv.setUint32(addr, Number(v & M32), true);
        return;
      default:
        dv.setBigUint64(addr, u64(v), true);
    }
  }

  /**
   * Runs function `fi` of `prog` with r1..r5 = args, on the frame whose pointer is `fp`, `depth`
   * frames deep (1 for a program's entry). Returns r0.
   */
  call(prog: VmProgram, fi: number, args: readonly bigint[], fp: number, depth: number): bigint {
    const regs: bigint[] = new Array<bigint>(11).fill(0n);
    for (let k = 0; k < 5; k++) regs[k + 1] = args[k] ?? 0n;
    regs[10] = BigInt(fp);
    let p: PreparedProgram = prog.prepared;
    let pc = p.functions[fi].start;
    const frames: Frame[] = [];
    let mayGoto = MAY_GOTO_LOOPS;
    const vm = this.vm;
    const mem = vm.mem;
    this.#checkBudget(prog, pc);

    for (;;) {
      if (this.tracer)
        this.tracer({ program: prog.name, pc, slot: p.slot[pc], depth, insn: p.insns[pc], regs: [...regs] });
      this.remaining--;
      const code = p.op[pc];
      const cls = code & 7;
      const dst = p.dst[pc];
      const srcReg = p.src[pc];
      const off = p.off[pc];
      const imm = p.imm[pc];
      switch (cls) {
        case Class.ALU64:
        case Class.ALU: {
          const op = code & 0xf0;
          const is64 = cls === Class.ALU64;
          if (op === 0xd0) {
            // Byte order: le truncates, be and bswap (ALU64) swap within the width.
            const v = regs[dst];
            const width = imm;
            const mask = width === 64 ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(width)) - 1n;
            regs[dst] = is64 || code & 0x08 ? bswap(v, width) : v & mask;
          } else {
            const src = code & 0x08 ? regs[srcReg] : u64(BigInt(imm));
            regs[dst] = is64 ? alu64(op, regs[dst], src, off) : alu32(op, regs[dst], src, off);
          }
          pc++;
          break;
        }
        case Class.LDX: {
          const size = sizeBytes(code & 0x18);
          const a = this.#addr(prog, pc, u64(regs[srcReg] + BigInt(off)), size, false, Number(regs[10]));
          let v = this.#load(a, size);
          if ((code & 0xe0) === Mode.MEMSX) v = u64(BigInt.asIntN(size * 8, v));
          regs[dst] = v;
          pc++;
          break;
        }
        case Class.ST:
        case Class.STX: {
          const size = sizeBytes(code & 0x18);
          const a = this.#addr(prog, pc, u64(regs[dst] + BigInt(off)), size, true, Number(regs[10]));
          if ((code & 0xe0) === Mode.ATOMIC) this.#atomic(regs, a, size, srcReg, imm);
          else this.#store(a, size, cls === Class.ST ? BigInt(imm) : regs[srcReg]);
          pc++;
          break;
        }
        case Class.LD: {
          if (code === LDDW) {
            regs[dst] = p.wide[pc];
            pc++;
            break;
          }
          // ld_abs / ld_ind: big-endian packet loads; out of bounds ends the program with 0.
          const size = sizeBytes(code & 0x18);
          const offset = (code & 0xe0) === Mode.IND ? Number(BigInt.asIntN(32, regs[srcReg])) + imm : imm;
          const v = vm.legacyLoad(offset | 0, size);
          if (v === undefined) {
            if (frames.length === 0) return 0n;
            regs[0] = 0n;
            ({ p, pc, depth, mayGoto, prog } = this.#return(frames, regs, depth));
            break;
          }
          regs[0] = v;
          pc++;
          break;
        }
        default: {
          // JMP, JMP32
          const op = code & 0xf0;
          if (code === Op.EXIT) {
            if (frames.length === 0) return regs[0];
            ({ p, pc, depth, mayGoto, prog } = this.#return(frames, regs, depth));
            break;
          }
          if (code === Op.CALL || code === Op.CALLX) {
            let target: { prog: VmProgram; fi: number } | undefined;
            let helperId = imm;
            if (code === Op.CALL && srcReg === 1) target = { prog, fi: p.funcAt[p.target[pc]] };
            else if (code === Op.CALLX) {
              // callx: a code address (a function of a program) or, as in uBPF, a helper id.
              const v = regs[dst];
              target = v >= CODE_BASE ? vm.codeAt(v) : undefined;
              if (!target) {
                if (v > 0x7fffffffn)
                  this.#fault(
                    prog,
                    pc,
                    "helper",
                    `callx to 0x${v.toString(16)}, neither a function nor a helper`,
                  );
                helperId = Number(v);
                if (!vm.helperFor(prog, helperId))
                  this.#fault(
                    prog,
                    pc,
                    "helper",
                    `callx to helper ${helperId}, which this program cannot call`,
                  );
              }
            }
            if (target) {
              if (depth >= MAX_FRAMES)
                this.#fault(prog, pc, "call-depth", `call depth exceeds ${MAX_FRAMES} frames`);
              frames.push({ prog, ret: pc + 1, saved: regs.slice(1, 10), mayGoto });
              prog = target.prog;
              p = prog.prepared;
              pc = p.functions[target.fi].start;
              depth++;
              mayGoto = MAY_GOTO_LOOPS;
              regs[0] = 0n;
              for (let k = 6; k <= 9; k++) regs[k] = 0n;
              regs[10] -= BigInt(FRAME_SIZE);
              this.#checkBudget(prog, pc);
              break;
            }
            // A helper: arguments through the shared argument area, as the JIT passes them.
            for (let k = 1; k <= 5; k++) mem.dv.setBigUint64(HELPER_ARGS + k * 8, regs[k], true);
            mem.u32[HELPER_FP >> 2] = Number(regs[10]);
            mem.u32[HELPER_PC >> 2] = pc;
            mem.u32[CALL_DEPTH >> 2] = depth;
            const r0 = vm.invokeHelper(helperId);
            // A failed bpf_tail_call leaves r0 alone, as the kernel's JITs do.
            if (helperId !== HelperId.tail_call) regs[0] = r0;
            const tail = vm.takeTailCall();
            if (tail) {
              // The target replaces the running function; the stack frame is reused.
              prog = tail;
              p = prog.prepared;
              pc = 0;
              mayGoto = MAY_GOTO_LOOPS;
              for (let k = 0; k <= 9; k++) if (k !== 1) regs[k] = 0n;
              this.#checkBudget(prog, pc);
              break;
            }
            pc++;
            break;
          }
          if (code === Op.MAY_GOTO) {
            if (mayGoto === 0) {
              const t = p.target[pc];
              if (t <= pc) this.#checkBudget(prog, pc);
              pc = t;
            } else {
              mayGoto--;
              pc++;
            }
            break;
          }
          let taken: boolean;
          if (op === JmpOp.JA) taken = true;
          else {
            const b = code & 0x08 ? regs[srcReg] : u64(BigInt(imm));
            taken = compare(op, regs[dst], b, cls === Class.JMP32);
          }
          if (taken) {
            // Backward jumps check the budget (reported at the jump), as the JIT does.
            const t = p.target[pc];
            if (t <= pc) this.#checkBudget(prog, pc);
            pc = t;
          } else pc++;
        }
      }
    }
  }

  #return(
    frames: Frame[],
    regs: bigint[],
    depth: number,
  ): { p: PreparedProgram; pc: number; depth: number; mayGoto: number; prog: VmProgram } {
    const f = frames.pop() as Frame;
    for (let k = 1; k <= 9; k++) regs[k] = f.saved[k - 1];
    regs[10] += BigInt(FRAME_SIZE);
    return { p: f.prog.prepared, pc: f.ret, depth: depth - 1, mayGoto: f.mayGoto, prog: f.prog };
  }

  #atomic(regs: bigint[], a: number, size: number, src: number, imm: number): void {
    const old = this.#load(a, size);
    const mask = size === 8 ? 0xffff_ffff_ffff_ffffn : M32;
    const v = regs[src] & mask;
    let next: bigint;
    switch (imm & ~AtomicOp.FETCH) {
      case AtomicOp.ADD:
        next = (old + v) & mask;
        break;
      case AtomicOp.OR:
        next = old | v;
        break;
      case AtomicOp.AND:
        next = old & v;
        break;
      case AtomicOp.XOR:
        next = old ^ v;
        break;
      case AtomicOp.XCHG & ~AtomicOp.FETCH:
        next = v;
        break;
      default: {
        // cmpxchg: compare with r0 (its low half for 32-bit), r0 gets the old value either way.
        const expect = regs[0] & mask;
        if (old === expect) this.#store(a, size, v);
        regs[0] = old;
        return;
      }
    }
    this.#store(a, size, next);
    if (imm & AtomicOp.FETCH) regs[src] = old;
  }
}
