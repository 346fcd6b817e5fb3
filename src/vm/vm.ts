// The userspace runtime: one linear memory, the programs and maps loaded into it, the helpers and
// both engines. A run sets up the context (XDP, skb or raw input memory) in the linear memory,
// runs the program with the interpreter or the JIT, and reads back the verdict, packet and context.
import { Pseudo, helperName, progTypeName } from "../bpf/constants.js";
import { PlexusBpfError, VmFault, VmLoadError } from "../bpf/errors.js";
import type { Instruction } from "../bpf/insn/instruction.js";
import { lddwValue } from "../bpf/insn/codec.js";
import { LDDW } from "../bpf/insn/instruction.js";
import { checkAccess } from "./check.js";
import { HelperEnv, StopRun } from "./helpers/env.js";
import type { HelperHost } from "./helpers/env.js";
import type { HelperDef, HelperSet } from "./helpers/types.js";
import { Interpreter } from "./interp.js";
import type { Tracer } from "./interp.js";
import {
  BUDGET,
  CALL_DEPTH,
  CODE_BASE,
  CURRENT_CPU,
  CURRENT_PROG,
  FRAME_SIZE,
  HELPER_ARGS,
  PACKET,
  PACKET_CAPACITY,
  STACK_TOP,
  TAIL_COUNT,
  TAIL_TARGET,
} from "./layout.js";
import { VmMemory } from "./memory.js";
import { prepare } from "./prepare.js";
import type { ContextKind } from "./prepare.js";
import { VmProgram } from "./program.js";
import { RegionTable } from "./regions.js";
import type { Region } from "./regions.js";

export type EngineName = "interp" | "jit";

export interface VmOptions {
  /** Slots of per-CPU maps (default: 1). */
  cpus?: number;
  /** Instructions a run may execute before it is stopped (default 16M). */
  budget?: number;
  /** Engine runs use unless told otherwise (default "jit"). */
  engine?: EngineName;
  /** Where bpf_trace_printk lines go (default: dropped). */
  printk?: (line: string) => void;
  /** Clock of bpf_ktime_get_ns (default: process.hrtime). */
  now?: () => bigint;
  /** Source of bpf_get_prandom_u32 (default: Math.random). */
  random?: () => number;
}

export interface RunInput {
  /** Packet bytes (XDP, TC, socket filter programs). */
  data?: Uint8Array;
  /** Context in (struct xdp_md, struct __sk_buff) with the fields BPF_PROG_TEST_RUN accepts. */
  ctx?: Uint8Array;
  /** Raw programs: the memory r1 points to (r2 holds its length). */
  memory?: Uint8Array;
  /** CPU the run is on (per-CPU maps, bpf_get_smp_processor_id). */
  cpu?: number;
}

export interface VmRunResult {
  /** r0 as the program left it. */
  r0: bigint;
  /** The low 32 bits of r0 (the verdict, as BPF_PROG_TEST_RUN reports it). */
  retval: number;
  /** Packet after the run (XDP: from data_meta, as the kernel's test run returns it). */
  data?: Buffer;
  /** Context after the run. */
  ctx?: Buffer;
  /** Raw programs: the input memory after the run. */
  memory?: Buffer;
  /** Instructions executed (interpreter only). */
  instructions?: number;
}

export interface LoadProgramOptions {
  name: string;
  /** ProgType (default 0: a raw program whose r1 points at input memory). */
  type?: number;
  ctx?: ContextKind;
  /** Helpers the program may call (default: the Linux helpers for its context). */
  helpers?: HelperSet;
  /** Resolves lddw instructions with a pseudo source (default: constants only). */
  resolveWide?: (insn: Instruction, index: number) => bigint;
  allowUnreachable?: boolean;
}

/** The state of the run in progress. */
interface RunState {
  prog: VmProgram;
  ctxKind: ContextKind;
  input?: Region;
}

export class Vm implements HelperHost {
  readonly mem: VmMemory;
  readonly regions: RegionTable;
  readonly env: HelperEnv;
  readonly interp: Interpreter;
  readonly cpus: number;
  budget: number;
  engine: EngineName;
  readonly options: VmOptions;
  readonly programs: VmProgram[] = [];
  /** Every function of every program, by code address - CODE_BASE. */
  readonly code: { prog: VmProgram; fi: number }[] = [];
  #run: RunState | undefined;
  #tail: VmProgram | undefined;
  /** The Linux helpers (filled in by helpers/linux.ts when it is loaded). */
  static linuxHelpers: HelperSet = new Map();

  constructor(opts: VmOptions = {}) {
    this.options = opts;
    this.mem = new VmMemory();
    this.regions = new RegionTable(this.mem);
    this.env = new HelperEnv(this);
    this.interp = new Interpreter(this);
    this.cpus = opts.cpus ?? 1;
    this.budget = opts.budget ?? 16 * 1024 * 1024;
    this.engine = opts.engine ?? "jit";
  }

  // ---- HelperHost -------------------------------------------------------------------------

  currentProgramName(): string {
    return this.#run?.prog.name ?? "?";
  }

  slotOf(pc: number): number {
    return this.#run?.prog.prepared.slot[pc] ?? -1;
  }

  // ---- loading -----------------------------------------------------------------------------

  /** Validates and loads instructions as a program of this runtime. Throws VmLoadError. */
  loadProgram(insns: readonly Instruction[], opts: LoadProgramOptions): VmProgram {
    const ctx = opts.ctx ?? "raw";
    const helpers = opts.helpers ?? Vm.linuxHelpers;
    const prepared = prepare(insns, {
      name: opts.name,
      ctx,
      allowUnreachable: opts.allowUnreachable,
      resolveWide:
        opts.resolveWide ??
        ((insn, i) => {
          if (insn.src !== 0 && insn.src !== Pseudo.FUNC)
            throw new VmLoadError(
              opts.name,
              i,
              `lddw with pseudo source ${insn.src} needs maps or functions`,
            );
          return BigInt.asUintN(64, lddwValue(insn));
        }),
      helperProblem: (id) => {
        const def = helpers.get(id);
        if (!def)
          return `unknown helper ${helperName(id)} (id ${id}): not available in the userspace runtime`;
        if (def.contexts && !def.contexts.includes(ctx))
          return `helper bpf_${def.name} cannot be called from ${ctx === "raw" ? "this" : ctx === "xdp" ? "an XDP" : "an skb"} program`;
        return undefined;
      },
    });
    const prog = new VmProgram(this, this.programs.length, opts.name, opts.type ?? 0, prepared, helpers);
    this.programs.push(prog);
    prepared.functions.forEach((f) => {
      prog.codeIndex.push(this.code.length);
      this.code.push({ prog, fi: f.index });
    });
    prepared.insns.forEach((insn, i) => {
      if (insn.code === LDDW && insn.src === Pseudo.FUNC)
        prepared.wide[i] = this.codeAddress(prog, prepared.funcAt[prepared.target[i]]);
    });
    return prog;
  }

  /** The function at a code address (lddw BPF_PSEUDO_FUNC values), if it is one. */
  codeAt(v: bigint): { prog: VmProgram; fi: number } | undefined {
    const i = v - CODE_BASE;
    return i >= 0n && i < BigInt(this.code.length) ? this.code[Number(i)] : undefined;
  }

  /** Code address of function `fi` of `prog`. */
  codeAddress(prog: VmProgram, fi: number): bigint {
    return CODE_BASE + BigInt(prog.codeIndex[fi]);
  }

  // ---- helpers -------------------------------------------------------------------------------

  helperFor(prog: VmProgram, id: number): HelperDef | undefined {
    const def = prog.helpers.get(id);
    if (!def || (def.contexts && !def.contexts.includes(prog.prepared.ctx))) return undefined;
    return def;
  }

  /** Calls a helper whose arguments are in the argument area; returns r0 as an unsigned 64-bit value. */
  invokeHelper(id: number): bigint {
    const run = this.#run as RunState;
    const def = this.helperFor(run.prog, id) as HelperDef;
    this.env.helperId = id;
    const r = def.fn(this.env);
    return typeof r === "bigint" ? BigInt.asUintN(64, r) : BigInt.asUintN(64, BigInt(r));
  }

  /** Asks for a tail call to `target` once the current helper returns. */
  requestTailCall(target: VmProgram): void {
    this.#tail = target;
    this.mem.u32[TAIL_TARGET >> 2] = target.codeIndex[0] + 1;
    this.#run = { ...(this.#run as RunState), prog: target };
    this.mem.u32[CURRENT_PROG >> 2] = target.id;
  }

  takeTailCall(): VmProgram | undefined {
    const t = this.#tail;
    if (t) {
      this.#tail = undefined;
      this.mem.u32[TAIL_TARGET >> 2] = 0;
    }
    return t;
  }

  /** Calls a function by code address from a helper (bpf_loop's callback...), one frame deeper. */
  callCode(code: bigint, args: readonly bigint[]): bigint {
    const target = this.codeAt(code);
    if (!target) this.env.fault(`0x${code.toString(16)} is not the address of a function`);
    const depth = this.mem.u32[CALL_DEPTH >> 2];
    if (depth >= 8) this.env.fault("call depth exceeds 8 frames");
    return this.interp.call(target.prog, target.fi, args, this.env.fp - FRAME_SIZE, depth + 1);
  }

  /** ld_abs / ld_ind: a big-endian load at `offset` of the packet, undefined when out of bounds. */
  legacyLoad(_offset: number, _size: number): bigint | undefined {
    return undefined;
  }

  /** Whether the program may access `size` bytes at `addr` right now (helpers' checks). */
  canAccess(addr: number, size: number, write: boolean): boolean {
    return checkAccess(this.regions, this.mem.u8, addr, size, write, this.env.fp);
  }

  // ---- running -------------------------------------------------------------------------------

  run(prog: VmProgram, input: RunInput, opts: { engine?: EngineName; tracer?: Tracer } = {}): VmRunResult {
    if (this.#run) throw new PlexusBpfError("vm: a program is already running (runs do not nest)");
    if (prog.vm !== this) throw new PlexusBpfError(`vm: program ${prog.name} belongs to another runtime`);
    const engine = opts.engine ?? this.engine;
    const kind = prog.prepared.ctx;
    if (kind !== "raw")
      throw new PlexusBpfError(
        `vm: ${kind} contexts are not available yet (program type ${progTypeName(prog.type)})`,
      );
    const run: RunState = { prog, ctxKind: kind };
    this.#run = run;
    this.#tail = undefined;
    const mem = this.mem;
    mem.u32[TAIL_COUNT >> 2] = 0;
    mem.u32[TAIL_TARGET >> 2] = 0;
    mem.u32[CALL_DEPTH >> 2] = 1;
    mem.u32[CURRENT_PROG >> 2] = prog.id;
    mem.u32[CURRENT_CPU >> 2] = input.cpu ?? 0;
    mem.dv.setBigInt64(BUDGET, BigInt(this.budget), true);
    try {
      const memory = input.memory ?? new Uint8Array(0);
      if (memory.length > PACKET_CAPACITY)
        throw new PlexusBpfError(`vm: input memory of ${memory.length} bytes (at most ${PACKET_CAPACITY})`);
      mem.write(PACKET, memory);
      if (memory.length)
        run.input = this.regions.add({
          kind: "input",
          name: "input memory",
          lo: PACKET,
          hi: PACKET + memory.length,
          writable: true,
        });
      const r1 = memory.length ? BigInt(PACKET) : 0n;
      const r2 = BigInt(memory.length);
      let r0: bigint;
      let instructions: number | undefined;
      if (engine === "interp") {
        const prevTracer = this.interp.tracer;
        this.interp.tracer = opts.tracer ?? prevTracer;
        this.interp.remaining = this.budget;
        try {
          r0 = this.#catchStop(() => this.interp.call(prog, 0, [r1, r2], STACK_TOP, 1));
        } finally {
          this.interp.tracer = prevTracer;
        }
        instructions = this.budget - this.interp.remaining;
      } else {
        throw new PlexusBpfError("vm: the JIT is not available yet");
      }
      return {
        r0,
        retval: Number(r0 & 0xffff_ffffn),
        memory: mem.read(PACKET, memory.length),
        ...(instructions !== undefined ? { instructions } : {}),
      };
    } finally {
      if (run.input) this.regions.remove(run.input);
      this.#run = undefined;
      this.#tail = undefined;
    }
  }

  #catchStop(fn: () => bigint): bigint {
    try {
      return fn();
    } catch (e) {
      if (e instanceof StopRun) return e.r0;
      if (e instanceof VmFault || e instanceof PlexusBpfError) throw e;
      if (e instanceof RangeError)
        throw new VmFault(
          "internal",
          this.currentProgramName(),
          -1,
          `the host ran out of stack: ${e.message}`,
        );
      throw e;
    }
  }

  /** Address of the helper argument area (for engines). */
  static readonly HELPER_ARGS = HELPER_ARGS;
}
