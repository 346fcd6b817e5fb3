// plexus/bpf programs: loading, test runs, info, statistics and verifier errors.
export {
  BpfProgram,
  type ProgramInfo,
  type ProgramLoadOptions,
  type TestRunOptions,
  type TestRunResult,
} from "./program.js";
export { enableStats } from "./stats.js";
export { parseVerifierLog, verifierError, type ParsedVerifierLog } from "./verifier-log.js";
