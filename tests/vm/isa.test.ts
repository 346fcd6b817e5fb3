// The ISA corpus: one bpf_conformance .data file per instruction and edge case of RFC 9669
// (tests/vm/isa/), run through both engines. An `-- error` section names a piece of the error the
// runtime must report (at load or at run time).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { PlexusBpfError } from "../../src/bpf/errors.js";
import { parseConformance } from "../../src/bpf/insn/index.js";
import { conformanceHelpers } from "../../src/vm/helpers/conformance.js";
import type { EngineName } from "../../src/vm/vm.js";
import { Vm } from "../../src/vm/vm.js";
import { ENGINES } from "./engines.js";

const dir = join(projectRoot, "tests", "vm", "isa");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".data"))
  .sort();

function runFile(file: string, engine: EngineName): { r0?: bigint; error?: string } {
  const vm = new Vm({ engine, budget: 100_000 });
  try {
    const t = parseConformance(readFileSync(join(dir, file), "utf8"));
    // Programs with maps call the Linux map helpers; the others bpf_conformance's test helpers.
    const maps = t.maps.map((m) =>
      vm.createMap({
        type: m.type,
        name: m.name,
        keySize: m.keySize,
        valueSize: m.valueSize,
        maxEntries: m.maxEntries,
      }),
    );
    const prog = vm.loadProgram(t.instructions, {
      name: file,
      ...(maps.length ? { maps } : { helpers: conformanceHelpers }),
    });
    return { r0: prog.run({ memory: t.memory }).r0 };
  } catch (e) {
    if (e instanceof PlexusBpfError) return { error: e.message };
    throw e;
  }
}

test("the corpus covers every instruction class", () => {
  assert.ok(files.length > 150, `${files.length} files`);
});

for (const engine of ENGINES) {
  test(`ISA corpus through the ${engine === "interp" ? "interpreter" : "JIT"}`, () => {
    const failures: string[] = [];
    for (const file of files) {
      const t = parseConformance(readFileSync(join(dir, file), "utf8"));
      const got = runFile(file, engine);
      if (t.error !== undefined) {
        if (got.error === undefined || !got.error.toLowerCase().includes(t.error.toLowerCase()))
          failures.push(
            `${file}: expected an error with '${t.error}', got ${got.error ?? `r0 = 0x${got.r0?.toString(16)}`}`,
          );
      } else if (got.error !== undefined || got.r0 !== t.result) {
        failures.push(
          `${file}: expected 0x${t.result?.toString(16)}, got ${got.error ?? `0x${got.r0?.toString(16)}`}`,
        );
      }
    }
    assert.deepEqual(failures, []);
  });
}
