// Mutation fuzzing of the object readers: truncations, bit flips, random byte runs and absurd
// length fields in fixture objects must end in an ObjectFileError subclass (ElfError, BtfError,
// RelocationError), never in another exception, a hang or a huge allocation.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Btf, BtfExt, fixupDatasecs, resolveCoreRelocation, vmlinuxBtf } from "../../src/bpf/btf/index.js";
import { ElfFile, SHT } from "../../src/bpf/elf/index.js";
import { ObjectFileError } from "../../src/bpf/errors.js";
import { compileFixture } from "./helpers.js";

/** Deterministic PRNG (mulberry32) so a failing case can be replayed from its description. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Everything a loader does with an object, touching every parsed structure. */
function pipeline(bytes: Uint8Array): void {
  const elf = ElfFile.parse(bytes, "fuzz.o");
  for (const s of elf.sections) {
    s.data();
    elf.relocationsFor(s.index);
  }
  const btfSec = elf.sectionByName(".BTF");
  if (!btfSec) return;
  const btf = Btf.parse(btfSec.data(), { fileName: "fuzz.o" });
  for (let id = 0; id < btf.types.length; id++) {
    btf.typeName(id);
    for (const f of [() => btf.sizeof(id), () => btf.alignof(id), () => btf.resolve(id)]) {
      try {
        f();
      } catch (e) {
        if (!(e instanceof ObjectFileError)) throw e;
      }
    }
    const t = btf.types[id];
    if (t.kind === "struct" || t.kind === "union") for (const m of t.members) btf.member(id, m.name);
  }
  Btf.parse(btf.marshal());
  try {
    fixupDatasecs(btf, elf).marshal();
  } catch (e) {
    if (!(e instanceof ObjectFileError)) throw e;
  }
  const extSec = elf.sectionByName(".BTF.ext");
  if (!extSec) return;
  const ext = BtfExt.parse(extSec.data(), btf, { fileName: "fuzz.o" });
  for (const relos of ext.coreRelos.values())
    for (const r of relos) {
      try {
        resolveCoreRelocation(r, btf, vmlinuxBtf(), { fileName: "fuzz.o" });
      } catch (e) {
        if (!(e instanceof ObjectFileError)) throw e;
      }
    }
}

interface Case {
  what: string;
  bytes: Uint8Array;
}

/** Offsets of the length-like fields a corrupt file would get wrong. */
function lengthFields(good: Buffer, elf: ElfFile): { at: number; size: 2 | 4 | 8 }[] {
  const out: { at: number; size: 2 | 4 | 8 }[] = [
    { at: 40, size: 8 }, // e_shoff
    { at: 58, size: 2 }, // e_shentsize
    { at: 60, size: 2 }, // e_shnum
    { at: 62, size: 2 }, // e_shstrndx
  ];
  const shoff = Number(good.readBigUInt64LE(40));
  for (let i = 0; i < elf.sections.length; i++) {
    const h = shoff + i * 64;
    out.push(
      { at: h, size: 4 },
      { at: h + 24, size: 8 },
      { at: h + 32, size: 8 },
      { at: h + 40, size: 4 },
      { at: h + 44, size: 4 },
      { at: h + 56, size: 8 },
    );
  }
  const btf = elf.sectionByName(".BTF");
  if (btf) {
    for (const o of [4, 8, 12, 16, 20]) out.push({ at: btf.offset + o, size: 4 });
    // Type headers: name_off, info (kind/vlen) and size/type of the first types.
    const typeOff = btf.offset + 24 + good.readUInt32LE(btf.offset + 8);
    for (let o = 0; o < 600 && typeOff + o + 4 <= btf.offset + btf.size; o += 4)
      out.push({ at: typeOff + o, size: 4 });
  }
  const ext = elf.sectionByName(".BTF.ext");
  if (ext) {
    for (let o = 4; o < 32; o += 4) out.push({ at: ext.offset + o, size: 4 });
    const hdr = good.readUInt32LE(ext.offset + 4);
    for (const f of [8, 16, 24]) {
      const block = ext.offset + hdr + good.readUInt32LE(ext.offset + f);
      for (let o = 0; o < 48; o += 4) out.push({ at: block + o, size: 4 });
    }
  }
  const symtab = elf.sections.find((s) => s.type === SHT.SYMTAB);
  if (symtab)
    for (let i = 1; i < Math.min(20, symtab.size / 24); i++)
      out.push({ at: symtab.offset + i * 24, size: 4 });
  return out.filter((f) => f.at + f.size <= good.length);
}

function* mutations(name: string, good: Buffer, seed: number): Generator<Case> {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const elf = ElfFile.parse(good);
  const regions = [".BTF", ".BTF.ext"].map((n) => elf.sectionByName(n)!).filter(Boolean);
  const step = Math.max(1, Math.floor(good.length / 150));
  for (let len = 0; len < good.length; len += len < 96 ? 7 : step)
    yield { what: `${name}: truncated to ${len}`, bytes: good.subarray(0, len) };
  // Sections cut short inside the file: .BTF and .BTF.ext end early (their ELF sizes shrink).
  const shoff = Number(good.readBigUInt64LE(40));
  for (const reg of regions)
    for (let k = 0; k < 12; k++) {
      const b = Buffer.from(good);
      const size = k < 6 ? k * 5 : int(reg.size);
      b.writeBigUInt64LE(BigInt(size), shoff + reg.index * 64 + 32);
      yield { what: `${name}: ${reg.name} cut to ${size} bytes`, bytes: b };
    }
  for (let i = 0; i < 150; i++) {
    const b = Buffer.from(good);
    const inRegion = i % 2 === 1 && regions.length > 0;
    const reg = regions[int(regions.length)];
    const at = inRegion ? reg.offset + int(reg.size) : int(b.length);
    const bit = int(8);
    b[at] ^= 1 << bit;
    yield { what: `${name}: bit ${bit} of byte ${at} flipped`, bytes: b };
  }
  for (let i = 0; i < 80; i++) {
    const b = Buffer.from(good);
    const n = 1 + int(32);
    const at = int(b.length - n);
    for (let j = 0; j < n; j++) b[at + j] = int(256);
    yield { what: `${name}: ${n} random bytes at ${at}`, bytes: b };
  }
  const fields = lengthFields(good, elf);
  const extremes = [0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x10000, 12, 24];
  for (let i = 0; i < 140; i++) {
    const f = fields[int(fields.length)];
    const v = i % 3 === 0 ? int(0x100000000) : extremes[int(extremes.length)];
    const b = Buffer.from(good);
    if (f.size === 2) b.writeUInt16LE(v & 0xffff, f.at);
    else if (f.size === 4) b.writeUInt32LE(v >>> 0, f.at);
    else b.writeBigUInt64LE(BigInt(v) * (i % 5 === 0 ? 0x100000000n : 1n), f.at);
    yield { what: `${name}: ${f.size}-byte field at ${f.at} set to ${v}`, bytes: b };
  }
}

test("at least 1000 mutated objects end in ObjectFileError or parse, never anything else", async () => {
  const fixtures = await Promise.all([
    compileFixture("btf_objects.c"),
    compileFixture("btf_ext_prog.c"),
    compileFixture("btf_core_reads.c", true),
  ]);
  vmlinuxBtf(); // parsed once, outside the per-case timing
  let cases = 0;
  let rejected = 0;
  let slowest = { ms: 0, what: "" };
  for (const [i, f] of fixtures.entries()) {
    pipeline(f.bytes); // the untouched object goes through cleanly
    for (const c of mutations(f.path.replace(/^.*\//, ""), f.bytes, 1000 + i)) {
      const t0 = performance.now();
      try {
        pipeline(c.bytes);
      } catch (e) {
        if (!(e instanceof ObjectFileError))
          assert.fail(`${c.what}: ${e instanceof Error ? e.stack : String(e)}`);
        rejected++;
      }
      const ms = performance.now() - t0;
      if (ms > slowest.ms) slowest = { ms, what: c.what };
      cases++;
    }
  }
  console.log(
    `# fuzz: ${cases} cases, ${rejected} rejected with ObjectFileError, slowest ${slowest.ms.toFixed(1)} ms (${slowest.what})`,
  );
  assert.ok(cases >= 1000, `${cases} cases`);
  assert.ok(slowest.ms < 1000, `slowest case took ${slowest.ms} ms: ${slowest.what}`);
});
