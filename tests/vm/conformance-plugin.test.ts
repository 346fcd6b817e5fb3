// `plexus vm conformance-plugin` as bpf_conformance's runner drives it: program bytes as hex on
// stdin, memory as hex in the first argument, plugin options in the second.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { parseConformance } from "../../src/bpf/insn/index.js";
import { ENGINES } from "./engines.js";

/** Hex as the runner writes it: every byte followed by two spaces. */
const runnerHex = (b: Uint8Array): string =>
  Array.from(b, (x) => `${x.toString(16).padStart(2, "0")}  `).join("");

function plugin(file: string, options: string): { code: number; stdout: string } {
  const t = parseConformance(readFileSync(join(projectRoot, "tests", "vm", "isa", file), "utf8"));
  const r = spawnSync(
    process.execPath,
    [join(projectRoot, "bin", "plexus.js"), "vm", "conformance-plugin", runnerHex(t.memory), options],
    { input: `${runnerHex(t.program)}\n`, encoding: "utf8", timeout: 30_000 },
  );
  return { code: r.status ?? -1, stdout: r.stdout };
}

for (const engine of ENGINES) {
  test(`conformance plugin protocol (${engine})`, () => {
    const ok = plugin("ldxw.data", `--engine ${engine}`);
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, "88776655\n", "r0 in hex, no prefix");

    const wide = plugin("be64.data", `--engine ${engine}`);
    assert.equal(wide.stdout, "8877665544332211\n");

    const helper = plugin("call-helper.data", `--engine ${engine}`);
    assert.equal(helper.stdout, "102030405\n", "the test helpers of bpf_conformance");

    const fault = plugin("err-read-beyond-memory.data", `--engine ${engine}`);
    assert.notEqual(fault.code, 0);
    assert.match(
      fault.stdout,
      /invalid read of 4 bytes/,
      "the error message on stdout, where the runner reads it",
    );

    const bad = plugin("err-unknown-opcode.data", `--engine ${engine}`);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /unknown opcode 0xff/);
  });
}

test("conformance plugin: uBPF-style flags and bad options", () => {
  const r = spawnSync(
    process.execPath,
    [join(projectRoot, "bin", "plexus.js"), "vm", "conformance-plugin", "", "--bogus"],
    {
      input: "95 00 00 00 00 00 00 00\n",
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 2, "a usage error");
  const empty = spawnSync(
    process.execPath,
    [join(projectRoot, "bin", "plexus.js"), "vm", "conformance-plugin", "", "--interpret"],
    { input: "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00\n", encoding: "utf8" },
  );
  assert.equal(empty.stdout, "2a\n", "no memory: r1 is NULL, the program still runs");
});
