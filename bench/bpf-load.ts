// Time to load the fixture corpus: plexus (in this process: open, relocate, create maps, load
// programs, close) against `bpftool prog loadall` (libbpf) on the same objects, alternating.
// bpftool's figure includes its process start; plexus's includes no process start but keeps
// vmlinux BTF parsed across rounds, as a long-running daemon does.
import { execFileSync } from "node:child_process";
import { alternate } from "./harness.js";
import type { Comparison } from "./harness.js";
import { BpfObject } from "../src/bpf/object/object.js";
import { compileBpf, projectRoot, vmlinuxIncludeDir } from "../src/build/compile-bpf.js";
import { mountBpffs } from "../src/testbed/bpffs.js";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const CORPUS = [
  "obj_xdp_counter",
  "obj_maps",
  "obj_map_in_map",
  "obj_globals",
  "obj_calls",
  "obj_tailcall",
  "obj_core",
  "obj_ringbuf",
  "obj_sections",
];

async function corpus(): Promise<string[]> {
  const inc = [await vmlinuxIncludeDir()];
  return Promise.all(
    CORPUS.map((n) => compileBpf(join(projectRoot, "tests", "fixtures", `${n}.c`), { includeDirs: inc })),
  );
}

export async function run(): Promise<Comparison[]> {
  const objs = await corpus();
  // One shell per round loads every object with bpftool into a private bpffs, as fast as it can.
  const script = `set -e; mount -t bpf bpf /sys/fs/bpf; i=0; for o in "$@"; do i=$((i+1)); mkdir /sys/fs/bpf/p$i; bpftool prog loadall "$o" /sys/fs/bpf/p$i >/dev/null 2>&1; done`;
  const bpftool = () => {
    const t0 = process.hrtime.bigint();
    execFileSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script, "sh", ...objs]);
    return 1e9 / Number(process.hrtime.bigint() - t0);
  };
  const bpffs = mountBpffs(); // for the maps pinned by name
  const plexus = async () => {
    const t0 = process.hrtime.bigint();
    for (const o of objs)
      (await BpfObject.open(o).load({ pinRoot: bpffs.path, pinPolicy: "replace" })).close();
    return 1e9 / Number(process.hrtime.bigint() - t0);
  };
  // The same work in a fresh Node process, so process start and vmlinux BTF parsing count too.
  const child = fileURLToPath(new URL("./bpf-load-child.js", import.meta.url));
  const plexusProcess = () => {
    const t0 = process.hrtime.bigint();
    execFileSync(process.execPath, [child, bpffs.path, ...objs]);
    return 1e9 / Number(process.hrtime.bigint() - t0);
  };
  let arms;
  try {
    await plexus(); // warm up: JIT of the loader, vmlinux BTF
    arms = await alternate(
      [
        { name: "plexus", run: plexus },
        { name: "plexus, new process per round", run: plexusProcess },
        { name: "bpftool prog loadall", run: bpftool },
      ],
      9,
    );
  } finally {
    bpffs.cleanup();
  }
  return [
    {
      title: `load ${objs.length}-object fixture corpus`,
      unit: "corpus/s",
      arms,
      baseline: "bpftool prog loadall",
      target: { arm: "plexus", atLeast: 1 / 1.5 },
      notes: [
        "target: plexus takes no more than 1.5x libbpf's time (ratio >= 0.67)",
        "bpftool's figure includes its process start; 'plexus' runs in a warm process (as the daemon does), 'new process per round' pays Node's start and the vmlinux BTF parse",
      ],
    },
  ];
}
