// Loads the programs of tests/fixtures/link_counter.c with BpfProgram and BpfMap. The object
// loader is not in the tree yet, so this is a local stand-in for it: it knows the fixture's one map
// (`counts`, an array of u64) and patches its fd into the lddw instructions the ELF relocations
// name. Switch to the object loader once it lands.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compileBpf, projectRoot } from "../../../src/build/compile-bpf.js";
import { AttachType, MapType, ProgType } from "../../../src/bpf/constants.js";
import { ElfFile } from "../../../src/bpf/elf/index.js";
import { BpfMap } from "../../../src/bpf/map/map.js";
import { BpfProgram } from "../../../src/bpf/prog/program.js";

export type TestProgram = BpfProgram;

/** Slots of `counts` each fixture program increments. */
export const Slot = {
  xdp_count_a: 0,
  xdp_count_b: 1,
  xdp_drop_echo: 2,
  tc_count_a: 3,
  tc_count_b: 4,
  tc_count_c: 5,
} as const;
export type FixtureProgram = keyof typeof Slot;

export interface LinkFixture {
  /** Loads a fixture program: XDP ones with expected_attach_type BPF_XDP, TC ones BPF_TCX_INGRESS. */
  load(name: FixtureProgram, opts?: { expectedAttachType?: number }): TestProgram;
  /** The count of `counts[slot]`. */
  count(slot: number): bigint;
  /** Closes the map and every program loaded through this fixture. */
  close(): void;
}

export async function loadLinkFixture(): Promise<LinkFixture> {
  const obj = await compileBpf(join(projectRoot, "tests", "fixtures", "link_counter.c"));
  const elf = ElfFile.parse(readFileSync(obj), obj);

  const counts = BpfMap.create({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 8,
    maxEntries: 8,
    name: "counts",
  });
  const programs: BpfProgram[] = [];

  const load = (name: FixtureProgram, opts: { expectedAttachType?: number } = {}): TestProgram => {
    const sym = elf.symbolByName(name);
    if (!sym) throw new Error(`no program ${name} in ${obj}`);
    const section = elf.section(sym.sectionIndex);
    const code = Buffer.alloc(sym.size);
    code.set(section.data().subarray(sym.value, sym.value + sym.size));
    for (const rel of elf.relocationsFor(section.index)) {
      if (rel.offset < sym.value || rel.offset >= sym.value + sym.size) continue;
      if (rel.symbol.name !== "counts") throw new Error(`unexpected relocation against ${rel.symbol.name}`);
      const at = rel.offset - sym.value;
      code[at + 1] = (code[at + 1] & 0x0f) | (1 << 4); // src_reg = BPF_PSEUDO_MAP_FD
      code.writeInt32LE(counts.fd, at + 4);
    }
    const xdp = section.name === "xdp";
    const prog = BpfProgram.load({
      type: xdp ? ProgType.XDP : ProgType.SCHED_CLS,
      expectedAttachType: opts.expectedAttachType ?? (xdp ? AttachType.XDP : AttachType.TCX_INGRESS),
      name,
      insns: code,
      license: "GPL",
    });
    programs.push(prog);
    return prog;
  };

  const count = (slot: number): bigint => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot, 0);
    const value = counts.lookup(key);
    if (!value) throw new Error(`counts[${slot}] missing`);
    return value.readBigUInt64LE(0);
  };

  return {
    load,
    count,
    close() {
      for (const p of programs) p.close();
      counts.close();
    },
  };
}
