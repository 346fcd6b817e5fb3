// Moved to src/testbed/ (shared with the demo and the benchmarks).
export * from "../../src/testbed/bpffs.js";
