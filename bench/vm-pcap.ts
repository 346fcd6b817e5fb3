// Throughput of the userspace runtime as a data plane: packets per second of plexus run --pcap on
// the stateful firewall (vm_firewall) over 20,000 packets of mixed traffic (TCP connections both
// ways, UDP, denied sources). In-process arms measure the per-packet path (JIT, interpreter, and
// the kernel called once per packet with BPF_PROG_TEST_RUN for scale); the CLI arm runs the real
// command and reports its own processing rate (process start and compilation are in the notes).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { projectRoot } from "../src/build/compile-bpf.js";
import { BpfObject } from "../src/bpf/object/object.js";
import { openObjectFile } from "../src/bpf/object/open.js";
import { PacketPipeline } from "../src/vm/dataplane.js";
import { PcapWriter } from "../src/vm/io/pcap.js";
import { runCapture } from "../src/vm/io/run.js";
import "../src/vm/jit/engine.js";
import type { EngineName } from "../src/vm/vm.js";
import { Vm } from "../src/vm/vm.js";
import { fixture } from "../tests/helpers/fixtures.js";
import { firewallSetup, firewallTraffic } from "../tests/vm/workloads.js";
import { alternate, markdownTable, median, type Arm, type Comparison } from "./harness.js";

const PACKETS = 20_000;
const ROUNDS = 5;

export async function run(): Promise<Comparison[]> {
  const path = await fixture("vm_firewall");
  const traffic = firewallTraffic(PACKETS);
  const captured = traffic.map((data, i) => ({ timeNs: BigInt(i) * 1000n, data, origLen: data.length }));
  const dir = mkdtempSync(join(tmpdir(), "pxvm-bench-"));
  const pcap = join(dir, "traffic.pcap");
  const w = new PcapWriter();
  for (const p of captured) w.add(p);
  writeFileSync(pcap, w.bytes());

  /**
   * One firewall per arm, kept across samples: the first pass opens the connections, later ones
   * find them established (steady state); the CLI arm shows the cold, single-pass case.
   */
  const pipelines: PacketPipeline[] = [];
  const inProcess = (engine: EngineName, n: number): (() => number) => {
    const vm = new Vm({ engine });
    const obj = vm.loadObject(openObjectFile(path));
    firewallSetup((name) => obj.map(name));
    const p = new PacketPipeline(vm, obj.program("firewall"), { engine });
    pipelines.push(p);
    return () => runCapture(p, captured.slice(0, n)).packetsPerSecond;
  };
  const root = process.getuid?.() === 0;
  const kernelPerPacket = async (): Promise<number> => {
    const k = await BpfObject.open(path).load();
    try {
      firewallSetup((name) => k.map(name));
      const prog = k.program("firewall");
      const n = 5000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) prog.testRun({ data: traffic[i], dataSizeOut: traffic[i].length + 512 });
      return (n * 1e9) / Number(process.hrtime.bigint() - t0);
    } finally {
      k.close();
    }
  };
  const cliWall: number[] = [];
  const cli = (): number => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      process.execPath,
      [
        join(projectRoot, "bin", "plexus.js"),
        "run",
        path,
        "--prog",
        "firewall",
        "--pcap",
        pcap,
        "--json",
        "--map",
        "deny",
        "10000000c6130000=01000000",
        "18000000c612c800=02000000",
        "--map",
        "allow",
        "00160600=01000000",
        "00500600=01000000",
        "01bb0600=01000000",
        "00351100=01000000",
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`plexus run failed: ${r.stderr}`);
    cliWall.push((PACKETS * 1e9) / Number(process.hrtime.bigint() - t0));
    return JSON.parse(r.stdout).packetsPerSecond as number;
  };
  const arms: Arm[] = [
    { name: "jit", run: inProcess("jit", PACKETS) },
    { name: "interp", run: inProcess("interp", 2000) },
    { name: "plexus run --pcap (jit)", run: cli },
    ...(root ? [{ name: "kernel, one test run per packet", run: kernelPerPacket }] : []),
  ];
  try {
    for (const a of arms) await a.run();
    const results = await alternate(arms, ROUNDS);
    return [
      {
        title: `packets/s: vm_firewall over ${PACKETS} packets of mixed traffic`,
        unit: "packets/s",
        arms: results,
        baseline: "interp",
        target: { arm: "jit", atLeast: 20 },
        notes: [
          "higher is better; in-process arms time the per-packet path of a warm runtime (one firewall per arm, connections established after the first pass)",
          `plexus run --pcap including process start, object loading and compilation: ${Math.round(median(cliWall)).toLocaleString("en")} packets/s (wall clock)`,
        ],
      },
    ];
  } finally {
    for (const p of pipelines) p.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${markdownTable(await run())}\n`);
}
