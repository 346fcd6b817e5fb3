// plexus/vm: the userspace eBPF runtime (interpreter and WebAssembly JIT) and its maps.
export type { EngineName, LoadProgramOptions, RunInput, VmOptions, VmRunResult } from "./vm.js";
export { Vm } from "./vm.js";
export { JitEngine } from "./jit/engine.js";
export { VmProgram } from "./program.js";
export type { ContextKind } from "./prepare.js";
export type { TraceEvent, Tracer } from "./interp.js";
export { parseHexBytes, runConformance } from "./conformance.js";
export { conformanceHelpers } from "./helpers/conformance.js";
export type { HelperDef, HelperFn, HelperSet } from "./helpers/types.js";
export { HelperEnv } from "./helpers/env.js";
export { VmFault, VmLoadError } from "../bpf/errors.js";
export type { VmFaultKind } from "../bpf/errors.js";
