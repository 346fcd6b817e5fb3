// libbpf as the oracle: every fixture loaded by plexus and by `bpftool prog loadall` must give
// the same programs (type, translated instruction count) and the same maps behind each program
// (type, key and value size, max entries, flags). bpftool runs in a private mount namespace with
// its own bpffs on /sys/fs/bpf, so nothing outside the test is touched.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { progTypeName } from "../../src/bpf/constants.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { BpfObject } from "../../src/bpf/object/object.js";
import { mountBpffs } from "../../src/testbed/bpffs.js";
import type { Bpffs } from "../../src/testbed/bpffs.js";
import { fixture } from "../helpers/fixtures.js";

interface MapShape {
  type: string;
  key: number;
  value: number;
  max: number;
  flags: number;
}
interface ProgShape {
  type: string;
  insns: number;
  maps: MapShape[];
}

const shapeKey = (m: MapShape) => `${m.type}/${m.key}/${m.value}/${m.max}/${m.flags}`;
const sortMaps = (ms: MapShape[]) => ms.sort((a, b) => shapeKey(a).localeCompare(shapeKey(b)));

/** Loads with bpftool in a private mount namespace and describes every program. */
function bpftoolShapes(obj: string, typeOverride?: string): Record<string, ProgShape> {
  const script = `
set -e
mount -t bpf bpf /sys/fs/bpf
mkdir /sys/fs/bpf/p
bpftool prog loadall "$1" /sys/fs/bpf/p ${typeOverride ? `type ${typeOverride}` : ""} >/dev/null 2>&1
echo '{"progs":['
first=1
for f in /sys/fs/bpf/p/*; do [ $first = 1 ] || echo ','; first=0; bpftool prog show pinned "$f" --json; done
echo '],"maps":'
bpftool map show --json
echo '}'`;
  const out = execFileSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script, "sh", obj], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const parsed = JSON.parse(out) as {
    progs: { name: string; type: string; bytes_xlated: number; map_ids?: number[] }[];
    maps: {
      id: number;
      type: string;
      bytes_key: number;
      bytes_value: number;
      max_entries: number;
      flags: number;
    }[];
  };
  const maps = new Map(parsed.maps.map((m) => [m.id, m]));
  const shapes: Record<string, ProgShape> = {};
  for (const p of parsed.progs) {
    shapes[p.name] = {
      type: p.type,
      insns: p.bytes_xlated / 8,
      maps: sortMaps(
        (p.map_ids ?? []).map((id) => {
          const m = maps.get(id);
          assert.ok(m, `bpftool listed no map ${id}`);
          return { type: m.type, key: m.bytes_key, value: m.bytes_value, max: m.max_entries, flags: m.flags };
        }),
      ),
    };
  }
  return shapes;
}

async function plexusShapes(obj: string, pinRoot: string): Promise<Record<string, ProgShape>> {
  const loaded = await BpfObject.open(obj).load({ pinRoot });
  try {
    const shapes: Record<string, ProgShape> = {};
    for (const [name, prog] of loaded.programs) {
      const info = prog.info();
      shapes[name] = {
        type: progTypeName(info.type),
        insns: info.xlatedProgLen / 8,
        maps: sortMaps(
          info.mapIds.map((id) => {
            const m = BpfMap.fromId(id);
            try {
              return {
                type: mapTypeText(m.type),
                key: m.keySize,
                value: m.valueSize,
                max: m.maxEntries,
                flags: m.flags,
              };
            } finally {
              m.close();
            }
          }),
        ),
      };
    }
    return shapes;
  } finally {
    loaded.close();
  }
}

import { mapTypeName } from "../../src/bpf/constants.js";
const mapTypeText = (t: number) => mapTypeName(t);

const CASES: [fixture: string, typeOverride?: string][] = [
  ["obj_xdp_counter"],
  ["obj_maps"],
  ["obj_map_in_map"],
  ["obj_globals"],
  ["obj_calls"],
  ["obj_tailcall"],
  ["obj_core"],
  ["obj_ringbuf"],
  ["obj_sections"],
  // libbpf 1.1 (Debian's bpftool) predates TCX section names: load those as plain tc programs.
  ["obj_tc", "tc"],
];

describe("plexus loads fixtures exactly like libbpf (bpftool prog loadall)", () => {
  let bpffs: Bpffs;
  before(() => {
    bpffs = mountBpffs();
  });
  after(() => bpffs.cleanup());

  for (const [name, typeOverride] of CASES) {
    test(name, async () => {
      const obj = await fixture(name);
      const theirs = bpftoolShapes(obj, typeOverride);
      const ours = await plexusShapes(obj, bpffs.path);
      assert.ok(Object.keys(theirs).length > 0, "bpftool loaded nothing");
      assert.deepEqual(ours, theirs);
    });
  }
});
