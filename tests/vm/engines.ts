// The engines every runtime test runs through.
import "../../src/vm/jit/engine.js";
import type { EngineName } from "../../src/vm/vm.js";

export const ENGINES: readonly EngineName[] = ["interp", "jit"];
