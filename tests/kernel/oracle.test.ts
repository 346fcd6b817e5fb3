// bpftool (libbpf) as an independent reader of what we created: info decoding, and pins it opens.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AttachType, MapFlags, MapType, ProgType } from "../../src/bpf/constants.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { u32, u64 } from "../../src/bpf/map/codec.js";
import { BpfProgram } from "../../src/bpf/prog/program.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import { ldMapFd, program, returns, R1 } from "./asm.js";

const bpftool = (...args: string[]): unknown =>
  JSON.parse(execFileSync("bpftool", ["-j", ...args], { encoding: "utf8" }));

let fs: Bpffs;
before(() => {
  fs = mountBpffs();
});
after(() => fs.cleanup());

test("bpftool sees the maps we create as we describe them", () => {
  const m = BpfMap.create({
    type: MapType.LRU_HASH,
    keySize: 8,
    valueSize: 24,
    maxEntries: 100,
    flags: MapFlags.NO_COMMON_LRU,
    name: "kt_oracle",
  });
  try {
    const info = m.info();
    const seen = bpftool("map", "show", "id", String(m.id)) as Record<string, unknown>;
    assert.deepEqual(
      [seen.id, seen.type, seen.name, seen.flags, seen.bytes_key, seen.bytes_value, seen.max_entries],
      [info.id, "lru_hash", info.name, info.flags, info.keySize, info.valueSize, info.maxEntries],
    );
  } finally {
    m.close();
  }
});

test("bpftool agrees on program tag, sizes and map ids, and dumps our map contents", () => {
  const m = BpfMap.create({
    type: MapType.HASH,
    keySize: 4,
    valueSize: 8,
    maxEntries: 4,
    name: "kt_orc_map",
  });
  const p = BpfProgram.load({
    type: ProgType.XDP,
    expectedAttachType: AttachType.XDP,
    insns: program(ldMapFd(R1, m.fd), returns(2)),
    license: "GPL",
    name: "kt_oracle",
  });
  try {
    const info = p.info();
    const seen = bpftool("prog", "show", "id", String(p.id)) as Record<string, unknown>;
    assert.deepEqual(
      [seen.id, seen.type, seen.name, seen.tag, seen.bytes_xlated, seen.bytes_jited, seen.map_ids],
      [p.id, "xdp", "kt_oracle", p.tag, info.xlatedProgLen, info.jitedProgLen, [m.id]],
    );
    m.update(u32.encode(9), u64.encode(0x0102n));
    const dump = bpftool("map", "dump", "id", String(m.id)) as { key: string[]; value: string[] }[];
    assert.deepEqual(dump[0].key, ["0x09", "0x00", "0x00", "0x00"]);
    assert.deepEqual(dump[0].value.slice(0, 2), ["0x02", "0x01"]);
    // And bpftool opens what we pin.
    const path = join(fs.path, "kt_oracle_map");
    m.pin(path);
    const pinned = bpftool("map", "show", "pinned", path) as Record<string, unknown>;
    assert.equal(pinned.id, m.id);
  } finally {
    p.close();
    m.close();
  }
});
