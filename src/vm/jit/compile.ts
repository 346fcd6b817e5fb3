// eBPF to WebAssembly: one module per program, one WebAssembly function per eBPF function.
// Registers are i64 locals (r10 is the frame pointer parameter), control flow is rebuilt as
// nested blocks and loops (Ramsey's "Beyond Relooper" on the dominator tree) or, for irreducible
// functions, a dispatch loop. Every memory access is checked: inline against the packet (or input
// memory) bounds, else by the runtime's check(); r10-relative accesses were checked at load.
// Helpers go through JavaScript (arguments in the linear memory), except map lookups of arrays
// and hash maps, done by the runtime module. The instruction budget is counted per straight-line
// segment and checked where the interpreter checks it: function entries and backward jumps.
import { HelperId } from "../../bpf/constants.js";
import { LDDW } from "../../bpf/insn/instruction.js";
import { AluOp, AtomicOp, Class, JmpOp, Mode, Op as BpfOp, Size, sizeBytes } from "../../bpf/insn/opcodes.js";
import {
  BUDGET,
  CALL_DEPTH,
  CURRENT_CPU,
  FaultCode,
  FRAME_SIZE,
  HELPER_ARGS,
  HELPER_FP,
  HELPER_PC,
  MAX_FRAMES,
  PKT_END,
  PKT_META,
  R0_OUT,
  STACK_TOP,
  TAIL_TARGET,
} from "../layout.js";
import { MAY_GOTO_LOOPS } from "../interp.js";
import type { PreparedFunction, PreparedProgram } from "../prepare.js";
import type { VmProgram } from "../program.js";
import { CHECK_TYPE, FAULT_TYPE, HASH_FIND_TYPE, HELPER_TYPE, LOOKUP_TYPE } from "./runtime.js";
import { buildCfg, isConditional } from "./cfg.js";
import type { Cfg } from "./cfg.js";
import { Analysis } from "./analysis.js";
import type { RegState } from "./analysis.js";
import { ArrayMap } from "../maps/array.js";
import { HashMap } from "../maps/hash.js";
import { LpmTrieMap } from "../maps/lpm.js";
import type { Vm } from "../vm.js";
import { Code, I32, I64, Mem, ModuleBuilder, Op } from "./wasm.js";
import type { FuncType, ValType } from "./wasm.js";

/** Every eBPF function: (r1..r5, frame pointer, call depth) -> r0. */
export const FN_TYPE: FuncType = { params: [I64, I64, I64, I64, I64, I32, I32], results: [I64] };
const LDABS_TYPE: FuncType = { params: [I32, I32], results: [I64] };
const CALLX_TYPE: FuncType = { params: [I64, I32, I32, I32], results: [I64] };
const ENTRY_TYPE: FuncType = { params: [I32, I32], results: [I32] };
const REPEAT_TYPE: FuncType = { params: [I32, I32, I32], results: [I32] };

// Function indices of the imports.
const F_CHECK = 0;
const F_FAULT = 1;
const F_LOOKUP = 2;
const F_HELPER = 3;
const F_LDABS = 4;
const F_CALLX = 5;
const F_HASH_FIND = 6;
const F_LPM_FIND = 7;
const IMPORTED = 8;

// Locals.
const FP = 5;
const DEPTH = 6;
const R0 = 7;
const A = 12;
const T = 13;
const BUD = 15;
const PLO = 16;
const LIM: Record<number, number> = { 1: 17, 2: 18, 4: 19, 8: 20 };
const SB = 21;
const AI = 22;
const MG = 23;
const NEXT = 24;
const T32 = 25;
const LOCALS: ValType[] = [
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I64,
  I32,
  I32,
  I32,
  I32,
  I32,
];

const reg = (n: number): number => (n === 0 ? R0 : n <= 5 ? n - 1 : n + 2);

const LOADS: Record<number, number> = {
  1: Mem.i64_load8_u,
  2: Mem.i64_load16_u,
  4: Mem.i64_load32_u,
  8: Mem.i64_load,
};
const SLOADS: Record<number, number> = { 1: Mem.i64_load8_s, 2: Mem.i64_load16_s, 4: Mem.i64_load32_s };
const STORES: Record<number, number> = {
  1: Mem.i64_store8,
  2: Mem.i64_store16,
  4: Mem.i64_store32,
  8: Mem.i64_store,
};

const ALU64: Record<number, number> = {
  [AluOp.ADD]: Op.i64_add,
  [AluOp.SUB]: Op.i64_sub,
  [AluOp.MUL]: Op.i64_mul,
  [AluOp.OR]: Op.i64_or,
  [AluOp.AND]: Op.i64_and,
  [AluOp.XOR]: Op.i64_xor,
  [AluOp.LSH]: Op.i64_shl,
  [AluOp.RSH]: Op.i64_shr_u,
  [AluOp.ARSH]: Op.i64_shr_s,
};
const ALU32: Record<number, number> = {
  [AluOp.ADD]: Op.i32_add,
  [AluOp.SUB]: Op.i32_sub,
  [AluOp.MUL]: Op.i32_mul,
  [AluOp.OR]: Op.i32_or,
  [AluOp.AND]: Op.i32_and,
  [AluOp.XOR]: Op.i32_xor,
  [AluOp.LSH]: Op.i32_shl,
  [AluOp.RSH]: Op.i32_shr_u,
  [AluOp.ARSH]: Op.i32_shr_s,
};
const CMP64: Record<number, number> = {
  [JmpOp.JEQ]: Op.i64_eq,
  [JmpOp.JNE]: Op.i64_ne,
  [JmpOp.JGT]: Op.i64_gt_u,
  [JmpOp.JGE]: Op.i64_ge_u,
  [JmpOp.JLT]: Op.i64_lt_u,
  [JmpOp.JLE]: Op.i64_le_u,
  [JmpOp.JSGT]: Op.i64_gt_s,
  [JmpOp.JSGE]: Op.i64_ge_s,
  [JmpOp.JSLT]: Op.i64_lt_s,
  [JmpOp.JSLE]: Op.i64_le_s,
};
const CMP32: Record<number, number> = {
  [JmpOp.JEQ]: Op.i32_eq,
  [JmpOp.JNE]: Op.i32_ne,
  [JmpOp.JGT]: Op.i32_gt_u,
  [JmpOp.JGE]: Op.i32_ge_u,
  [JmpOp.JLT]: Op.i32_lt_u,
  [JmpOp.JLE]: Op.i32_le_u,
  [JmpOp.JSGT]: Op.i32_gt_s,
  [JmpOp.JSGE]: Op.i32_ge_s,
  [JmpOp.JSLT]: Op.i32_lt_s,
  [JmpOp.JSLE]: Op.i32_le_s,
};

interface Frame {
  kind: "loop" | "block" | "if";
  node: number;
}

/** Blocks beyond which the structured emitter's recursion is not risked: dispatch loop instead. */
const MAX_STRUCTURED_BLOCKS = 4000;

class FunctionCompiler {
  readonly c = new Code();
  readonly #frames: Frame[] = [];
  readonly #cfg: Cfg;
  readonly #structured: boolean;
  readonly #an: Analysis;
  /** Whether some access needs the packet bounds (an access not proved safe at compile time). */
  readonly #dynamic: boolean;

  constructor(
    readonly vm: Vm,
    readonly p: PreparedProgram,
    readonly f: PreparedFunction,
    /** Encodes an instruction index for faults: program id in the high bits. */
    readonly pcOf: (i: number) => number,
  ) {
    this.#cfg = buildCfg(p, f);
    this.#structured = this.#cfg.reducible && this.#cfg.blocks.length <= MAX_STRUCTURED_BLOCKS;
    this.#an = new Analysis(vm, p, f, this.#cfg);
    this.#dynamic = this.#hasDynamicAccess();
  }

  /** Whether any memory access of the function keeps its run-time check. */
  #hasDynamicAccess(): boolean {
    const p = this.p;
    for (const b of this.#cfg.rpo) {
      const st = this.#an.entry(b);
      const blk = this.#cfg.blocks[b];
      for (let i = blk.start; i < blk.end; i++) {
        const code = p.op[i];
        const cls = code & 7;
        const size = sizeBytes(code & 0x18);
        let access: [number, boolean] | undefined;
        if (cls === Class.LDX) access = [p.src[i], false];
        else if (
          cls === Class.ST ||
          (cls === Class.STX && ((code & 0xe0) === Mode.MEM || (code & 0xe0) === Mode.ATOMIC))
        )
          access = [p.dst[i], true];
        if (access && !this.#an.staticAccess(st, access[0], p.off[i], size, access[1])) return true;
        this.#an.step(i, st);
      }
    }
    return false;
  }

  get structured(): boolean {
    return this.#structured;
  }

  compile(): Code {
    const c = this.c;
    c.get(FP).i32(FRAME_SIZE).op(Op.i32_sub).set(SB);
    c.i32(0).mem(Mem.i64_load, BUDGET).set(BUD);
    this.#checkBudget(this.f.start);
    c.i32(MAY_GOTO_LOOPS).set(MG);
    this.#reloadPacket();
    if (this.#structured) this.#doTree(0);
    else this.#dispatch();
    c.unreachable();
    return c;
  }

  // ---- pieces -------------------------------------------------------------------------------

  #fault(kind: number, i: number): void {
    this.c.i32(kind).i32(this.pcOf(i)).call(F_FAULT);
  }

  #checkBudget(i: number): void {
    const c = this.c;
    c.get(BUD).i64(0).op(Op.i64_lt_s).if();
    c.i32(0).get(BUD).mem(Mem.i64_store, BUDGET);
    this.#fault(FaultCode.BUDGET, i);
    c.end();
  }

  #storeBudget(): void {
    this.c.i32(0).get(BUD).mem(Mem.i64_store, BUDGET);
  }

  #loadBudget(): void {
    this.c.i32(0).mem(Mem.i64_load, BUDGET).set(BUD);
  }

  #spend(n: number): void {
    if (n > 0) this.c.get(BUD).i64(n).op(Op.i64_sub).set(BUD);
  }

  /** Packet bounds into locals: PLO = start, LIM[s] = bytes an access of s bytes may start at. */
  #reloadPacket(): void {
    if (!this.#dynamic) return;
    const c = this.c;
    c.i32(0).mem(Mem.i32_load, PKT_END).op(Op.i64_extend_i32_u);
    c.i32(0).mem(Mem.i32_load, PKT_META).op(Op.i64_extend_i32_u).tee(PLO).op(Op.i64_sub).set(T);
    for (const s of [1, 2, 4, 8]) {
      c.get(T)
        .i64(s - 1)
        .op(Op.i64_sub)
        .tee(LIM[s])
        .i64(0)
        .op(Op.i64_lt_s);
      c.if().i64(0).set(LIM[s]).end();
    }
  }

  #pushReg(n: number): void {
    if (n === 10) this.c.get(FP).op(Op.i64_extend_i32_u);
    else this.c.get(reg(n));
  }

  /** Pushes the checked i32 address of `size` bytes at reg + off; returns the static offset to use. */
  #address(base: number, off: number, size: number, write: boolean, i: number, st: RegState): number {
    const c = this.c;
    const s = this.#an.staticAccess(st, base, off, size, write);
    if (s?.kind === "frame") {
      c.get(SB);
      return s.offset;
    }
    if (s?.kind === "const") {
      c.i32(s.addr);
      return 0;
    }
    if (s?.kind === "reg") {
      c.get(reg(base)).op(Op.i32_wrap_i64);
      if (s.offset >= 0) return s.offset;
      c.i32(s.offset).op(Op.i32_add);
      return 0;
    }
    c.get(reg(base));
    if (off) c.i64(off).op(Op.i64_add);
    c.tee(A).get(PLO).op(Op.i64_sub).get(LIM[size]).op(Op.i64_lt_u);
    c.if(I32).get(A).op(Op.i32_wrap_i64);
    c.else()
      .get(A)
      .i32(size)
      .i32(write ? 1 : 0)
      .get(FP)
      .i32(this.pcOf(i))
      .call(F_CHECK);
    c.end();
    return 0;
  }

  // ---- instructions -------------------------------------------------------------------------

  #emit(i: number, st: RegState): void {
    const p = this.p;
    const code = p.op[i];
    const cls = code & 7;
    switch (cls) {
      case Class.ALU:
      case Class.ALU64:
        return this.#alu(i);
      case Class.LDX: {
        const size = sizeBytes(code & 0x18);
        const off = this.#address(p.src[i], p.off[i], size, false, i, st);
        this.c.mem((code & 0xe0) === Mode.MEMSX ? SLOADS[size] : LOADS[size], off).set(reg(p.dst[i]));
        return;
      }
      case Class.ST:
      case Class.STX: {
        const size = sizeBytes(code & 0x18);
        if ((code & 0xe0) === Mode.ATOMIC) return this.#atomic(i, size, st);
        const off = this.#address(p.dst[i], p.off[i], size, true, i, st);
        if (cls === Class.ST) this.c.i64(BigInt(p.imm[i]));
        else this.#pushReg(p.src[i]);
        this.c.mem(STORES[size], off);
        return;
      }
      case Class.LD:
        if (code === LDDW) {
          this.c.i64(BigInt.asIntN(64, p.wide[i])).set(reg(p.dst[i]));
          return;
        }
        return this.#ldAbs(i);
      default:
        if (code === BpfOp.CALL) return this.#call(i, st);
        if (code === BpfOp.CALLX) return this.#callx(i);
        throw new Error(`jit: instruction ${i} (0x${code.toString(16)}) is not a straight-line instruction`);
    }
  }

  #alu(i: number): void {
    const p = this.p;
    const c = this.c;
    const code = p.op[i];
    const is64 = (code & 7) === Class.ALU64;
    const op = code & 0xf0;
    const x = (code & 0x08) !== 0;
    const d = reg(p.dst[i]);
    const imm = p.imm[i];
    const off = p.off[i];
    const pushSrc64 = (): void => (x ? this.#pushReg(p.src[i]) : void c.i64(BigInt(imm)));
    const pushSrc32 = (): void => {
      if (x) {
        this.#pushReg(p.src[i]);
        c.op(Op.i32_wrap_i64);
      } else c.i32(imm);
    };
    if (op === AluOp.END) {
      if (!is64 && !(code & 0x08)) {
        // le: truncation on a little-endian machine.
        if (imm < 64)
          c.get(d)
            .i64(imm === 16 ? 0xffffn : 0xffff_ffffn)
            .op(Op.i64_and)
            .set(d);
        return;
      }
      this.#bswap(d, imm);
      return;
    }
    if (op === AluOp.NEG) {
      if (is64) c.i64(0).get(d).op(Op.i64_sub).set(d);
      else c.i32(0).get(d).op(Op.i32_wrap_i64).op(Op.i32_sub).op(Op.i64_extend_i32_u).set(d);
      return;
    }
    if (op === AluOp.MOV) {
      if (is64) {
        pushSrc64();
        if (off === 8) c.op(Op.i64_extend8_s);
        else if (off === 16) c.op(Op.i64_extend16_s);
        else if (off === 32) c.op(Op.i64_extend32_s);
      } else {
        pushSrc32();
        if (off === 8) c.op(Op.i32_extend8_s);
        else if (off === 16) c.op(Op.i32_extend16_s);
        c.op(Op.i64_extend_i32_u);
      }
      c.set(d);
      return;
    }
    if (op === AluOp.DIV || op === AluOp.MOD) return this.#divmod(i, is64, op === AluOp.DIV, off === 1);
    if (is64) {
      c.get(d);
      pushSrc64();
      c.op(ALU64[op]).set(d);
    } else {
      c.get(d).op(Op.i32_wrap_i64);
      pushSrc32();
      c.op(ALU32[op]).op(Op.i64_extend_i32_u).set(d);
    }
  }

  /** Division and modulo with RFC 9669's rules: /0 gives 0, %0 keeps the dividend, INT_MIN/-1 wraps. */
  #divmod(i: number, is64: boolean, div: boolean, signed: boolean): void {
    const p = this.p;
    const c = this.c;
    const d = reg(p.dst[i]);
    const x = (p.op[i] & 0x08) !== 0;
    const imm = p.imm[i];
    const [eqz, sub, divU, divS, remU, remS, wrapIn, extOut, zero, minus1] = is64
      ? [
          Op.i64_eqz,
          Op.i64_sub,
          Op.i64_div_u,
          Op.i64_div_s,
          Op.i64_rem_u,
          Op.i64_rem_s,
          false,
          false,
          0n,
          -1n,
        ]
      : [Op.i32_eqz, Op.i32_sub, Op.i32_div_u, Op.i32_div_s, Op.i32_rem_u, Op.i32_rem_s, true, true, 0n, -1n];
    const konst = (v: bigint): void => void (is64 ? c.i64(v) : c.i32(Number(v)));
    const dst = (): void => {
      c.get(d);
      if (wrapIn) c.op(Op.i32_wrap_i64);
    };
    const src = (): void => {
      if (x) {
        this.#pushReg(p.src[i]);
        if (wrapIn) c.op(Op.i32_wrap_i64);
      } else konst(BigInt(imm));
    };
    const type = is64 ? I64 : I32;
    if (!x && imm === 0) {
      if (div) konst(zero);
      else dst();
    } else if (!x && signed && imm === -1) {
      if (div) {
        konst(zero);
        dst();
        c.op(sub);
      } else konst(zero);
    } else if (!x) {
      dst();
      src();
      c.op(div ? (signed ? divS : divU) : signed ? remS : remU);
    } else {
      src();
      c.op(eqz).if(type);
      if (div) konst(zero);
      else dst();
      c.else();
      if (div && signed) {
        src();
        konst(minus1);
        c.op(is64 ? Op.i64_eq : Op.i32_eq).if(type);
        konst(zero);
        dst();
        c.op(sub);
        c.else();
        dst();
        src();
        c.op(divS);
        c.end();
      } else {
        dst();
        src();
        c.op(div ? divU : signed ? remS : remU);
      }
      c.end();
    }
    if (extOut) c.op(Op.i64_extend_i32_u);
    c.set(d);
  }

  #bswap(d: number, width: number): void {
    const c = this.c;
    if (width === 16) {
      c.get(d).i64(0xff).op(Op.i64_and).i64(8).op(Op.i64_shl);
      c.get(d).i64(8).op(Op.i64_shr_u).i64(0xff).op(Op.i64_and).op(Op.i64_or).set(d);
    } else if (width === 32) {
      c.get(d).op(Op.i32_wrap_i64).tee(T32).i32(8).op(Op.i32_rotl).i32(0x00ff00ff).op(Op.i32_and);
      c.get(T32)
        .i32(8)
        .op(Op.i32_rotr)
        .i32(0xff00ff00 | 0)
        .op(Op.i32_and)
        .op(Op.i32_or);
      c.op(Op.i64_extend_i32_u).set(d);
    } else {
      const m8 = 0x00ff00ff00ff00ffn;
      const m16 = 0x0000ffff0000ffffn;
      c.get(d).i64(8).op(Op.i64_shr_u).i64(m8).op(Op.i64_and);
      c.get(d).i64(m8).op(Op.i64_and).i64(8).op(Op.i64_shl).op(Op.i64_or).tee(d);
      c.i64(16).op(Op.i64_shr_u).i64(m16).op(Op.i64_and);
      c.get(d).i64(m16).op(Op.i64_and).i64(16).op(Op.i64_shl).op(Op.i64_or);
      c.i64(32).op(Op.i64_rotl).set(d);
    }
  }

  #atomic(i: number, size: number, st: RegState): void {
    const p = this.p;
    const c = this.c;
    const imm = p.imm[i];
    const src = p.src[i];
    const off = this.#address(p.dst[i], p.off[i], size, true, i, st);
    c.set(AI);
    const load = size === 8 ? Mem.i64_load : Mem.i64_load32_u;
    const store = size === 8 ? Mem.i64_store : Mem.i64_store32;
    c.get(AI).mem(load, off).set(T);
    const base = imm & ~AtomicOp.FETCH;
    if (imm === AtomicOp.CMPXCHG) {
      c.get(T).get(R0);
      if (size === 4) c.i64(0xffff_ffffn).op(Op.i64_and);
      c.op(Op.i64_eq).if();
      c.get(AI);
      this.#pushReg(src);
      c.mem(store, off).end();
      c.get(T).set(R0);
      return;
    }
    c.get(AI);
    if (imm === AtomicOp.XCHG) this.#pushReg(src);
    else {
      c.get(T);
      this.#pushReg(src);
      c.op(
        {
          [AtomicOp.ADD]: Op.i64_add,
          [AtomicOp.OR]: Op.i64_or,
          [AtomicOp.AND]: Op.i64_and,
          [AtomicOp.XOR]: Op.i64_xor,
        }[base] as number,
      );
    }
    c.mem(store, off);
    if (imm & AtomicOp.FETCH) c.get(T).set(reg(src));
  }

  #ldAbs(i: number): void {
    const p = this.p;
    const c = this.c;
    const code = p.op[i];
    if ((code & 0xe0) === Mode.IND) {
      this.#pushReg(p.src[i]);
      c.op(Op.i32_wrap_i64).i32(p.imm[i]).op(Op.i32_add);
    } else c.i32(p.imm[i]);
    c.i32(sizeBytes(code & 0x18))
      .call(F_LDABS)
      .tee(T)
      .i64(0)
      .op(Op.i64_lt_s);
    c.if();
    this.#storeBudget();
    c.i64(0).return().end();
    c.get(T).set(R0);
  }

  /** Arguments, frame pointer, instruction and depth into the shared area for a JavaScript call. */
  #callSetup(i: number): void {
    const c = this.c;
    for (let k = 1; k <= 5; k++)
      c.i32(0)
        .get(reg(k))
        .mem(Mem.i64_store, HELPER_ARGS + k * 8);
    c.i32(0).get(FP).mem(Mem.i32_store, HELPER_FP);
    c.i32(0).i32(i).mem(Mem.i32_store, HELPER_PC);
    c.i32(0).get(DEPTH).mem(Mem.i32_store, CALL_DEPTH);
  }

  #call(i: number, st: RegState): void {
    const p = this.p;
    const c = this.c;
    if (p.src[i] === 1) {
      // bpf-to-bpf call: a WebAssembly call, one frame (512 bytes) deeper.
      c.get(DEPTH).i32(MAX_FRAMES).op(Op.i32_ge_u).if();
      this.#fault(FaultCode.CALL_DEPTH, i);
      c.end();
      this.#storeBudget();
      for (let k = 1; k <= 5; k++) c.get(reg(k));
      c.get(FP).i32(FRAME_SIZE).op(Op.i32_sub).get(DEPTH).i32(1).op(Op.i32_add);
      c.call(IMPORTED + p.funcAt[p.target[i]]).set(R0);
      this.#loadBudget();
      this.#reloadPacket();
      return;
    }
    const id = p.imm[i];
    if (id === HelperId.map_lookup_elem) {
      if (!this.#knownLookup(st)) c.get(reg(1)).get(reg(2)).get(FP).i32(this.pcOf(i)).call(F_LOOKUP).set(R0);
      return;
    }
    this.#callSetup(i);
    this.#storeBudget();
    c.i32(id).call(F_HELPER);
    this.#loadBudget();
    if (id === HelperId.tail_call) {
      // On success the target replaces this function (r1 = ctx, same frame); on failure r0 stays.
      c.i32(0).mem(Mem.i32_load, TAIL_TARGET).tee(T32).if();
      c.i32(0).i32(0).mem(Mem.i32_store, TAIL_TARGET);
      this.#storeBudget();
      c.get(reg(1)).i64(0).i64(0).i64(0).i64(0).get(FP).get(DEPTH);
      c.get(T32).i32(1).op(Op.i32_sub).returnCallIndirect(FN_TYPE_INDEX);
      c.end();
    } else {
      c.i32(0).mem(Mem.i64_load, HELPER_ARGS).set(R0);
    }
    this.#reloadPacket();
  }

  /**
   * bpf_map_lookup_elem on a map known at compile time with a key on the stack: arrays inline,
   * hash maps straight to the runtime's hash walk. Returns false when neither is known.
   */
  #knownLookup(st: RegState): boolean {
    const m = st.r[1];
    if (m.t !== "map") return false;
    const key = this.#an.staticAccess(st, 2, 0, m.m.keySize, false);
    if (key?.kind !== "frame") return false;
    const c = this.c;
    const map = m.m;
    if (map instanceof ArrayMap) {
      c.get(SB).mem(Mem.i32_load, key.offset).tee(T32).i32(map.maxEntries).op(Op.i32_lt_u);
      c.if(I64);
      c.get(T32).i32(map.elemBytes).op(Op.i32_mul).i32(map.data).op(Op.i32_add);
      if (map.perCpu) c.i32(0).mem(Mem.i32_load, CURRENT_CPU).i32(map.stride).op(Op.i32_mul).op(Op.i32_add);
      c.op(Op.i64_extend_i32_u).else().i64(0).end().set(R0);
      return true;
    }
    if (map instanceof LpmTrieMap && map.wasmLookup) {
      c.i32(map.header).get(SB).i32(key.offset).op(Op.i32_add).call(F_LPM_FIND).set(R0);
      return true;
    }
    if (map instanceof HashMap && map.type !== 13 /* HASH_OF_MAPS */ && map.type !== 25 /* DEVMAP_HASH */) {
      c.i32(map.header).get(SB).i32(key.offset).op(Op.i32_add).call(F_HASH_FIND).set(R0);
      return true;
    }
    return false;
  }

  #callx(i: number): void {
    const c = this.c;
    this.#callSetup(i);
    this.#storeBudget();
    this.#pushReg(this.p.dst[i]);
    c.get(FP).get(DEPTH).i32(i).call(F_CALLX).set(R0);
    this.#loadBudget();
    this.#reloadPacket();
  }

  /** Pushes a conditional jump's condition (i32): whether it is taken. */
  #condition(i: number): void {
    const p = this.p;
    const c = this.c;
    const code = p.op[i];
    if (code === BpfOp.MAY_GOTO) {
      c.get(MG).op(Op.i32_eqz).if(I32).i32(1);
      c.else().get(MG).i32(1).op(Op.i32_sub).set(MG).i32(0).end();
      return;
    }
    const op = code & 0xf0;
    const x = (code & 0x08) !== 0;
    if ((code & 7) === Class.JMP32) {
      this.#pushReg(p.dst[i]);
      c.op(Op.i32_wrap_i64);
      if (x) {
        this.#pushReg(p.src[i]);
        c.op(Op.i32_wrap_i64);
      } else c.i32(p.imm[i]);
      if (op === JmpOp.JSET) c.op(Op.i32_and).i32(0).op(Op.i32_ne);
      else c.op(CMP32[op]);
      return;
    }
    this.#pushReg(p.dst[i]);
    if (x) this.#pushReg(p.src[i]);
    else c.i64(BigInt(p.imm[i]));
    if (op === JmpOp.JSET) c.op(Op.i64_and).i64(0).op(Op.i64_ne);
    else c.op(CMP64[op]);
  }

  /** The straight-line part of block b, with its budget segments. */
  #blockBody(b: number): void {
    const blk = this.#cfg.blocks[b];
    const last = blk.kind === "fall" ? blk.end : blk.end - 1;
    let segStart = blk.start;
    const segment = (from: number): void => {
      let to = from;
      while (to < blk.end && !this.#isCall(to)) to++;
      this.#spend(Math.min(to + 1, blk.end) - from);
    };
    segment(segStart);
    const st = this.#an.entry(b);
    for (let i = blk.start; i < last; i++) {
      this.#emit(i, st);
      this.#an.step(i, st);
      if (this.#isCall(i) && i + 1 < blk.end) {
        segStart = i + 1;
        segment(segStart);
      }
    }
  }

  #isCall(i: number): boolean {
    const code = this.p.op[i];
    return code === BpfOp.CALL || code === BpfOp.CALLX;
  }

  #exit(): void {
    this.#storeBudget();
    this.c.get(R0).return();
  }

  #depth(kind: Frame["kind"], node: number): number {
    for (let k = this.#frames.length - 1; k >= 0; k--) {
      const f = this.#frames[k];
      if (f.kind === kind && f.node === node) return this.#frames.length - 1 - k;
    }
    throw new Error(`jit: no enclosing ${kind} for block ${node}`);
  }

  // ---- structured control flow ----------------------------------------------------------------

  #doTree(x: number): void {
    const cfg = this.#cfg;
    const ys = cfg.children[x].filter((y) => cfg.merges.has(y)).sort((a, b) => cfg.order[b] - cfg.order[a]);
    if (cfg.loopHeaders.has(x)) {
      this.c.loop();
      this.#frames.push({ kind: "loop", node: x });
      this.#nodeWithin(x, ys);
      this.#frames.pop();
      this.c.end();
    } else this.#nodeWithin(x, ys);
  }

  #nodeWithin(x: number, ys: number[]): void {
    if (ys.length) {
      const [y0, ...rest] = ys;
      this.c.block();
      this.#frames.push({ kind: "block", node: y0 });
      this.#nodeWithin(x, rest);
      this.#frames.pop();
      this.c.end();
      this.#doTree(y0);
      return;
    }
    this.#blockBody(x);
    const blk = this.#cfg.blocks[x];
    const last = blk.end - 1;
    switch (blk.kind) {
      case "exit":
        this.#exit();
        return;
      case "fall":
        this.#branch(x, blk.succ[0], undefined);
        return;
      case "jump":
        this.#branch(x, blk.succ[0], last);
        return;
      case "cond":
        this.#condition(last);
        this.c.if();
        this.#frames.push({ kind: "if", node: x });
        this.#branch(x, blk.succ[1], last);
        this.c.else();
        this.#branch(x, blk.succ[0], undefined);
        this.#frames.pop();
        this.c.end();
    }
  }

  /** Control moves from block src to block tgt; `jump` is the jump instruction taken, if any. */
  #branch(src: number, tgt: number, jump: number | undefined): void {
    const cfg = this.#cfg;
    if (jump !== undefined && this.p.target[jump] <= jump) this.#checkBudget(jump);
    if (cfg.order[tgt] <= cfg.order[src]) this.c.br(this.#depth("loop", tgt));
    else if (cfg.merges.has(tgt)) this.c.br(this.#depth("block", tgt));
    else this.#doTree(tgt);
  }

  // ---- dispatch loop (irreducible control flow) ----------------------------------------------

  #dispatch(): void {
    const cfg = this.#cfg;
    const c = this.c;
    const blocks = cfg.rpo;
    const k = blocks.length;
    const slot = new Map<number, number>(blocks.map((b, s) => [b, s]));
    c.i32(0).set(NEXT);
    c.loop();
    this.#frames.push({ kind: "loop", node: -1 });
    for (let s = k - 1; s >= 0; s--) {
      c.block();
      this.#frames.push({ kind: "block", node: blocks[s] });
    }
    c.get(NEXT).brTable(
      blocks.map((_, s) => s),
      k - 1,
    );
    for (let s = 0; s < k; s++) {
      c.end();
      this.#frames.pop();
      const b = blocks[s];
      const blk = cfg.blocks[b];
      const goTo = (tgt: number, jump: number | undefined): void => {
        if (jump !== undefined && this.p.target[jump] <= jump) this.#checkBudget(jump);
        c.i32(slot.get(tgt) as number)
          .set(NEXT)
          .br(this.#depth("loop", -1));
      };
      this.#blockBody(b);
      const last = blk.end - 1;
      if (blk.kind === "exit") this.#exit();
      else if (blk.kind === "fall") goTo(blk.succ[0], undefined);
      else if (blk.kind === "jump") goTo(blk.succ[0], last);
      else {
        this.#condition(last);
        c.if();
        this.#frames.push({ kind: "if", node: b });
        goTo(blk.succ[1], last);
        c.else();
        goTo(blk.succ[0], undefined);
        this.#frames.pop();
        c.end();
      }
    }
    this.#frames.pop();
    c.end();
  }
}

/** Index of FN_TYPE in every program module (the first type the builder registers). */
const FN_TYPE_INDEX = 0;

export interface CompiledModule {
  bytes: Uint8Array;
  /** Functions compiled as structured control flow (the rest use a dispatch loop). */
  structured: boolean[];
}

/** Compiles a program to a module importing env.memory, env.table, rt.* and js.*. */
export function compileProgram(prog: VmProgram): CompiledModule {
  const p = prog.prepared;
  const mb = new ModuleBuilder();
  if (mb.type(FN_TYPE) !== FN_TYPE_INDEX) throw new Error("jit: type order");
  mb.importMemory("env", "memory");
  mb.importTable("env", "table");
  mb.importFunc("rt", "check", CHECK_TYPE);
  mb.importFunc("rt", "fault", FAULT_TYPE);
  mb.importFunc("rt", "lookup", LOOKUP_TYPE);
  mb.importFunc("js", "helper", HELPER_TYPE);
  mb.importFunc("js", "ldabs", LDABS_TYPE);
  mb.importFunc("js", "callx", CALLX_TYPE);
  mb.importFunc("rt", "hashFind", HASH_FIND_TYPE);
  mb.importFunc("rt", "lpmFind", HASH_FIND_TYPE);
  const pcOf = (i: number): number => (prog.id << 20) | i;
  const structured: boolean[] = [];
  const indices = p.functions.map(() => mb.declare(FN_TYPE));
  p.functions.forEach((f, k) => {
    const fc = new FunctionCompiler(prog.vm, p, f, pcOf);
    mb.setBody(indices[k], LOCALS, fc.compile());
    structured.push(fc.structured);
    mb.export(`f${k}`, indices[k]);
  });
  // entry(r1, r2): runs function 0 on the first frame; r0 goes to R0_OUT, its low half is returned.
  const e = new Code();
  e.get(0).op(Op.i64_extend_i32_u).get(1).op(Op.i64_extend_i32_u).i64(0).i64(0).i64(0);
  e.i32(STACK_TOP).i32(1).call(indices[0]).set(2);
  e.i32(0).get(2).mem(Mem.i64_store, R0_OUT).get(2).op(Op.i32_wrap_i64);
  mb.export("entry", mb.func(ENTRY_TYPE, [I64], e));
  // repeat(r1, r2, n): n runs back to back (BPF_PROG_TEST_RUN's repeat), the budget reset for
  // each; returns the low half of the last r0.
  const r = new Code();
  const [R1, R2, N, K, BUDGET0, LAST] = [0, 1, 2, 3, 4, 5];
  r.i32(0).mem(Mem.i64_load, BUDGET).set(BUDGET0);
  r.block().loop();
  r.get(K).get(N).op(Op.i32_ge_u).brIf(1);
  r.i32(0).get(BUDGET0).mem(Mem.i64_store, BUDGET);
  r.get(R1).op(Op.i64_extend_i32_u).get(R2).op(Op.i64_extend_i32_u).i64(0).i64(0).i64(0);
  r.i32(STACK_TOP).i32(1).call(indices[0]).set(LAST);
  r.get(K).i32(1).op(Op.i32_add).set(K).br(0);
  r.end().end();
  r.i32(0).get(LAST).mem(Mem.i64_store, R0_OUT).get(LAST).op(Op.i32_wrap_i64);
  mb.export("repeat", mb.func(REPEAT_TYPE, [I32, I64, I64], r));
  return { bytes: mb.bytes(), structured };
}

export { Size, isConditional };
