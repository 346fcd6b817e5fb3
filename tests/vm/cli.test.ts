// The runtime from the command line: plexus prog run --engine interp|jit gives the kernel's JSON
// for the same run, plexus vm trace prints the executed instructions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { plexus } from "../helpers/cli.js";
import { fixture } from "../helpers/fixtures.js";
import { udp4Frame } from "../helpers/packets.js";

const root = process.getuid?.() === 0;

test("prog run --engine interp|jit: the same JSON as the kernel run", { skip: !root }, async () => {
  const frame = udp4Frame(64).toString("hex");
  const obj = await fixture("obj_calls");
  const args = [
    "prog",
    "run",
    obj,
    "--prog",
    "calls",
    "--data-hex",
    frame,
    "--json",
    "--map",
    "values",
    "00000000=0500000000000000",
  ];
  const out = (engine: string): { retval: number; dataOutHex: string; durationNs: number } => {
    const r = plexus([...args, "--engine", engine]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const k = out("kernel");
  for (const engine of ["interp", "jit"]) {
    const v = out(engine);
    assert.deepEqual(Object.keys(v).sort(), Object.keys(k).sort());
    assert.equal(v.retval, k.retval, engine);
    assert.equal(v.dataOutHex, k.dataOutHex, engine);
    assert.equal(typeof v.durationNs, "number");
  }
});

test("prog run --engine jit with a context and an unknown engine", async () => {
  const obj = await fixture("obj_tc");
  const ctx = Buffer.alloc(192);
  ctx.writeUInt32LE(9, 8);
  const r = plexus([
    "prog",
    "run",
    obj,
    "--prog",
    "tc_mark",
    "--data-hex",
    udp4Frame(64).toString("hex"),
    "--ctx-hex",
    ctx.toString("hex"),
    "--engine",
    "jit",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.ctxOutHex.length, 192 * 2, "the __sk_buff comes back out");
  const bad = plexus(["prog", "run", obj, "--prog", "tc_mark", "--data-hex", "00", "--engine", "gpu"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /kernel, interp, jit/);
});

test("vm trace prints each instruction with its registers, then the verdict", async () => {
  const obj = await fixture("obj_xdp_counter");
  const r = plexus(["vm", "trace", obj, "--prog", "xdp_count", "--data-hex", udp4Frame(64).toString("hex")]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.match(lines[0], /^\s+0: r\d = \*\(u32 \*\)\(r1 \+ 0x\w+\)\s+; r1=0x[0-9a-f]+$/);
  assert.ok(
    lines.some((l) => /call 0x1 <map_lookup_elem>/.test(l)),
    "helper calls are named",
  );
  assert.ok(
    lines.some((l) => / = counters ll/.test(l)),
    "map references are named",
  );
  assert.match(r.stdout, /exit: r0 = 0x2 \(XDP_PASS\), \d+ instructions/);

  const json = plexus([
    "vm",
    "trace",
    obj,
    "--prog",
    "xdp_count",
    "--data-hex",
    udp4Frame(64).toString("hex"),
    "--json",
  ]);
  const t = JSON.parse(json.stdout);
  assert.equal(t.retval, 2);
  assert.equal(t.steps[0].slot, 0);
  assert.equal(t.steps[0].regs.length, 11);
  assert.equal(t.steps.at(-1).insn, "exit");
});

test("vm trace of a faulting program names the instruction and the region", async () => {
  const obj = await fixture("obj_xdp_counter");
  const r = plexus(["vm", "trace", obj, "--prog", "xdp_count", "--data-hex", "00"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /shorter than an Ethernet header/);
});
