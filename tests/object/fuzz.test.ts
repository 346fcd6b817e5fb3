// Mutated objects through the whole loader front end (ELF, BTF, maps, relocations, linking,
// CO-RE): each ends in a typed ObjectFileError that names the problem, never in another
// exception or a hang. Deterministic: a failure names its seed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ObjectFileError } from "../../src/bpf/errors.js";
import { MalformedObjectError, openObject } from "../../src/bpf/object/open.js";
import { fixture } from "../helpers/fixtures.js";

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(orig: Buffer, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.from(orig);
  switch (seed % 4) {
    case 0: // truncation
      return b.subarray(0, Math.floor(r() * b.length));
    case 1: // bit flips
      for (let i = 0, n = 1 + Math.floor(r() * 8); i < n; i++)
        b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      return b;
    case 2: {
      // a run of random bytes
      const at = Math.floor(r() * b.length);
      for (let i = at; i < Math.min(b.length, at + 1 + Math.floor(r() * 64)); i++)
        b[i] = Math.floor(r() * 256);
      return b;
    }
    default: {
      // an absurd 32-bit field at a random aligned place (sizes, offsets, counts)
      const at = Math.floor((r() * (b.length - 4)) / 4) * 4;
      b.writeUInt32LE([0xffffffff, 0x7fffffff, 0x10000, b.length, 0][Math.floor(r() * 5)], at);
      return b;
    }
  }
}

const FIXTURES = [
  "obj_globals",
  "obj_calls",
  "obj_map_in_map",
  "obj_tailcall",
  "obj_core",
  "obj_legacy_maps",
  "obj_maps",
  "obj_sections",
];
const PER_FIXTURE = 150;

test(`${FIXTURES.length * PER_FIXTURE} mutated objects give typed errors, never a crash or a hang`, async () => {
  let typed = 0;
  let accepted = 0;
  for (const [fi, name] of FIXTURES.entries()) {
    const orig = readFileSync(await fixture(name));
    for (let i = 0; i < PER_FIXTURE; i++) {
      const seed = fi * 100_000 + i;
      const bytes = mutate(orig, seed);
      const t0 = performance.now();
      try {
        openObject(bytes, { name: `${name}#${seed}`, programTypes: { prog: "xdp" } });
        accepted++;
      } catch (e) {
        assert.ok(e instanceof ObjectFileError, `${name} seed ${seed}: untyped ${String(e)}`);
        assert.ok(
          !(e instanceof MalformedObjectError),
          `${name} seed ${seed}: internal error ${String((e as MalformedObjectError).internal)}`,
        );
        assert.ok(e.message.includes(`${name}#${seed}`), "the error names the file");
        typed++;
      }
      assert.ok(performance.now() - t0 < 2000, `${name} seed ${seed} took too long`);
    }
  }
  assert.equal(typed + accepted, FIXTURES.length * PER_FIXTURE);
  assert.ok(typed > FIXTURES.length * PER_FIXTURE * 0.3, `only ${typed} mutations were rejected`);
});
