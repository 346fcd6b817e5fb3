// The network functions' data-plane objects (nf/*, both hooks, and the framework's entry stub)
// through the differential: the kernel's BPF_PROG_TEST_RUN against both engines on the packet
// corpus, entering slot 1 through port 0 with the framework's port hops set, as the hypervisor
// would. Return values, packets out and every map must be identical (clock readings excepted).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { buildFramework, buildNfPackage } from "../../src/build/build-nf.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { Direction, encodeHop, encodeMd, ifaceKey, portIndex, u32Key } from "../../src/core/dataplane/abi.js";
import { possibleCpus } from "../../src/bpf/sys/cpus.js";
import { packetCorpus, vlanFrames } from "./corpus.js";
import { differential } from "./differential.js";
import type { DiffTarget } from "./differential.js";
import { ENGINES } from "./engines.js";

const root = process.getuid?.() === 0;
const frames = [...packetCorpus(), ...vlanFrames().slice(0, 6)];
const SLOT = 1;

/** Slot 1 holds the NF; its port 0 leads out of lo, port 1 to the host, port 2 back into port 3. */
function framework(hook: "xdp" | "tc", entry: string): Pick<DiffTarget, "setup" | "beforeEach"> {
  return {
    setup: (map, prog) => {
      map(`px_patch_${hook}`).update(u32Key(SLOT), u32Key(prog(entry)));
      const ports = map("px_ports");
      ports.update(u32Key(portIndex(SLOT, 0)), encodeHop({ kind: "iface", ifindex: 1 }));
      ports.update(u32Key(portIndex(SLOT, 1)), encodeHop({ kind: "pass" }));
      ports.update(u32Key(portIndex(SLOT, 2)), encodeHop({ kind: "slot", slot: SLOT, port: 3, ifindex: 0 }));
    },
    beforeEach: (map) => {
      const md = encodeMd(SLOT, 0);
      map("px_md").updatePerCpu(
        u32Key(0),
        Array.from({ length: possibleCpus() }, () => md),
      );
    },
  };
}

/** Value bytes holding bpf_ktime_get_*_ns() readings, per NF. */
const CLOCK_FIELDS: Record<string, DiffTarget["clockFields"]> = {
  bridge: { br_fdb: [[8, 8]] },
};

const NFS = ["wire", "bridge", "router", "firewall", "nat", "loadbalancer", "ddos", "capture"];

for (const nf of NFS)
  for (const hook of ["xdp", "tc"] as const) {
    test(`kernel and runtime agree: nf ${nf} (${hook})`, { skip: !root }, async (t) => {
      const { objects } = await buildNfPackage(join(projectRoot, "nf", nf));
      const path = objects[hook];
      if (!path) return t.skip(`${nf} has no ${hook} object`);
      const r = await differential(
        {
          fixture: `nf/${nf}.${hook}`,
          object: async () => path,
          netns: true,
          ...framework(hook, nf),
          ...(CLOCK_FIELDS[nf] ? { clockFields: CLOCK_FIELDS[nf] } : {}),
        },
        frames,
        ENGINES,
      );
      t.diagnostic(`${r.runs} packet runs per engine`);
      assert.deepEqual(r.mismatches.slice(0, 20), []);
    });
  }

// The framework's entry stub: lo's hops lead out of lo (ingress) and to the wire (egress).
for (const hook of ["xdp", "tc"] as const)
  test(`kernel and runtime agree: framework entry stub (${hook})`, { skip: !root }, async () => {
    const objects = await buildFramework();
    const r = await differential(
      {
        fixture: `nf/framework.${hook}`,
        object: async () => objects[hook],
        netns: true,
        programs: hook === "xdp" ? ["px_entry"] : ["px_entry", "px_entry_egress"],
        setup: (map) => {
          const ifaces = map("px_ifaces");
          ifaces.update(ifaceKey(1, Direction.RX), encodeHop({ kind: "iface", ifindex: 1 }));
          ifaces.update(ifaceKey(1, Direction.TX), encodeHop({ kind: "pass" }));
        },
      },
      frames,
      ENGINES,
    );
    assert.deepEqual(r.mismatches.slice(0, 20), []);
  });
