// The environment helpers run in: their arguments (r1..r5, stored in the linear memory by either
// engine), checked access to program memory, the run in progress, and faults that name the helper.
import { helperName } from "../../bpf/constants.js";
import { VmFault } from "../../bpf/errors.js";
import { checkAccess } from "../check.js";
import { HELPER_ARGS, HELPER_FP, HELPER_PC } from "../layout.js";
import type { VmMap } from "../maps/base.js";
import type { VmMemory } from "../memory.js";
import type { RunState } from "../run-state.js";
import type { Vm } from "../vm.js";

const TWO32 = 0x1_0000_0000;

/** Thrown by a helper to end the program at once with `r0` (uBPF's unwind extension). */
export class StopRun {
  constructor(readonly r0: bigint) {}
}

export class HelperEnv {
  /** The helper being called (set by the engines before each call). */
  helperId = 0;

  constructor(readonly host: Vm) {}

  get vm(): Vm {
    return this.host;
  }

  /** The run in progress. */
  get run(): RunState {
    return this.host.runState;
  }

  get mem(): VmMemory {
    return this.host.mem;
  }

  /** Frame pointer of the frame that called the helper. */
  get fp(): number {
    return this.host.mem.u32[HELPER_FP >> 2];
  }

  /** Instruction index of the call. */
  get pc(): number {
    return this.host.mem.u32[HELPER_PC >> 2];
  }

  /** Argument i (1..5) as an unsigned 64-bit value. */
  arg(i: number): bigint {
    return this.host.mem.dv.getBigUint64(HELPER_ARGS + i * 8, true);
  }

  /** Low 32 bits of argument i, unsigned. */
  u32(i: number): number {
    return this.host.mem.u32[(HELPER_ARGS + i * 8) >> 2];
  }

  /** Low 32 bits of argument i, signed. */
  i32(i: number): number {
    return this.host.mem.i32[(HELPER_ARGS + i * 8) >> 2];
  }

  /** Whether the high 32 bits of argument i are zero. */
  fits32(i: number): boolean {
    return this.host.mem.u32[(HELPER_ARGS + i * 8 + 4) >> 2] === 0;
  }

  /** Argument i as a number when it is below 2^53 (sizes, offsets), else Infinity. */
  num(i: number): number {
    const hi = this.host.mem.u32[(HELPER_ARGS + i * 8 + 4) >> 2];
    if (hi >= 0x20_0000) return Infinity;
    return hi * TWO32 + this.u32(i);
  }

  fault(message: string): never {
    const pc = this.pc;
    throw new VmFault(
      "helper",
      this.host.currentProgramName(),
      this.host.slotOf(pc),
      `bpf_${helperName(this.helperId)}: ${message}`,
    );
  }

  /** Checks that `size` bytes at `addr` may be read (or written) by the program. */
  checkRange(addr: number, size: number, write: boolean, what: string): void {
    if (size === 0) return;
    if (!checkAccess(this.host.regions, this.host.mem.u8, addr, size, write, this.fp))
      this.fault(
        `${what}: ${size} bytes at 0x${addr.toString(16)} ${write ? "are not writable" : "are not readable"} by the program (${this.host.regions.describe(addr)})`,
      );
  }

  /** Argument i as a map pointer (what lddw of a map gives). */
  map(i: number): VmMap {
    const m = this.fits32(i) ? this.host.mapAt(this.u32(i)) : undefined;
    if (!m) this.fault(`argument ${i} (0x${this.arg(i).toString(16)}) is not a map`);
    return m;
  }

  /** Argument i as a pointer to `size` accessible bytes. */
  ptr(i: number, size: number, write: boolean, what: string): number {
    if (!this.fits32(i)) this.fault(`${what}: 0x${this.arg(i).toString(16)} is not a valid pointer`);
    const addr = this.u32(i);
    this.checkRange(addr, size, write, what);
    return addr;
  }

  /** As ptr, but NULL is accepted (returns 0). */
  ptrOrNull(i: number, size: number, write: boolean, what: string): number {
    if (this.arg(i) === 0n) return 0;
    return this.ptr(i, size, write, what);
  }
}
