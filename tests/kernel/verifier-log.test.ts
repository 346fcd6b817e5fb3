// Parsing verifier logs into the failing instruction and the complaint (pure, no kernel).
import assert from "node:assert/strict";
import { test } from "node:test";
import { VerifierError } from "../../src/bpf/errors.js";
import { parseVerifierLog, verifierError } from "../../src/bpf/prog/verifier-log.js";

const branchy = `func#0 @0
0: R1=ctx() R10=fp0
0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2_w=pkt(r=0)
1: (61) r3 = *(u32 *)(r1 +4)          ; R1=ctx() R3_w=pkt_end()
2: (bf) r4 = r2                       ; R2_w=pkt(r=0) R4_w=pkt(r=0)
3: (07) r4 += 14                      ; R4_w=pkt(off=14,r=0)
4: (2d) if r4 > r3 goto pc+2          ; R3_w=pkt_end() R4_w=pkt(off=14,r=14)
5: (71) r0 = *(u8 *)(r2 +20)
invalid access to packet, off=20 size=1, R2(id=0,off=20,r=14)
R2 offset is outside of the packet
processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
`;

test("the failing instruction is the last one printed, the complaint what follows it", () => {
  const p = parseVerifierLog(branchy);
  assert.equal(p.instruction, 5);
  assert.equal(p.instructionText, "(71) r0 = *(u8 *)(r2 +20)");
  assert.equal(
    p.complaint,
    "invalid access to packet, off=20 size=1, R2(id=0,off=20,r=14)\nR2 offset is outside of the packet",
  );
  assert.equal(p.tail.at(-1)?.startsWith("processed 6 insns"), true);
});

test("state annotations after ';' are left out of the instruction text", () => {
  const p = parseVerifierLog("0: (b7) r0 = 0                        ; R0_w=0\n1: (95) exit\nR0 !read_ok\n");
  assert.equal(p.instruction, 1);
  assert.equal(p.instructionText, "(95) exit");
  const q = parseVerifierLog("0: (b7) r0 = 0                        ; R0_w=0\nsome complaint\n");
  assert.equal(q.instructionText, "(b7) r0 = 0");
});

test("a log that names no instruction still yields its reason", () => {
  const p = parseVerifierLog("btf_vmlinux is malformed\nInvalid name\n");
  assert.equal(p.instruction, undefined);
  assert.equal(p.complaint, "btf_vmlinux is malformed\nInvalid name");
});

test("VerifierError carries program, errno, log and instruction; its message shows the tail", () => {
  const long =
    Array.from({ length: 40 }, (_, i) => `${i}: (b7) r0 = ${i}`).join("\n") + "\nfinal complaint\n";
  const e = verifierError("prog_x", 13, long);
  assert.ok(e instanceof VerifierError);
  assert.deepEqual([e.program, e.errno, e.instruction], ["prog_x", 13, 39]);
  assert.equal(e.log, long);
  assert.match(
    e.message,
    /^program prog_x rejected by the verifier \(EACCES\) at instruction 39: \(b7\) r0 = 39/,
  );
  assert.match(e.message, /final complaint/);
  assert.match(e.message, /last 20 lines/);
  assert.doesNotMatch(e.message, /\n {2}19: /, "only the tail of the log");
});
