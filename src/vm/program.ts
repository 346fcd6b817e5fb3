// A program loaded into the userspace runtime: validated and decoded once, run by either engine.
import type { PreparedProgram } from "./prepare.js";
import type { HelperSet } from "./helpers/types.js";
import type { EngineName, RunInput, VmRunResult, Vm } from "./vm.js";

export class VmProgram {
  /** Index of each of its functions in the runtime's code table (their code addresses). */
  readonly codeIndex: number[] = [];
  /** Set by the JIT once compiled. */
  compiled: unknown;

  constructor(
    readonly vm: Vm,
    /** Program id inside this runtime (what prog arrays hold). */
    readonly id: number,
    readonly name: string,
    /** ProgType of the kernel (0 for raw programs). */
    readonly type: number,
    readonly prepared: PreparedProgram,
    readonly helpers: HelperSet,
    /** The kernel's expected_attach_type (0 when none). */
    readonly expectedAttachType = 0,
  ) {}

  /** Runs the program once on a packet (or input memory), like BPF_PROG_TEST_RUN. */
  run(input: RunInput = {}, opts: { engine?: EngineName } = {}): VmRunResult {
    return this.vm.run(this, input, opts);
  }
}
