// Fuzzing the runtime: random instruction words, random well-formed programs that poke at memory
// near every region, and mutated compiled programs. Nothing may crash the process or escape the
// memory checks (canaries around the regions stay intact), and the two engines must agree: the
// same r0 and memory, or the same fault at the same instruction.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PlexusBpfError, VmFault } from "../../src/bpf/errors.js";
import { encode, decode } from "../../src/bpf/insn/codec.js";
import type { Instruction } from "../../src/bpf/insn/instruction.js";
import { openObjectFile } from "../../src/bpf/object/open.js";
import { conformanceHelpers } from "../../src/vm/helpers/conformance.js";
import "../../src/vm/jit/engine.js";
import { PACKET, STACK_BOTTOM, STACK_TOP } from "../../src/vm/layout.js";
import type { EngineName } from "../../src/vm/vm.js";
import { Vm } from "../../src/vm/vm.js";
import { fixture } from "../helpers/fixtures.js";
import { packetCorpus } from "./corpus.js";

/** xorshift32: reproducible randomness (the seed is in the test name). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

interface Outcome {
  kind: "ok" | "load" | "fault" | "other";
  r0?: string;
  memory?: string;
  fault?: string;
}

const CANARY = 0xa5;
const INPUT = 64;

/** Runs a raw program on fresh input memory; checks the canaries after the input and below the stack. */
function runRaw(vm: Vm, insns: readonly Instruction[], engine: EngineName, memory: Uint8Array): Outcome {
  let prog;
  try {
    prog = vm.loadProgram(insns, { name: "fuzz", helpers: conformanceHelpers, allowUnreachable: true });
  } catch (e) {
    if (e instanceof PlexusBpfError) {
      if (process.env.FUZZ_WHY) console.log(e.message);
      return { kind: "load" };
    }
    throw e;
  }
  const u8 = vm.mem.u8;
  u8.fill(CANARY, PACKET + memory.length, PACKET + memory.length + 256);
  u8.fill(CANARY, STACK_BOTTOM - 256, STACK_BOTTOM);
  let out: Outcome;
  try {
    const r = prog.run({ memory }, { engine });
    out = { kind: "ok", r0: r.r0.toString(16), memory: r.memory?.toString("hex") };
  } catch (e) {
    if (e instanceof VmFault) out = { kind: "fault", fault: `${e.kind}@${e.instruction}` };
    else if (e instanceof PlexusBpfError) out = { kind: "other", fault: e.message };
    else throw e;
  }
  const escaped =
    u8.subarray(PACKET + memory.length, PACKET + memory.length + 256).some((b) => b !== CANARY) ||
    u8.subarray(STACK_BOTTOM - 256, STACK_BOTTOM).some((b) => b !== CANARY);
  assert.ok(
    !escaped,
    `a ${engine} run wrote outside its regions: ${Buffer.from(encode(insns)).toString("hex")}`,
  );
  return out;
}

/** A random well-formed program: arithmetic, memory accesses near the input and the stack, jumps. */
function randomProgram(r: () => number, n: number): Instruction[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const reg = (): number => Math.floor(r() * 10);
  const out: Instruction[] = [];
  // r1 = input, r2 = its length; keep a pointer copy in r6 and a stack pointer in r7.
  out.push({ code: 0xbf, dst: 6, src: 1, off: 0, imm: 0 }, { code: 0xbf, dst: 7, src: 10, off: 0, imm: 0 });
  out.push({ code: 0x07, dst: 7, src: 0, off: 0, imm: -256 });
  const offs = [-8, -1, 0, 1, 4, 7, 8, 60, 63, 64, 65, 200, -512, 511];
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.35) {
      const ops = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0];
      const cls = r() < 0.5 ? 0x07 : 0x04;
      const op = pick(ops);
      if (r() < 0.5)
        out.push({
          code: cls | op | 0x08,
          dst: reg(),
          src: reg(),
          off: (op === 0x30 || op === 0x90) && r() < 0.3 ? 1 : 0,
          imm: 0,
        });
      else
        out.push({ code: cls | op, dst: reg(), src: 0, off: 0, imm: Math.floor((r() - 0.5) * 2 ** 32) | 0 });
    } else if (k < 0.65) {
      const size = pick([0x00, 0x08, 0x10, 0x18]);
      const base = r() < 0.9 ? pick([6, 7, 10]) : reg();
      // Mostly accesses inside the region the base points to, some just outside.
      const inside = r() < 0.85;
      const off =
        base === 10
          ? -8 * (1 + Math.floor(r() * 64))
          : !inside
            ? pick(offs)
            : base === 7
              ? Math.floor(r() * 496) - 248
              : Math.floor(r() * 56);
      if (r() < 0.5) out.push({ code: 0x61 | size, dst: pick([0, 3, 4, 5, 8, 9]), src: base, off, imm: 0 });
      else if (r() < 0.7) out.push({ code: 0x63 | size, dst: base, src: reg(), off, imm: 0 });
      else if (r() < 0.85)
        out.push({ code: 0x62 | size, dst: base, src: 0, off, imm: Math.floor(r() * 1000) });
      else
        out.push({
          code: r() < 0.5 ? 0xdb : 0xc3,
          dst: base,
          src: pick([0, 3, 4]),
          off: off & ~7,
          imm: pick([0x00, 0x01, 0x40, 0xa1, 0xe1, 0xf1]),
        });
    } else if (k < 0.8) {
      const jops = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
      out.push({
        code: (r() < 0.5 ? 0x05 : 0x06) | pick(jops),
        dst: reg(),
        src: 0,
        off: 1 + Math.floor(r() * 4),
        imm: Math.floor(r() * 100),
      });
    } else if (k < 0.85) {
      // A backward conditional jump: loops that the budget may have to stop.
      out.push({
        code: 0x55,
        dst: reg(),
        src: 0,
        off: -Math.floor(r() * Math.min(out.length, 6)) - 1,
        imm: Math.floor(r() * 8),
      });
    } else if (k < 0.9) {
      out.push({ code: 0x85, dst: 0, src: 0, off: 0, imm: Math.floor(r() * 6) });
    } else if (k < 0.95) {
      out.push({ code: 0xd4 | pick([0x00, 0x08]), dst: reg(), src: 0, off: 0, imm: pick([16, 32, 64]) });
    } else {
      out.push({ code: 0xb7, dst: reg(), src: 0, off: 0, imm: Math.floor((r() - 0.5) * 1e6) });
    }
  }
  // Pad so forward jumps land inside the program.
  for (let i = 0; i < 4; i++) out.push({ code: 0xb7, dst: 0, src: 0, off: 0, imm: i });
  out.push({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  return out;
}

test("random words: load errors or runs, never a crash, engines agree", () => {
  const seed = 0x5eed1;
  const r = rng(seed);
  const vmI = new Vm({ budget: 20_000 });
  const vmJ = new Vm({ budget: 20_000 });
  let loaded = 0;
  for (let n = 0; n < 1000; n++) {
    const words = Buffer.alloc(8 * (1 + Math.floor(r() * 12)));
    for (let i = 0; i < words.length; i++) words[i] = Math.floor(r() * 256);
    // Make the last word an exit and opcodes plausible half of the time.
    words.writeBigUInt64LE(0x95n, words.length - 8);
    let insns: Instruction[];
    try {
      insns = decode(words);
    } catch {
      continue;
    }
    const mem = Uint8Array.from({ length: INPUT }, (_, i) => i);
    const a = runRaw(vmI, insns, "interp", mem);
    const b = runRaw(vmJ, insns, "jit", Uint8Array.from(mem));
    if (a.kind !== "load") loaded++;
    assert.deepEqual(b, a, `seed ${seed} program ${n}: ${words.toString("hex")}`);
  }
  assert.ok(loaded > 20, `only ${loaded} random programs loaded`);
});

test("random well-formed programs near every region: engines agree, nothing escapes", () => {
  const seed = 0xc0ffee;
  const r = rng(seed);
  const vmI = new Vm({ budget: 4_000 });
  const vmJ = new Vm({ budget: 4_000 });
  const kinds = new Map<string, number>();
  for (let n = 0; n < 500; n++) {
    const insns = randomProgram(r, 6 + Math.floor(r() * 24));
    const mem = Uint8Array.from({ length: INPUT }, (_, i) => (i * 37) & 0xff);
    const a = runRaw(vmI, insns, "interp", mem);
    const b = runRaw(vmJ, insns, "jit", Uint8Array.from(mem));
    kinds.set(a.kind, (kinds.get(a.kind) ?? 0) + 1);
    assert.deepEqual(b, a, `seed ${seed} program ${n}: ${encode(insns).toString("hex")}`);
  }
  assert.ok((kinds.get("ok") ?? 0) > 80 && (kinds.get("fault") ?? 0) > 80, JSON.stringify([...kinds]));
});

test("mutated compiled programs on packets: engines agree, the host survives", async () => {
  const seed = 0xbadf00d;
  const r = rng(seed);
  const frames = packetCorpus();
  const specs = await Promise.all(
    ["insn_xdp_parse", "obj_xdp_counter", "vm_pong", "link_counter"].map(async (f) =>
      openObjectFile(await fixture(f)),
    ),
  );
  let runs = 0;
  for (let n = 0; n < 100; n++) {
    const spec = specs[n % specs.length];
    const [prog] = [...spec.programs.values()];
    const insns = prog.instructions.map((i) => ({ ...i }));
    for (let m = 0; m < 1 + Math.floor(r() * 3); m++) {
      const i = insns[Math.floor(r() * insns.length)];
      const field = Math.floor(r() * 4);
      if (field === 0) i.off = (i.off + Math.floor((r() - 0.5) * 64)) | 0;
      else if (field === 1) i.imm = (i.imm ^ (1 << Math.floor(r() * 32))) | 0;
      else if (field === 2) i.src = Math.floor(r() * 11);
      else i.dst = Math.floor(r() * 10);
      i.off = Math.max(-0x8000, Math.min(0x7fff, i.off));
    }
    const out: Outcome[] = [];
    for (const engine of ["interp", "jit"] as EngineName[]) {
      const vm = new Vm({ budget: 100_000 });
      const obj = (() => {
        try {
          const s = { ...spec, programs: new Map([[prog.name, { ...prog, instructions: insns }]]) };
          return vm.loadObject(s);
        } catch (e) {
          if (e instanceof PlexusBpfError) return undefined;
          throw e;
        }
      })();
      if (!obj) {
        out.push({ kind: "load" });
        continue;
      }
      const results: string[] = [];
      for (const f of frames.slice(0, 12)) {
        try {
          const res = obj.program(prog.name).run({ data: f.data }, { engine });
          results.push(`${res.retval}:${res.data?.toString("hex")}`);
        } catch (e) {
          if (!(e instanceof PlexusBpfError)) throw e;
          results.push(e instanceof VmFault ? `fault ${e.kind}@${e.instruction}` : `error ${e.message}`);
        }
        runs++;
      }
      const maps = [...obj.maps.values()].map((m) =>
        [...m.entries()].map(([k, v]) => k.toString("hex") + v.toString("hex")).join(),
      );
      out.push({ kind: "ok", r0: results.join("|"), memory: maps.join("|") });
    }
    assert.deepEqual(out[1], out[0], `seed ${seed} mutation ${n} of ${prog.name}`);
  }
  assert.ok(runs > 400);
});

export { STACK_TOP };
