// The ISA corpus's expected results checked against the kernel: every corpus program that the
// verifier accepts as a socket filter (no input memory, no test helpers) is run by
// BPF_PROG_TEST_RUN, once as written and once with `r0 >>= 32` before each exit of its main
// function, so both halves of r0 are compared with the `-- result` the runtime is tested against.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { ProgType } from "../../src/bpf/constants.js";
import { VerifierError } from "../../src/bpf/errors.js";
import { encode, parseConformance } from "../../src/bpf/insn/index.js";
import { BpfProgram } from "../../src/bpf/prog/program.js";

const dir = join(projectRoot, "tests", "vm", "isa");

/** The asm with `rsh %r0, 32` before every exit of the main function (before the first callee label). */
function highHalfVariant(asm: string): string | undefined {
  if (/[+-]\d/.test(asm.replace(/\[[^\]]*\]/g, "").replace(/, -?\d/g, ""))) return undefined; // numeric jump offsets
  const callees = new Set([...asm.matchAll(/(?:call local|code_addr\()\s*(\w+)/g)].map((m) => m[1]));
  let inMain = true;
  return asm
    .split("\n")
    .map((line) => {
      const label = /^\s*(\w+):/.exec(line);
      if (label && callees.has(label[1])) inMain = false;
      return inMain && line.trim() === "exit" ? "rsh %r0, 32\nexit" : line;
    })
    .join("\n");
}

function kernelRun(asm: string): number | undefined {
  const t = parseConformance(`-- asm\n${asm}\n`);
  let prog: BpfProgram;
  try {
    prog = BpfProgram.load({ type: ProgType.SOCKET_FILTER, insns: encode(t.instructions), license: "GPL" });
  } catch (e) {
    if (e instanceof VerifierError) return undefined;
    throw e;
  }
  try {
    return prog.testRun({ data: Buffer.alloc(64) }).retval >>> 0;
  } finally {
    prog.close();
  }
}

test("the kernel agrees with the corpus's expected results", { skip: process.getuid?.() !== 0 }, (t) => {
  const ran: string[] = [];
  const failures: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".data"))) {
    const c = parseConformance(readFileSync(join(dir, file), "utf8"));
    if (
      c.result === undefined ||
      c.memory.length > 0 ||
      c.asm === "" ||
      /call \d|call %r|call helper/.test(c.asm)
    )
      continue;
    const low = kernelRun(c.asm);
    if (low === undefined) continue;
    ran.push(file);
    if (low !== Number(c.result & 0xffff_ffffn))
      failures.push(`${file}: kernel low half 0x${low.toString(16)}, expected 0x${c.result.toString(16)}`);
    const variant = highHalfVariant(c.asm);
    if (variant === undefined) continue;
    const high = kernelRun(variant);
    if (high !== undefined && high !== Number(c.result >> 32n))
      failures.push(`${file}: kernel high half 0x${high.toString(16)}, expected 0x${c.result.toString(16)}`);
  }
  assert.deepEqual(failures, []);
  assert.ok(ran.length >= 100, `only ${ran.length} corpus programs ran in the kernel`);
  t.diagnostic(`${ran.length} corpus programs ran in the kernel`);
});
