// The JIT engine: compiles programs to WebAssembly on first use, places their functions in the
// shared function table (so tail calls, callbacks and callx reach any program of the runtime),
// runs them, and turns WebAssembly traps into the same VmFaults the interpreter raises.
import { HelperId } from "../../bpf/constants.js";
import { PlexusBpfError, VmFault } from "../../bpf/errors.js";
import {
  CODE_BASE,
  FAULT_ADDR,
  FAULT_KIND,
  FAULT_PC,
  FAULT_SIZE,
  FAULT_WRITE,
  FaultCode,
  HELPER_ARGS,
  MAX_FRAMES,
  R0_OUT,
  TAIL_TARGET,
} from "../layout.js";
import type { VmProgram } from "../program.js";
import { Vm } from "../vm.js";
import { compileProgram } from "./compile.js";
import { runtimeModule } from "./runtime.js";
import type { RuntimeExports } from "./runtime.js";

type WasmFn = (
  r1: bigint,
  r2: bigint,
  r3: bigint,
  r4: bigint,
  r5: bigint,
  fp: number,
  depth: number,
) => bigint;

interface Compiled {
  entry: (r1: number, r2: number) => number;
  repeat: (r1: number, r2: number, n: number) => number;
  funcs: WasmFn[];
  structured: boolean[];
}

export class JitEngine {
  readonly table: WebAssembly.Table;
  readonly rt: RuntimeExports;
  readonly #compiled = new Map<VmProgram, Compiled>();
  readonly #imports: WebAssembly.Imports;

  constructor(readonly vm: Vm) {
    this.table = new WebAssembly.Table({ element: "anyfunc", initial: 16 });
    const helper = (id: number): void => this.#helper(id);
    const rt = new WebAssembly.Instance(new WebAssembly.Module(runtimeModule()), {
      env: { memory: vm.mem.memory },
      js: { helper },
    });
    this.rt = rt.exports as unknown as RuntimeExports;
    this.#imports = {
      env: { memory: vm.mem.memory, table: this.table },
      rt: {
        check: this.rt.check,
        fault: this.rt.fault,
        lookup: this.rt.lookup,
        hashFind: this.rt.hashFind,
        lpmFind: this.rt.lpmFind,
      },
      js: {
        helper,
        ldabs: (offset: number, size: number): bigint => vm.legacyLoad(offset, size) ?? -1n,
        callx: (target: bigint, fp: number, depth: number, pc: number): bigint =>
          this.#callx(target, fp, depth, pc),
      },
    };
    vm.jit = this;
    vm.jitCall = (prog, fi, args, fp, depth) => this.call(prog, fi, args, fp, depth);
  }

  /** A helper called from compiled code: arguments are in the shared area, r0 goes back there. */
  #helper(id: number): void {
    const vm = this.vm;
    const r = vm.invokeHelperRaw(id);
    if (id === HelperId.tail_call) {
      const t = vm.takeTailCall();
      if (t) vm.mem.u32[TAIL_TARGET >> 2] = t.codeIndex[0] + 1;
      return;
    }
    const u32 = vm.mem.u32;
    if (typeof r === "number" && Number.isSafeInteger(r)) {
      // Two halves, without BigInt: the common case of small results and negative errnos.
      u32[HELPER_ARGS >> 2] = r >>> 0;
      u32[(HELPER_ARGS + 4) >> 2] =
        r < 0 ? Math.floor(r / 0x1_0000_0000) >>> 0 : Math.floor(r / 0x1_0000_0000);
    } else vm.mem.dv.setBigUint64(HELPER_ARGS, BigInt.asUintN(64, BigInt(r)), true);
  }

  #callx(target: bigint, fp: number, depth: number, pc: number): bigint {
    const vm = this.vm;
    const run = vm.runState;
    const fn = vm.codeAt(target);
    if (fn) {
      if (depth >= MAX_FRAMES)
        throw new VmFault(
          "call-depth",
          run.prog.name,
          run.prog.prepared.slot[pc],
          `call depth exceeds ${MAX_FRAMES} frames`,
        );
      const a = (k: number): bigint => vm.mem.dv.getBigUint64(HELPER_ARGS + k * 8, true);
      return this.call(fn.prog, fn.fi, [a(1), a(2), a(3), a(4), a(5)], fp - 512, depth + 1);
    }
    if (target >= CODE_BASE || target > 0x7fffffffn || !vm.helperFor(run.prog, Number(target)))
      throw new VmFault(
        "helper",
        run.prog.name,
        run.prog.prepared.slot[pc],
        target >= CODE_BASE || target > 0x7fffffffn
          ? `callx to 0x${target.toString(16)}, neither a function nor a helper`
          : `callx to helper ${target}, which this program cannot call`,
      );
    const r = vm.invokeHelper(Number(target));
    return r;
  }

  /** Compiles every program of the runtime that is not compiled yet (tail calls may reach them). */
  ensureCompiled(): void {
    const vm = this.vm;
    if (this.table.length < vm.code.length) this.table.grow(vm.code.length - this.table.length);
    for (const prog of vm.programs) {
      if (this.#compiled.has(prog)) continue;
      const mod = compileProgram(prog);
      let inst: WebAssembly.Instance;
      try {
        inst = new WebAssembly.Instance(new WebAssembly.Module(mod.bytes), this.#imports);
      } catch (e) {
        throw new PlexusBpfError(
          `vm: the JIT produced an invalid module for ${prog.name}: ${(e as Error).message}`,
        );
      }
      const funcs = prog.prepared.functions.map((_, k) => inst.exports[`f${k}`] as WasmFn);
      funcs.forEach((fn, k) => this.table.set(prog.codeIndex[k], fn));
      this.#compiled.set(prog, {
        entry: inst.exports.entry as (r1: number, r2: number) => number,
        repeat: inst.exports.repeat as (r1: number, r2: number, n: number) => number,
        funcs,
        structured: mod.structured,
      });
    }
  }

  /** Whether each function of a compiled program got structured control flow. */
  structured(prog: VmProgram): boolean[] {
    this.ensureCompiled();
    return (this.#compiled.get(prog) as Compiled).structured;
  }

  /** Runs a program's entry with r1, r2 on the first frame `repeat` times; returns the last r0. */
  run(prog: VmProgram, r1: bigint, r2: bigint, repeat = 1): bigint {
    const c = this.#compiled.get(prog) ?? (this.ensureCompiled(), this.#compiled.get(prog) as Compiled);
    this.vm.mem.u32[FAULT_KIND >> 2] = 0;
    this.vm.mem.u32[TAIL_TARGET >> 2] = 0;
    try {
      if (repeat === 1) c.entry(Number(r1), Number(r2));
      else c.repeat(Number(r1), Number(r2), repeat);
    } catch (e) {
      throw this.#fault(e);
    }
    return this.vm.mem.dv.getBigUint64(R0_OUT, true);
  }

  /** As run, returning only the low 32 bits of r0 (no BigInt): the data path's fast call. */
  runVerdict(prog: VmProgram, r1: number, r2: number): number {
    const c = this.#compiled.get(prog) ?? (this.ensureCompiled(), this.#compiled.get(prog) as Compiled);
    this.vm.mem.u32[FAULT_KIND >> 2] = 0;
    try {
      return c.entry(r1, r2) >>> 0;
    } catch (e) {
      throw this.#fault(e);
    }
  }

  /** Calls function fi of prog (a callback) with BigInt arguments. */
  call(prog: VmProgram, fi: number, args: readonly bigint[], fp: number, depth: number): bigint {
    const c = this.#compiled.get(prog) ?? (this.ensureCompiled(), this.#compiled.get(prog) as Compiled);
    const a = (k: number): bigint => BigInt.asIntN(64, args[k] ?? 0n);
    try {
      return BigInt.asUintN(64, c.funcs[fi](a(0), a(1), a(2), a(3), a(4), fp, depth));
    } catch (e) {
      throw this.#fault(e);
    }
  }

  /** A trap of compiled code as the VmFault the interpreter would raise. */
  #fault(e: unknown): unknown {
    if (!(e instanceof WebAssembly.RuntimeError)) return e;
    const vm = this.vm;
    const u32 = vm.mem.u32;
    const kind = u32[FAULT_KIND >> 2];
    const pcEnc = u32[FAULT_PC >> 2];
    const prog = vm.programs[pcEnc >>> 20];
    const pc = pcEnc & 0xfffff;
    const name = prog?.name ?? vm.currentProgramName();
    const slot = prog?.prepared.slot[pc] ?? -1;
    if (kind === FaultCode.MEMORY) {
      const address = vm.mem.dv.getBigUint64(FAULT_ADDR, true);
      const size = u32[FAULT_SIZE >> 2];
      const write = u32[FAULT_WRITE >> 2] !== 0;
      const region =
        address > 0xffff_ffffn ? "no region (beyond 4 GiB)" : vm.regions.describe(Number(address));
      return new VmFault(
        "memory",
        name,
        slot,
        `invalid ${write ? "write" : "read"} of ${size} bytes at 0x${address.toString(16)}: ${region}`,
        { address, size, write, region },
      );
    }
    if (kind === FaultCode.BUDGET)
      return new VmFault(
        "budget",
        name,
        slot,
        `instruction budget of ${vm.budget} exhausted (an endless loop?)`,
      );
    if (kind === FaultCode.CALL_DEPTH)
      return new VmFault("call-depth", name, slot, `call depth exceeds ${MAX_FRAMES} frames`);
    return new VmFault("internal", vm.currentProgramName(), -1, `the JIT trapped: ${(e as Error).message}`);
  }
}

Vm.createJit = (vm) => new JitEngine(vm);
