// The programs of tests/fixtures/link_counter.c, loaded with the object loader. Every load() is
// a fresh program (a separate kernel object, as the TCX ordering test needs) sharing one
// `counts` map, so a test reads what each program saw from its slot.
import { join } from "node:path";
import { compileBpf, projectRoot } from "../../../src/build/compile-bpf.js";
import type { BpfMap } from "../../../src/bpf/map/map.js";
import { BpfObject } from "../../../src/bpf/object/object.js";
import type { LoadedObject } from "../../../src/bpf/object/load.js";
import type { BpfProgram } from "../../../src/bpf/prog/program.js";

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
  /**
   * Loads a fresh copy of a fixture program: XDP ones with expected_attach_type BPF_XDP, TC ones
   * as sched_cls for TCX ingress (a, c) or egress (b), as their section names say.
   */
  load(name: FixtureProgram): Promise<TestProgram>;
  /** The count of `counts[slot]`. */
  count(slot: number): bigint;
  /** Closes the map and every program loaded through this fixture. */
  close(): void;
}

export async function loadLinkFixture(): Promise<LinkFixture> {
  const path = await compileBpf(join(projectRoot, "tests", "fixtures", "link_counter.c"));
  const loaded: LoadedObject[] = [];
  let counts: BpfMap | undefined;
  return {
    async load(name) {
      // Each load is a new instance of the object with only this program, reusing `counts`.
      const obj = await BpfObject.open(path).load({
        programs: [name],
        replaceMaps: counts ? { counts } : undefined,
      });
      loaded.push(obj);
      counts ??= obj.map("counts");
      return obj.program(name);
    },
    count(slot) {
      if (!counts) return 0n; // nothing loaded yet
      const key = Buffer.alloc(4);
      key.writeUInt32LE(slot, 0);
      const value = counts.lookup(key);
      if (!value) throw new Error(`counts[${slot}] missing`);
      return value.readBigUInt64LE(0);
    },
    close() {
      // The first object owns `counts`: close it last.
      for (const o of loaded.reverse()) o.close();
    },
  };
}
