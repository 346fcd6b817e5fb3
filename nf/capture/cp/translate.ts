// Classic BPF to eBPF, for running tcpdump's filters inside the capture NF. The semantics are
// libpcap's (tcpdump -r applies them in user space to the same packets): 32-bit unsigned A and X,
// big-endian loads, a load outside the packet or a division by X = 0 rejects the packet (returns
// 0), shifts by 32 or more give 0, the return value is how many bytes to keep.
//
// Registers: r6 the context, r7 A, r8 X, r9 the NF's buffer (below). Scratch words
// M[0..15] live on the stack. Loads read the packet directly after a bounds check, and fall back
// to bpf_skb_load_bytes / bpf_xdp_load_bytes (non-linear skbs, offsets past 32 KiB) in code kept
// at the end of the body, out of the common path.
//
// With the capture NF's maps (TC only) the program has a second body that reads the NF's scratch
// buffer instead of the packet: for packets whose 802.1Q tag the stack keeps beside the data
// (skb->vlan_present), the NF puts the tag back in place there first, so the filter sees the
// frame as tcpdump shows it.
//
// The classic program's jumps only go forward, so the eBPF program has no loops; instructions
// the classic program can never reach are left out (the kernel refuses unreachable code).
import { AsmError } from "../../../src/bpf/errors.js";
import {
  FP,
  R0,
  R1,
  R2,
  R3,
  R4,
  R6,
  R7,
  R8,
  R9,
  alu32,
  alu64,
  be,
  build,
  call,
  exit,
  gotol,
  ja,
  jmp,
  jmp32,
  label,
  ldMapFd,
  lddw,
  ldx,
  mov32,
  mov64,
  st,
  stx,
  type AsmInstruction,
  type AsmItem,
  type Register,
} from "../../../src/bpf/insn/builder.js";
import type { Instruction } from "../../../src/bpf/insn/instruction.js";
import { Size, type SizeCode } from "../../../src/bpf/insn/opcodes.js";
import {
  Alu,
  Cls,
  Jmp,
  Md,
  Misc,
  Rval,
  SrcX,
  checkProgram,
  cls,
  mode,
  op,
  reachable,
  sizeBytes,
  type CbpfInsn,
} from "./cbpf.js";
import { CAP_MAX, CpuField, RECORD_HEADER } from "./layout.js";

export type FilterHook = "xdp" | "tc";

export interface TranslateOptions {
  hook: FilterHook;
  /**
   * The capture NF's per-CPU state map and scratch map (fds). With them the verdict is stored in
   * the state, and (TC) packets the NF buffered are filtered from the buffer.
   */
  maps?: { cpu: number; scratch: number };
  /** After the verdict: tail call into this prog array slot (else: return the verdict). */
  tailCall?: { jumpMapFd: number; index: number };
  /** Returned when the NF's state is missing or the tail call fails. */
  failVerdict?: number;
}

/** Context offsets (struct __sk_buff, struct xdp_md). */
const CTX = {
  tc: { len: 0, vlanPresent: 20, data: 76, dataEnd: 80 },
  xdp: { data: 0, dataEnd: 4 },
} as const;

/** Stack: a zero key for map lookups, the state pointer, a load buffer, then M[0..15]. */
const KEY = -4;
const STATE = -16;
const LOADBUF = -24;
const MEM = (k: number) => -88 + 4 * k;

const A = R7;
const X = R8;
/** The NF's scratch buffer (buffered body). */
const BASE = R9;

const SIZE: Record<1 | 2 | 4, SizeCode> = { 1: Size.B, 2: Size.H, 4: Size.W };

/** The largest offset a direct packet access may use (ldx's 16-bit offset, the verifier's 64 KiB). */
const DIRECT_MAX = 0x7fff;
const VAR_OFF_MAX = 0xffff;

type Source = "packet" | "buffer";

class Emitter {
  readonly body: AsmItem[] = [];
  readonly cold: AsmItem[] = [];
  private n = 0;
  ret0Used = false;
  abortUsed = false;

  constructor(
    readonly prog: readonly CbpfInsn[],
    readonly opts: TranslateOptions,
    readonly far: boolean,
    readonly src: Source,
    readonly prefix: string,
    readonly epilogue: boolean,
  ) {}

  fresh(what: string): string {
    return `${this.prefix}${what}${this.n++}`;
  }

  at(pc: number): string {
    return `${this.prefix}i${pc}`;
  }

  /** A conditional jump, or (far) a jump over an unconditional 32-bit jump. */
  jcc(make: (target: string) => AsmInstruction, target: string, into: AsmItem[] = this.body): void {
    if (!this.far) {
      into.push(make(target));
      return;
    }
    const near = this.fresh("near");
    const skip = this.fresh("skip");
    into.push(make(near), ja(skip), label(near), gotol(target), label(skip));
  }

  goto(target: string, into: AsmItem[] = this.body): void {
    into.push(this.far ? gotol(target) : ja(target));
  }

  reject(into: AsmItem[] = this.body): void {
    this.ret0Used = true;
    this.goto("ret0", into);
  }

  rejectIf(make: (target: string) => AsmInstruction, into: AsmItem[] = this.body): void {
    this.ret0Used = true;
    this.jcc(make, "ret0", into);
  }

  /** dst = value in r0 (the verdict), then the shared epilogue (or exit). */
  ret(value: AsmInstruction): void {
    this.body.push(value);
    if (this.epilogue) this.goto("verdict");
    else this.body.push(exit());
  }

  swap(dst: Register, bytes: 1 | 2 | 4, into: AsmItem[]): void {
    if (bytes === 2) into.push(be(16, dst));
    else if (bytes === 4) into.push(be(32, dst));
  }

  /** r2 = X + k as a 64-bit sum (no wrap-around, as libpcap computes it). */
  indexSum(k: number, into: AsmItem[] = this.body): void {
    into.push(mov64(R2, X));
    if (k <= 0x7fffffff) {
      if (k) into.push(alu64.add(R2, k));
    } else into.push(lddw(R3, k), alu64.add(R2, R3));
  }

  /** The helper that copies packet bytes: bpf_skb_load_bytes / bpf_xdp_load_bytes(ctx, r2, buf, n). */
  helperLoad(dst: Register, bytes: 1 | 2 | 4, into: AsmItem[]): void {
    into.push(
      mov64(R1, R6),
      mov64(R3, FP),
      alu64.add(R3, LOADBUF),
      mov64(R4, bytes),
      call(this.opts.hook === "tc" ? "skb_load_bytes" : "xdp_load_bytes"),
    );
    this.rejectIf((t) => jmp.jne(R0, 0, t), into);
    into.push(ldx(SIZE[bytes], dst, FP, LOADBUF));
    this.swap(dst, bytes, into);
  }

  /**
   * dst = the `bytes` at packet offset k (absolute) or X + k (indirect). The data pointer is read
   * from the context for every load and never kept: a pointer whose proven range differs after
   * the direct and the helper path would keep the verifier from merging the two, and a filter
   * with n loads would cost it 2^n paths.
   */
  load(dst: Register, k: number, bytes: 1 | 2 | 4, indirect: boolean): void {
    if (this.src === "buffer") return this.loadBuffer(dst, k, bytes, indirect);
    const ctx = CTX[this.opts.hook];
    const slow = this.fresh("slow");
    const done = this.fresh("done");
    const b = this.body;
    if (!indirect) {
      if (k + bytes > DIRECT_MAX) {
        // Too far for a direct access: the helper checks the bounds.
        b.push(mov64(R2, k));
        this.helperLoad(dst, bytes, b);
        return;
      }
      b.push(ldx(Size.W, R1, R6, ctx.data), mov64(R2, R1), alu64.add(R2, k + bytes));
      b.push(ldx(Size.W, R3, R6, ctx.dataEnd));
      this.jcc((t) => jmp.jgt(R2, R3, t), slow);
      b.push(ldx(SIZE[bytes], dst, R1, k));
      this.swap(dst, bytes, b);
      b.push(label(done));
      this.cold.push(label(slow), mov64(R2, k));
      this.helperLoad(dst, bytes, this.cold);
      this.goto(done, this.cold);
      return;
    }
    this.indexSum(k);
    this.jcc((t) => jmp.jgt(R2, VAR_OFF_MAX - bytes, t), slow);
    b.push(ldx(Size.W, R1, R6, ctx.data), alu64.add(R1, R2), mov64(R3, R1), alu64.add(R3, bytes));
    b.push(ldx(Size.W, R4, R6, ctx.dataEnd));
    this.jcc((t) => jmp.jgt(R3, R4, t), slow);
    b.push(ldx(SIZE[bytes], dst, R1, 0));
    this.swap(dst, bytes, b);
    b.push(label(done));
    // r2 still holds X + k here: past 4 GiB nothing can be read.
    this.cold.push(label(slow), mov64(R3, R2), alu64.rsh(R3, 32));
    this.rejectIf((t) => jmp.jne(R3, 0, t), this.cold);
    this.helperLoad(dst, bytes, this.cold);
    this.goto(done, this.cold);
  }

  /** Loads from the NF's buffer: data at RECORD_HEADER in the scratch value, buf_len bytes of it. */
  loadBuffer(dst: Register, k: number, bytes: 1 | 2 | 4, indirect: boolean): void {
    const b = this.body;
    if (!indirect) {
      if (k + bytes > CAP_MAX) {
        // Beyond the buffer: always rejected. (A conditional jump the verifier resolves keeps the
        // code after it structurally reachable.)
        b.push(mov64(R1, 0));
        this.rejectIf((t) => jmp.jeq(R1, 0, t));
        return;
      }
      b.push(ldx(Size.DW, R2, FP, STATE), ldx(Size.W, R3, R2, CpuField.bufLen));
      this.rejectIf((t) => jmp.jlt(R3, k + bytes, t));
      b.push(ldx(SIZE[bytes], dst, BASE, RECORD_HEADER + k));
      this.swap(dst, bytes, b);
      return;
    }
    this.indexSum(k);
    this.rejectIf((t) => jmp.jgt(R2, CAP_MAX - bytes, t));
    b.push(ldx(Size.DW, R3, FP, STATE), ldx(Size.W, R3, R3, CpuField.bufLen));
    b.push(mov64(R4, R2), alu64.add(R4, bytes));
    this.rejectIf((t) => jmp.jgt(R4, R3, t));
    b.push(mov64(R1, BASE), alu64.add(R1, R2), ldx(SIZE[bytes], dst, R1, RECORD_HEADER));
    this.swap(dst, bytes, b);
  }

  /** dst = the packet's length (with a put-back VLAN tag, when buffered). */
  length(dst: Register): void {
    if (this.src === "buffer") {
      this.body.push(ldx(Size.DW, R2, FP, STATE), ldx(Size.W, dst, R2, CpuField.pktLen));
    } else if (this.opts.hook === "tc") {
      this.body.push(ldx(Size.W, dst, R6, CTX.tc.len));
    } else {
      this.body.push(mov64(R1, R6), call("xdp_get_buff_len"), mov32(dst, R0));
    }
  }

  alu(ins: CbpfInsn, pc: number): void {
    const o = op(ins.code);
    const b = this.body;
    const useX = (ins.code & SrcX) !== 0;
    const operand = useX ? X : ins.k;
    switch (o) {
      case Alu.NEG:
        b.push(alu32.neg(A));
        return;
      case Alu.DIV:
      case Alu.MOD:
        if (useX) this.rejectIf((t) => jmp.jeq(X, 0, t));
        b.push(o === Alu.DIV ? alu32.div(A, operand) : alu32.mod(A, operand));
        return;
      case Alu.LSH:
      case Alu.RSH: {
        const shift = (by: Register | number) => (o === Alu.LSH ? alu32.lsh(A, by) : alu32.rsh(A, by));
        if (!useX) {
          b.push(ins.k < 32 ? shift(ins.k) : mov32(A, 0));
          return;
        }
        const big = this.fresh(`big${pc}_`);
        const done = this.fresh(`shifted${pc}_`);
        this.jcc((t) => jmp.jge(X, 32, t), big);
        b.push(shift(X));
        this.goto(done);
        b.push(label(big), mov32(A, 0), label(done));
        return;
      }
      default: {
        const f = {
          [Alu.ADD]: alu32.add,
          [Alu.SUB]: alu32.sub,
          [Alu.MUL]: alu32.mul,
          [Alu.OR]: alu32.or,
          [Alu.AND]: alu32.and,
          [Alu.XOR]: alu32.xor,
        }[o];
        if (!f) throw new AsmError(`classic instruction ${pc}: unknown operation ${o}`);
        b.push(f(A, operand));
      }
    }
  }

  jump(ins: CbpfInsn, pc: number): void {
    const o = op(ins.code);
    if (o === Jmp.JA) {
      const t = pc + 1 + ins.k;
      if (t !== pc + 1) this.goto(this.at(t));
      return;
    }
    const operand = ins.code & SrcX ? X : ins.k;
    const t = pc + 1 + ins.jt;
    const f = pc + 1 + ins.jf;
    if (t === f) {
      if (t !== pc + 1) this.goto(this.at(t));
      return;
    }
    if (t === pc + 1) {
      // Only the false branch jumps: the inverse condition.
      if (o === Jmp.JSET) {
        this.body.push(mov32(R1, A), alu32.and(R1, operand));
        this.jcc((x) => jmp32.jeq(R1, 0, x), this.at(f));
        return;
      }
      const inv = { [Jmp.JEQ]: jmp32.jne, [Jmp.JGT]: jmp32.jle, [Jmp.JGE]: jmp32.jlt }[o];
      if (!inv) throw new AsmError(`classic instruction ${pc}: unknown jump ${o}`);
      this.jcc((x) => inv(A, operand, x), this.at(f));
      return;
    }
    const cond = { [Jmp.JEQ]: jmp32.jeq, [Jmp.JGT]: jmp32.jgt, [Jmp.JGE]: jmp32.jge, [Jmp.JSET]: jmp32.jset }[
      o
    ];
    if (!cond) throw new AsmError(`classic instruction ${pc}: unknown jump ${o}`);
    this.jcc((x) => cond(A, operand, x), this.at(t));
    if (f !== pc + 1) this.goto(this.at(f));
  }

  insn(ins: CbpfInsn, pc: number): void {
    const b = this.body;
    const c = cls(ins.code);
    switch (c) {
      case Cls.LD:
        switch (mode(ins.code)) {
          case Md.ABS:
            return this.load(A, ins.k, sizeBytes(ins.code), false);
          case Md.IND:
            return this.load(A, ins.k, sizeBytes(ins.code), true);
          case Md.LEN:
            return this.length(A);
          case Md.IMM:
            b.push(mov32(A, ins.k));
            return;
          case Md.MEM:
            b.push(ldx(Size.W, A, FP, MEM(ins.k)));
            return;
        }
        break;
      case Cls.LDX:
        switch (mode(ins.code)) {
          case Md.IMM:
            b.push(mov32(X, ins.k));
            return;
          case Md.MEM:
            b.push(ldx(Size.W, X, FP, MEM(ins.k)));
            return;
          case Md.LEN:
            return this.length(X);
          case Md.MSH:
            this.load(X, ins.k, 1, false);
            b.push(alu32.and(X, 0xf), alu32.lsh(X, 2));
            return;
        }
        break;
      case Cls.ST:
        b.push(stx(Size.W, FP, A, MEM(ins.k)));
        return;
      case Cls.STX:
        b.push(stx(Size.W, FP, X, MEM(ins.k)));
        return;
      case Cls.ALU:
        return this.alu(ins, pc);
      case Cls.JMP:
        return this.jump(ins, pc);
      case Cls.RET:
        return this.ret(ins.code === (Cls.RET | Rval.A) ? mov32(R0, A) : mov32(R0, ins.k));
      case Cls.MISC:
        b.push(ins.code === (Cls.MISC | Misc.TAX) ? mov32(X, A) : mov32(A, X));
        return;
    }
    throw new AsmError(`classic instruction ${pc}: code ${ins.code} cannot be translated`);
  }

  translate(live: readonly boolean[]): void {
    this.prog.forEach((ins, pc) => {
      if (!live[pc]) return;
      this.body.push(label(this.at(pc)));
      this.insn(ins, pc);
    });
  }
}

/** Scratch words the program reads (zeroed first, so every read is defined). */
function memRead(prog: readonly CbpfInsn[], live: readonly boolean[]): number[] {
  const out = new Set<number>();
  prog.forEach((i, pc) => {
    if (live[pc] && (i.code === (Cls.LD | Md.MEM) || i.code === (Cls.LDX | Md.MEM))) out.add(i.k);
  });
  return [...out].sort((a, b) => a - b);
}

function assemble(prog: readonly CbpfInsn[], opts: TranslateOptions, far: boolean): Instruction[] {
  const live = reachable(prog);
  const maps = opts.maps;
  const buffered = maps !== undefined && opts.hook === "tc";
  const epilogue = maps !== undefined || opts.tailCall !== undefined;
  const fail = opts.failVerdict ?? 0;
  const items: AsmItem[] = [mov64(R6, R1)];
  let n = 0;
  /** Conditional jump; far: over a 32-bit jump. */
  const jcc = (make: (t: string) => AsmInstruction, target: string): AsmItem[] => {
    if (!far) return [make(target)];
    const near = `near${n}`;
    const skip = `skip${n++}`;
    return [make(near), ja(skip), label(near), gotol(target), label(skip)];
  };
  let abortUsed = false;
  if (maps) {
    items.push(st(Size.W, FP, KEY, 0), ldMapFd(R1, maps.cpu), mov64(R2, FP), alu64.add(R2, KEY));
    items.push(call("map_lookup_elem"), ...jcc((t) => jmp.jeq(R0, 0, t), "abort"));
    items.push(stx(Size.DW, FP, R0, STATE));
    abortUsed = true;
    if (buffered) items.push(ldx(Size.W, R1, R0, CpuField.buffered));
  }
  for (const k of memRead(prog, live)) items.push(st(Size.W, FP, MEM(k), 0));
  items.push(mov64(A, 0), mov64(X, 0));
  if (buffered) items.push(...jcc((t) => jmp.jne(R1, 0, t), "buffer"));

  const emitters: Emitter[] = [];
  const packet = new Emitter(prog, opts, far, "packet", "p", epilogue);
  packet.translate(live);
  emitters.push(packet);
  items.push(...packet.body, ...packet.cold);
  if (buffered && maps) {
    const buf = new Emitter(prog, opts, far, "buffer", "b", epilogue);
    buf.translate(live);
    emitters.push(buf);
    items.push(label("buffer"), ldMapFd(R1, maps.scratch), mov64(R2, FP), alu64.add(R2, KEY));
    items.push(call("map_lookup_elem"), ...jcc((t) => jmp.jeq(R0, 0, t), "abort"));
    items.push(mov64(BASE, R0), ...buf.body, ...buf.cold);
  }
  if (emitters.some((e) => e.ret0Used)) {
    items.push(label("ret0"), mov32(R0, 0));
    if (epilogue) items.push(far ? gotol("verdict") : ja("verdict"));
    else items.push(exit());
  }
  if (epilogue) {
    items.push(label("verdict"));
    if (maps) items.push(ldx(Size.DW, R1, FP, STATE), stx(Size.W, R1, R0, CpuField.verdict));
    if (opts.tailCall) {
      items.push(mov64(R1, R6), ldMapFd(R2, opts.tailCall.jumpMapFd), mov64(R3, opts.tailCall.index));
      items.push(call("tail_call"), mov64(R0, fail), exit());
    } else items.push(exit());
  }
  if (abortUsed) items.push(label("abort"), mov64(R0, fail), exit());
  return build(items);
}

/**
 * Translates a classic program (checked first) into eBPF instructions for the hook. Programs too
 * long for 16-bit jump offsets are assembled again with 32-bit jumps.
 */
export function translate(prog: readonly CbpfInsn[], opts: TranslateOptions): Instruction[] {
  checkProgram(prog);
  if (opts.tailCall && !opts.maps) throw new AsmError("a tail-calling filter needs the capture NF's maps");
  try {
    return assemble(prog, opts, false);
  } catch (e) {
    if (!(e instanceof AsmError) || !/beyond a 16-bit offset/.test(e.message)) throw e;
    return assemble(prog, opts, true);
  }
}
