// Differential testing against the kernel: every XDP, TC and socket-filter fixture of the test
// suite (and the runtime's own vm_* fixtures) on the packet corpus, BPF_PROG_TEST_RUN against
// both engines; return values, packets out and map contents must be identical.
import assert from "node:assert/strict";
import { test } from "node:test";
import { packetCorpus } from "./corpus.js";
import { differential } from "./differential.js";
import type { DiffTarget } from "./differential.js";
import { ENGINES } from "./engines.js";

const root = process.getuid?.() === 0;
const frames = packetCorpus();

const TARGETS: DiffTarget[] = [
  { fixture: "obj_xdp_counter" },
  { fixture: "obj_tailcall" },
  { fixture: "obj_calls" },
  { fixture: "obj_globals" },
  { fixture: "obj_tc" },
  { fixture: "obj_maps" },
  { fixture: "obj_map_in_map" },
  { fixture: "obj_ringbuf" },
  { fixture: "obj_core" },
  {
    fixture: "obj_optional",
    programs: ["always", "on_demand", "legacy_named"],
    open: { programTypes: { prog: "xdp" } },
  },
  {
    fixture: "obj_sections",
    programs: ["sock_filter", "tc_first", "tc_second", "legacy_classifier", "xdp_frags"],
  },
  { fixture: "obj_legacy_maps" },
  { fixture: "link_counter" },
  { fixture: "insn_xdp_parse" },
  { fixture: "insn_atomics" },
  { fixture: "insn_alu32" },
  { fixture: "insn_calls_loops" },
  { fixture: "btf_objects", programs: ["xdp_prog"] },
  { fixture: "btf_ext_prog" },
];

for (const target of TARGETS) {
  test(`kernel and runtime agree: ${target.fixture}`, { skip: !root }, async (t) => {
    const r = await differential(target, frames, ENGINES);
    t.diagnostic(`${r.runs} packet runs per engine`);
    assert.deepEqual(r.mismatches.slice(0, 20), []);
  });
}
