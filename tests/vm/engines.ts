// The engines every runtime test runs through.
import type { EngineName } from "../../src/vm/vm.js";

export const ENGINES: readonly EngineName[] = ["interp"];
