// The userspace runtime: one linear memory, the programs and maps loaded into it, the helpers and
// both engines. A run sets up the context (XDP, skb or raw input memory) in the linear memory as
// BPF_PROG_TEST_RUN would, runs the program with the interpreter or the JIT, and reads back the
// verdict, the packet, the context and where the program redirected the packet.
import { AttachType, HelperId, Pseudo, helperName } from "../bpf/constants.js";
import { BpfError, PlexusBpfError, VmFault, VmLoadError } from "../bpf/errors.js";
import { lddwValue } from "../bpf/insn/codec.js";
import { EINVAL } from "../bpf/sys/errno.js";
import type { Instruction } from "../bpf/insn/instruction.js";
import { LDDW } from "../bpf/insn/instruction.js";
import { checkAccess } from "./check.js";
import { setupContext, finishContext } from "./context/setup.js";
import type { ContextInput, ContextOutput } from "./context/setup.js";
import { SkBuff } from "./context/skb.js";
import { XdpMd } from "./context/xdp.js";
import { HelperEnv, StopRun } from "./helpers/env.js";
import type { FibTable } from "./helpers/fib.js";
import { linuxHelpers } from "./helpers/linux.js";
import type { HelperDef, HelperSet } from "./helpers/types.js";
import { Interpreter } from "./interp.js";
import type { Tracer } from "./interp.js";
import {
  BUDGET,
  CALL_DEPTH,
  CODE_BASE,
  CTX,
  CURRENT_CPU,
  CURRENT_PROG,
  FRAME_SIZE,
  MAP_COUNT,
  MAP_TABLE,
  MAX_FRAMES,
  MAX_MAPS,
  PKT_DATA,
  PKT_END,
  PKT_HARD_END,
  PKT_HARD_START,
  PKT_META,
  STACK_TOP,
  TAIL_COUNT,
  TAIL_TARGET,
} from "./layout.js";
import type { MapHost, VmMap, VmMapOptions } from "./maps/base.js";
import { createVmMap } from "./maps/create.js";
import { VmMemory } from "./memory.js";
import { prepare } from "./prepare.js";
import type { ContextKind } from "./prepare.js";
import { VmProgram } from "./program.js";
import { RegionTable } from "./regions.js";
import type { Region } from "./regions.js";
import type { Clone, Redirect } from "./run-state.js";
import { RunState } from "./run-state.js";
import type { RingBufMap } from "./maps/ringbuf.js";
import { loadVmObject } from "./object.js";
import type { VmLoadOptions, VmObject } from "./object.js";
import type { ObjectSpec } from "../bpf/object/spec.js";

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
  /** Routing state of bpf_fib_lookup (default: none, every lookup is NOT_FWDED). */
  fib?: FibTable;
  /**
   * Interfaces bpf_clone_redirect may send to (default: ifindex 1 only, the loopback device of a
   * fresh network namespace, where the kernel's test runs happen).
   */
  hasInterface?: (ifindex: number) => boolean;
}

export type RunInput = ContextInput & {
  /** CPU the run is on (per-CPU maps, bpf_get_smp_processor_id). */
  cpu?: number;
  /**
   * Runs the program this many times on the same context (as BPF_PROG_TEST_RUN's repeat: the
   * packet is not reset between runs) and reports the mean duration.
   */
  repeat?: number;
};

export interface VmRunResult extends ContextOutput {
  /** r0 as the program left it. */
  r0: bigint;
  /** The low 32 bits of r0 (the verdict, as BPF_PROG_TEST_RUN reports it). */
  retval: number;
  /** Where the program sent the packet (bpf_redirect, bpf_redirect_map), if it did. */
  redirect?: Redirect;
  /** Copies sent by bpf_clone_redirect, in call order. */
  clones?: Clone[];
  /** Instructions executed (interpreter only; the last run's when repeating). */
  instructions?: number;
  /** Mean duration of one run in nanoseconds (including the engine's call overhead). */
  durationNs: number;
}

export interface LoadProgramOptions {
  name: string;
  /** ProgType (0: a raw program whose r1 points at input memory). */
  type?: number;
  /** The kernel's expected_attach_type: XDP programs for devmap / cpumap entries cannot be test-run. */
  expectedAttachType?: number;
  ctx?: ContextKind;
  /** Helpers the program may call (default: the Linux helpers). */
  helpers?: HelperSet;
  /** Resolves lddw instructions with a pseudo source (default: maps by fd / index from `maps`). */
  resolveWide?: (insn: Instruction, index: number) => bigint;
  /** Maps that lddw with BPF_PSEUDO_MAP_FD / MAP_IDX name by position (fd = index here). */
  maps?: readonly VmMap[];
  /**
   * Platform variables for lddw with BPF_PSEUDO_BTF_ID (RFC 9669's var_addr(imm)): variable i is
   * given these bytes, in memory the program may read and write.
   */
  variables?: readonly Uint8Array[];
  allowUnreachable?: boolean;
}

export class Vm implements MapHost {
  readonly mem: VmMemory;
  readonly regions: RegionTable;
  readonly env: HelperEnv;
  readonly interp: Interpreter;
  readonly cpus: number;
  budget: number;
  engine: EngineName;
  fib: FibTable | undefined;
  /** Interfaces bpf_clone_redirect may send to (see VmOptions.hasInterface). */
  hasInterface: (ifindex: number) => boolean;
  readonly options: VmOptions;
  readonly programs: VmProgram[] = [];
  readonly maps: VmMap[] = [];
  /** Every function of every program, by code address - CODE_BASE. */
  readonly code: { prog: VmProgram; fi: number }[] = [];
  readonly #mapsByHeader = new Map<number, VmMap>();
  #run: RunState | undefined;
  #tail: VmProgram | undefined;
  #callbackKey = 0;
  #callbackKeyRegion: Region | undefined;
  /** The JIT engine (jit/engine.ts registers itself here when created). */
  jit:
    | {
        run(prog: VmProgram, r1: bigint, r2: bigint, repeat?: number): bigint;
        runVerdict(prog: VmProgram, r1: number, r2: number): number;
        ensureCompiled(): void;
      }
    | undefined;

  constructor(opts: VmOptions = {}) {
    this.options = opts;
    this.mem = new VmMemory();
    this.regions = new RegionTable(this.mem);
    this.env = new HelperEnv(this);
    this.interp = new Interpreter(this);
    this.cpus = Math.max(1, opts.cpus ?? 1);
    this.budget = opts.budget ?? 16 * 1024 * 1024;
    this.engine = opts.engine ?? "jit";
    this.fib = opts.fib;
    this.hasInterface = opts.hasInterface ?? ((ifindex) => ifindex === 1);
  }

  // ---- state the helpers read ----------------------------------------------------------------

  get runState(): RunState {
    if (!this.#run) throw new PlexusBpfError("vm: no program is running");
    return this.#run;
  }

  get currentCpu(): number {
    return this.mem.u32[CURRENT_CPU >> 2];
  }

  currentProgramName(): string {
    return this.#run?.prog.name ?? "?";
  }

  slotOf(pc: number): number {
    return this.#run?.prog.prepared.slot[pc] ?? -1;
  }

  // ---- maps ------------------------------------------------------------------------------------

  /** Creates a map in this runtime (BPF_MAP_CREATE's checks and errors). */
  createMap(opts: VmMapOptions): VmMap {
    if (this.maps.length >= MAX_MAPS) throw new PlexusBpfError(`vm: more than ${MAX_MAPS} maps`);
    const m = createVmMap(this, opts);
    m.id = this.maps.length;
    this.mem.u32[(MAP_TABLE >> 2) + m.id] = m.header;
    this.mem.u32[MAP_COUNT >> 2] = m.id + 1;
    this.maps.push(m);
    this.#mapsByHeader.set(m.header, m);
    this.mem.u32[(m.header + 16) >> 2] = m.id;
    return m;
  }

  /** The map whose header is at `addr` (a map pointer from a program), if any. */
  mapAt(addr: number): VmMap | undefined {
    return this.#mapsByHeader.get(addr);
  }

  /** A read-only scratch key programs may read (keys handed to bpf_for_each_map_elem callbacks). */
  callbackKey(size: number): number {
    if (
      !this.#callbackKey ||
      (this.#callbackKeyRegion && this.#callbackKeyRegion.hi - this.#callbackKey < size)
    ) {
      const n = Math.max(512, size);
      this.#callbackKey = this.mem.alloc(n, 8);
      if (this.#callbackKeyRegion) this.regions.remove(this.#callbackKeyRegion);
      this.#callbackKeyRegion = this.regions.add({
        kind: "map-value",
        name: "map key passed to a callback",
        lo: this.#callbackKey,
        hi: this.#callbackKey + n,
        writable: false,
      });
    }
    return this.#callbackKey;
  }

  // ---- loading -----------------------------------------------------------------------------

  /** Validates and loads instructions as a program of this runtime. Throws VmLoadError. */
  loadProgram(insns: readonly Instruction[], opts: LoadProgramOptions): VmProgram {
    const ctx = opts.ctx ?? "raw";
    const helpers = opts.helpers ?? linuxHelpers;
    let vars: number[] | undefined;
    const prepared = prepare(insns, {
      name: opts.name,
      ctx,
      allowUnreachable: opts.allowUnreachable,
      resolveWide:
        opts.resolveWide ??
        ((insn, i) =>
          this.#resolveByIndex(
            opts.name,
            opts.maps ?? [],
            (vars ??= this.#variables(opts.variables)),
            insn,
            i,
          )),
      helperProblem: (id) => {
        const def = helpers.get(id);
        if (!def)
          return `unknown helper ${helperName(id)} (id ${id}): not available in the userspace runtime`;
        if (def.contexts && !def.contexts.includes(ctx))
          return `helper bpf_${def.name} cannot be called from ${ctx === "raw" ? "a raw" : ctx === "xdp" ? "an XDP" : ctx === "tc" ? "a TC" : "a socket filter"} program`;
        return undefined;
      },
    });
    const prog = new VmProgram(
      this,
      this.programs.length,
      opts.name,
      opts.type ?? 0,
      prepared,
      helpers,
      opts.expectedAttachType ?? 0,
    );
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

  /** Loads an object's maps and programs (see object.ts). */
  loadObject(spec: ObjectSpec, opts?: VmLoadOptions): VmObject {
    return loadVmObject(this, spec, opts);
  }

  /** lddw of raw programs: constants, and maps by fd or index into `maps`. */
  /** Places platform variables in the linear memory (once per program load). */
  #variables(vars: readonly Uint8Array[] | undefined): number[] {
    return (vars ?? []).map((v, k) => {
      const at = this.mem.alloc(Math.max(8, v.length), 8);
      this.mem.write(at, v);
      this.regions.add({ kind: "global", name: `variable ${k}`, lo: at, hi: at + v.length, writable: true });
      return at;
    });
  }

  #resolveByIndex(
    name: string,
    maps: readonly VmMap[],
    vars: number[],
    insn: Instruction,
    i: number,
  ): bigint {
    if (insn.src === 0) return BigInt.asUintN(64, lddwValue(insn));
    if (insn.src === Pseudo.BTF_ID) {
      const at = vars[insn.imm];
      if (at === undefined)
        throw new VmLoadError(name, i, `lddw names variable ${insn.imm}, which does not exist`);
      return BigInt(at);
    }
    const m = maps[insn.imm];
    switch (insn.src) {
      case Pseudo.MAP_FD:
      case Pseudo.MAP_IDX:
        if (!m) throw new VmLoadError(name, i, `lddw names map ${insn.imm}, which does not exist`);
        return BigInt(m.header);
      case Pseudo.MAP_VALUE:
      case Pseudo.MAP_IDX_VALUE: {
        if (!m) throw new VmLoadError(name, i, `lddw names map ${insn.imm}, which does not exist`);
        const off = insn.imm2 ?? 0;
        const addr = m.directValueAddress();
        if (addr === undefined || off < 0 || off >= m.valueSize)
          throw new VmLoadError(name, i, `map ${insn.imm}: no direct value address at offset ${off}`);
        return BigInt(addr + off);
      }
      default:
        throw new VmLoadError(
          name,
          i,
          `lddw with pseudo source ${insn.src} is not supported by the userspace runtime`,
        );
    }
  }

  /**
   * The function at a code address (lddw BPF_PSEUDO_FUNC values), if it is one that may be called
   * indirectly. A program's entry function may not (it expects the context in r1) unless the
   * program itself takes its address.
   */
  codeAt(v: bigint): { prog: VmProgram; fi: number } | undefined {
    const i = v - CODE_BASE;
    const fn = i >= 0n && i < BigInt(this.code.length) ? this.code[Number(i)] : undefined;
    if (fn && fn.fi === 0 && fn.prog.prepared.ctx !== "raw" && !Vm.#entryAddressTaken(fn.prog))
      return undefined;
    return fn;
  }

  static #entryAddressTaken(prog: VmProgram): boolean {
    const p = prog.prepared;
    for (let i = 0; i < p.n; i++)
      if ((p.op[i] === 0x85 && p.src[i] === Pseudo.CALL) || (p.op[i] === LDDW && p.src[i] === Pseudo.FUNC))
        if (p.target[i] === 0) return true;
    return false;
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
    const r = this.invokeHelperRaw(id);
    return typeof r === "bigint" ? BigInt.asUintN(64, r) : BigInt.asUintN(64, BigInt(r));
  }

  /** As invokeHelper, returning what the helper returned (a number for most). */
  invokeHelperRaw(id: number): number | bigint {
    const run = this.runState;
    const def = this.helperFor(run.prog, id);
    if (!def) throw new VmFault("helper", run.prog.name, -1, `helper ${id} is not available to this program`);
    this.env.helperId = id;
    return def.fn(this.env);
  }

  /** Set by jit/engine.ts: creates the JIT engine of a runtime (kept out of vm.ts's imports). */
  static createJit: ((vm: Vm) => NonNullable<Vm["jit"]>) | undefined;

  /** Whether the helper is bpf_tail_call (engines keep r0 when it fails). */
  static isTailCall(id: number): boolean {
    return id === HelperId.tail_call;
  }

  /** Asks for a tail call to `target` once the current helper returns. */
  requestTailCall(target: VmProgram): void {
    this.#tail = target;
    const run = this.runState;
    run.prog = target;
    this.mem.u32[TAIL_TARGET >> 2] = target.codeIndex[0] + 1;
    this.mem.u32[TAIL_COUNT >> 2] = run.tailCalls;
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
    if (depth >= MAX_FRAMES) this.env.fault(`call depth exceeds ${MAX_FRAMES} frames`);
    const fp = this.env.fp - FRAME_SIZE;
    if (this.#engineOfRun === "jit" && this.jitCall)
      return this.jitCall(target.prog, target.fi, args, fp, depth + 1);
    return this.interp.call(target.prog, target.fi, args, fp, depth + 1);
  }

  /** Set by the JIT: calls a compiled function. */
  jitCall:
    ((prog: VmProgram, fi: number, args: readonly bigint[], fp: number, depth: number) => bigint) | undefined;
  #engineOfRun: EngineName = "interp";

  /** ld_abs / ld_ind: a big-endian load at `offset` of the skb, undefined when out of bounds. */
  legacyLoad(offset: number, size: number): bigint | undefined {
    const r = this.runState;
    let at: number;
    if (offset >= 0) {
      if (offset + size > r.end - r.data) return undefined;
      at = r.data + offset;
    } else if (offset >= -0x200000) {
      // SKF_NET_OFF (-0x100000) and SKF_LL_OFF (-0x200000): relative to the network or MAC header.
      const base = offset >= -0x100000 ? r.mac + 14 + offset + 0x100000 : r.mac + offset + 0x200000;
      if (base < r.mac || base + size > r.end) return undefined;
      at = base;
    } else return undefined;
    const dv = this.mem.dv;
    return BigInt(size === 1 ? dv.getUint8(at) : size === 2 ? dv.getUint16(at) : dv.getUint32(at));
  }

  /** Whether the program may access `size` bytes at `addr` right now (helpers' checks). */
  canAccess(addr: number, size: number, write: boolean): boolean {
    return checkAccess(this.regions, this.mem.u8, addr, size, write, this.env.fp || STACK_TOP);
  }

  /** Moves the packet's bounds: scratch state for the JIT, the packet region, the context fields. */
  setPacket(meta: number, data: number, end: number): void {
    const r = this.runState;
    r.meta = meta;
    r.data = data;
    r.end = end;
    const u32 = this.mem.u32;
    // The JIT's inline check allows [PKT_META, PKT_END): socket filters get no direct access.
    const direct = r.kind !== "socket";
    u32[PKT_META >> 2] = direct ? meta : 0;
    u32[PKT_DATA >> 2] = data;
    u32[PKT_END >> 2] = direct ? end : 0;
    u32[PKT_HARD_START >> 2] = r.hardStart;
    u32[PKT_HARD_END >> 2] = r.hardEnd;
    if (r.packetRegion) this.regions.move(r.packetRegion, meta, end);
    const ctx = CTX >> 2;
    if (r.kind === "xdp") {
      u32[ctx + (XdpMd.DATA >> 2)] = data;
      u32[ctx + (XdpMd.DATA_END >> 2)] = end;
      u32[ctx + (XdpMd.DATA_META >> 2)] = meta;
    } else if (r.kind === "tc" || r.kind === "socket") {
      u32[ctx + (SkBuff.DATA >> 2)] = data;
      u32[ctx + (SkBuff.DATA_END >> 2)] = end;
      u32[ctx + (SkBuff.DATA_META >> 2)] = meta;
      u32[ctx + (SkBuff.LEN >> 2)] = end - data;
      if (r.kind === "tc") r.mac = data;
    }
  }

  skbSetProtocol(proto: number): void {
    this.runState.protocol = proto;
    this.mem.u32[(CTX + SkBuff.PROTOCOL) >> 2] = proto;
  }

  skbClearHash(): void {
    this.mem.u32[(CTX + SkBuff.HASH) >> 2] = 0;
  }

  // ---- running -------------------------------------------------------------------------------

  /**
   * Starts a session of runs of `prog` that share one set-up (the data plane's per-packet path,
   * see dataplane.ts): the run state stays current until closeSession().
   */
  openSession(prog: VmProgram): RunState {
    if (this.#run) throw new PlexusBpfError("vm: a program is already running (runs do not nest)");
    const run = new RunState(prog);
    this.#run = run;
    this.#tail = undefined;
    return run;
  }

  closeSession(run: RunState): void {
    if (this.#run !== run) return;
    for (const rb of run.ringbufs) for (const a of rb.reservedRecords()) rb.commit(a, true);
    for (const r of [run.packetRegion, run.inputRegion, run.ctxRegion]) if (r) this.regions.remove(r);
    this.#run = undefined;
  }

  /** One run inside a session: the context is set up by the caller; returns r0's low half. */
  runInSession(run: RunState, engine: EngineName): number {
    const mem = this.mem;
    const prog = run.entry;
    run.prog = prog;
    run.redirect = undefined;
    run.clones.length = 0;
    run.tailCalls = 0;
    this.#tail = undefined;
    mem.u32[TAIL_COUNT >> 2] = 0;
    mem.u32[TAIL_TARGET >> 2] = 0;
    mem.u32[CALL_DEPTH >> 2] = 1;
    mem.u32[CURRENT_PROG >> 2] = prog.id;
    // The budget as two halves: no BigInt on the per-packet path.
    mem.u32[BUDGET >> 2] = this.budget >>> 0;
    mem.u32[(BUDGET + 4) >> 2] = Math.floor(this.budget / 0x1_0000_0000);
    this.#engineOfRun = engine;
    let verdict: number;
    if (engine === "jit") {
      const jit = (this.jit ?? Vm.createJit?.(this)) as NonNullable<Vm["jit"]>;
      try {
        verdict = jit.runVerdict(prog, CTX, 0);
      } catch (e) {
        verdict = Number(this.#stopped(e) & 0xffff_ffffn);
      }
    } else {
      this.interp.remaining = this.budget;
      verdict = Number(
        this.#catchStop(() => this.interp.call(prog, 0, [BigInt(CTX), 0n], STACK_TOP, 1)) & 0xffff_ffffn,
      );
    }
    for (const rb of run.ringbufs) this.#releaseCheck(run, rb);
    return verdict;
  }

  run(prog: VmProgram, input: RunInput, opts: { engine?: EngineName; tracer?: Tracer } = {}): VmRunResult {
    if (this.#run) throw new PlexusBpfError("vm: a program is already running (runs do not nest)");
    if (prog.vm !== this) throw new PlexusBpfError(`vm: program ${prog.name} belongs to another runtime`);
    // As BPF_PROG_TEST_RUN: a devmap or cpumap program only runs on a redirected frame.
    if (
      prog.expectedAttachType === AttachType.XDP_DEVMAP ||
      prog.expectedAttachType === AttachType.XDP_CPUMAP
    )
      throw new BpfError("BPF_PROG_TEST_RUN", EINVAL, `${prog.name} is a program for devmap/cpumap entries`);
    const engine = opts.engine ?? this.engine;
    const run = new RunState(prog);
    const cpu = input.cpu ?? 0;
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus)
      throw new PlexusBpfError(`vm: CPU ${cpu} is outside 0..${this.cpus - 1}`);
    const mem = this.mem;
    mem.u32[TAIL_COUNT >> 2] = 0;
    mem.u32[TAIL_TARGET >> 2] = 0;
    mem.u32[CALL_DEPTH >> 2] = 1;
    mem.u32[CURRENT_PROG >> 2] = prog.id;
    mem.u32[CURRENT_CPU >> 2] = cpu;
    mem.dv.setBigInt64(BUDGET, BigInt(this.budget), true);
    this.#run = run;
    this.#tail = undefined;
    this.#engineOfRun = engine;
    try {
      const { r1, r2 } = setupContext(this, run, input);
      const repeat = Math.max(1, input.repeat ?? 1);
      let r0 = 0n;
      let instructions: number | undefined;
      const jit = engine === "jit" ? (this.jit ?? Vm.createJit?.(this)) : undefined;
      jit?.ensureCompiled();
      const t0 = process.hrtime.bigint();
      if (engine === "interp") {
        const prevTracer = this.interp.tracer;
        this.interp.tracer = opts.tracer ?? prevTracer;
        try {
          for (let k = 0; k < repeat; k++) {
            this.interp.remaining = this.budget;
            run.prog = prog;
            r0 = this.#catchStop(() => this.interp.call(prog, 0, [r1, r2], STACK_TOP, 1));
            for (const rb of run.ringbufs) this.#releaseCheck(run, rb);
          }
        } finally {
          this.interp.tracer = prevTracer;
        }
        instructions = this.budget - this.interp.remaining;
      } else {
        if (!jit) throw new PlexusBpfError("vm: the JIT is not loaded (import plexus/vm's jit module)");
        // Repeated runs stay inside WebAssembly; ring buffer records are checked at the end.
        r0 = this.#catchStop(() => jit.run(prog, r1, r2, repeat));
        for (const rb of run.ringbufs) this.#releaseCheck(run, rb);
      }
      const durationNs = Number(process.hrtime.bigint() - t0) / repeat;
      const out = finishContext(this, run, input);
      return {
        r0,
        retval: Number(r0 & 0xffff_ffffn),
        durationNs,
        ...out,
        ...(run.redirect ? { redirect: run.redirect } : {}),
        ...(run.clones.length ? { clones: [...run.clones] } : {}),
        ...(instructions !== undefined ? { instructions } : {}),
      };
    } finally {
      for (const rb of run.ringbufs) for (const a of rb.reservedRecords()) rb.commit(a, true);
      for (const r of [run.packetRegion, run.inputRegion, run.ctxRegion]) if (r) this.regions.remove(r);
      this.#run = undefined;
      this.#tail = undefined;
    }
  }

  /** Ring buffer records must be submitted or discarded by the end of the run. */
  #releaseCheck(run: RunState, rb: RingBufMap): void {
    const held = rb.reservedRecords();
    if (held.length)
      throw new VmFault(
        "unreleased-reference",
        run.prog.name,
        -1,
        `the program ended holding ${held.length} ring buffer record(s) of map '${rb.name}' (submit or discard them)`,
      );
  }

  #catchStop(fn: () => bigint): bigint {
    try {
      return fn();
    } catch (e) {
      return this.#stopped(e);
    }
  }

  /** r0 of a run a helper ended early (uBPF's unwind); anything else is rethrown as a fault. */
  #stopped(e: unknown): bigint {
    if (e instanceof StopRun) return e.r0;
    if (e instanceof PlexusBpfError) throw e;
    if (e instanceof RangeError)
      throw new VmFault("internal", this.currentProgramName(), -1, `the host ran out of stack: ${e.message}`);
    throw e;
  }
}
