// Test fixtures are C sources under tests/fixtures/, compiled on first use (cached by content).
import { join } from "node:path";
import { compileBpf, projectRoot, vmlinuxIncludeDir } from "../../src/build/compile-bpf.js";

export const fixtureSource = (name: string): string => join(projectRoot, "tests", "fixtures", `${name}.c`);

/** Path of the compiled object of tests/fixtures/<name>.c (built with vmlinux.h on the include path). */
export async function fixture(name: string): Promise<string> {
  return compileBpf(fixtureSource(name), { includeDirs: [await vmlinuxIncludeDir()] });
}
