// Differential testing against the kernel: every XDP, TC and socket-filter fixture of the test
// suite (and the runtime's own vm_* fixtures) on the packet corpus, BPF_PROG_TEST_RUN against
// both engines; return values, packets out and map contents must be identical.
import assert from "node:assert/strict";
import { test } from "node:test";
import { packetCorpus, synFrames, vlanFrames } from "./corpus.js";
import { differential } from "./differential.js";
import type { DiffTarget } from "./differential.js";
import { ENGINES } from "./engines.js";
import { firewallSetup, firewallTraffic } from "./workloads.js";

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
  {
    fixture: "vm_xdp_helpers",
    setup: (map) => {
      const k = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer);
      const lpm = (len: number, a: number[]): Buffer => Buffer.from([...k(len), ...a]);
      map("routes").update(lpm(15, [198, 18, 0, 0]), k(15));
      map("routes").update(lpm(24, [198, 18, 0, 0]), k(24));
      map("routes").update(lpm(32, [198, 18, 0, 2]), k(32));
      map("routes").update(lpm(0, [0, 0, 0, 0]), k(0));
      map("ports").update(k(4), k(1));
      map("ports").update(k(6), k(1));
    },
  },
  {
    fixture: "vm_firewall",
    setup: (map) => firewallSetup(map),
    extraFrames: firewallTraffic(160).map((data, i) => ({ name: `flow-${i}`, data })),
  },
  { fixture: "vm_tc_vlan", netns: true, extraFrames: vlanFrames() },
  { fixture: "vm_syncookie", extraFrames: synFrames() },
  {
    fixture: "vm_tc_helpers",
    // tc_fields also gets a context in, whose fields the kernel copies in and back out.
    ctx: (program) => {
      if (program !== "tc_fields") return undefined;
      const c = Buffer.alloc(192);
      c.writeUInt32LE(0x77, 8); // mark
      c.writeUInt32LE(3, 32); // priority
      c.writeUInt32LE(2, 36); // ingress_ifindex
      [5, 6, 7, 8, 9].forEach((v, i) => c.writeUInt32LE(v, 48 + i * 4)); // cb
      c.writeBigUInt64LE(99n, 152); // tstamp
      c.writeUInt32LE(2, 164); // gso_segs
      c.writeUInt32LE(1400, 176); // gso_size
      c.writeBigUInt64LE(7n, 184); // hwtstamp
      return c;
    },
  },
];

for (const target of TARGETS) {
  test(`kernel and runtime agree: ${target.fixture}`, { skip: !root }, async (t) => {
    const r = await differential(target, frames, ENGINES);
    t.diagnostic(`${r.runs} packet runs per engine`);
    assert.deepEqual(r.mismatches.slice(0, 20), []);
  });
}
