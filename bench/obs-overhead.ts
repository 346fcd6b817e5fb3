// What observability costs the data plane: the plexus bridge (xdp) on the packet-rate rig under a
// real plexusd, arms alternating in one run:
//
// - counters off: the bridge and the entry stubs built with -DPX_NO_COUNTERS (nf/include/plexus.h;
//   the daemon's own objects never are), swapped in by a hot upgrade and by moving the stub links
//   to the counter-less stub;
// - counters on: the objects plexus runs (per-port packets/bytes/drops and drops by reason in
//   per-CPU maps), the daemon sampling them every second for rates;
// - counters and metrics: as on, with GET /metrics scraped every second by another process during
//   the run, which also keeps the kernel's program statistics (BPF_ENABLE_STATS) on.
//
// The target is counters and metrics within 5% of counters off. 64-byte frames, 16,384 flows; every
// frame counted at the sink. Rates per wall-clock second and per CPU-second of the pipeline.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Link } from "../src/bpf/link/link.js";
import { BpfObject } from "../src/bpf/object/object.js";
import { FRAMEWORK_DIR, FRAMEWORK_INCLUDE } from "../src/build/build-nf.js";
import { compileBpf, projectRoot } from "../src/build/compile-bpf.js";
import { onExit } from "../src/testbed/on-exit.js";
import { alternate, type ArmResult, type Comparison } from "./harness.js";
import { BenchDaemon, withRig, type DutConfig, type MeasureOptions, type Rig } from "./rig/index.js";

const ROUNDS = 7;
const TRAFFIC: MeasureOptions = { size: 64, flows: { srcPorts: 16, dstAddrs: 1024 }, frames: 6_000_000 };
const SCRAPE_EVERY_S = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bridge and the XDP stub without counters. */
async function counterlessObjects(): Promise<{ bridge: string; stub: string }> {
  const defines = { PX_HOOK_XDP: 1, PX_NO_COUNTERS: 1 };
  const bridgeDir = join(projectRoot, "nf", "bridge");
  return {
    bridge: await compileBpf(join(bridgeDir, "dataplane.c"), {
      includeDirs: [FRAMEWORK_INCLUDE, bridgeDir],
      defines,
    }),
    stub: await compileBpf(join(FRAMEWORK_DIR, "stub.c"), { includeDirs: [FRAMEWORK_INCLUDE], defines }),
  };
}

type Kind = "off" | "on" | "scraped";

/**
 * Scrapes GET /metrics every second from a separate process (as Prometheus would, only more
 * often); resolves once the first scrape is answered, so that the process's start is not measured.
 */
async function scraper(socket: string): Promise<{ stop(): Promise<number> }> {
  const script = `
    const http = require("node:http");
    let n = 0;
    const go = () => http.get({ socketPath: ${JSON.stringify(socket)}, path: "/metrics" }, (r) => {
      r.resume();
      r.on("end", () => { if (++n === 1) process.stdout.write("ready\\n"); });
    }).on("error", () => {});
    go();
    setInterval(go, ${SCRAPE_EVERY_S * 1000});
    process.on("SIGTERM", () => { process.stdout.write(String(n)); process.exit(0); });`;
  const proc = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  onExit(() => proc.kill("SIGKILL"));
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  for (let i = 0; !out.startsWith("ready"); i++) {
    if (proc.exitCode !== null || i > 400) throw new Error("the /metrics scraper did not start");
    await sleep(25);
  }
  return {
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once("exit", r)));
      return Number(out.slice("ready\n".length)) || 0;
    },
  };
}

function bridgeArm(
  kind: Kind,
  daemon: BenchDaemon,
  objects: { bridge: string; stub: string },
  scrapes: number[],
): DutConfig {
  const names: Record<Kind, string> = {
    off: "plexus bridge (xdp), counters off",
    on: "plexus bridge (xdp), counters on",
    scraped: "plexus bridge (xdp), counters on + /metrics scraped every second",
  };
  return {
    name: names[kind],
    layer: 2,
    async setup(dut) {
      const api = daemon.api;
      await api.post("/v1/instances", {
        name: "br0",
        type: "bridge",
        mode: "xdp",
        ports: [
          { name: "left", peer: dut.left.ifname },
          { name: "right", peer: dut.right.ifname },
        ],
      });
      dut.defer(() => api.delete("/v1/instances/br0").then(() => undefined));
      await api.post("/v1/instances/br0/tables/fdb", { mac: dut.sink.mac, port: "right" });
      if (kind === "off") {
        await api.call("POST", "/v1/instances/br0/upgrade/object", {
          raw: readFileSync(objects.bridge),
          contentType: "application/octet-stream",
        });
        // The stub shares the daemon's pinned maps; its links move to it (and are detached by the
        // daemon, whatever program they hold, when the instance goes).
        const stub = await dut.within(() =>
          BpfObject.open(objects.stub).load({
            pinRoot: join(daemon.bpffs.path, "plexus"),
            pinPolicy: "reuse",
          }),
        );
        dut.defer(() => stub.close());
        const dir = join(daemon.bpffs.path, "plexus", "links");
        for (const pin of readdirSync(dir).filter((n) => /_xdp$/.test(n))) {
          const link = Link.openPinned(join(dir, pin));
          try {
            link.update(stub.program("px_entry"));
          } finally {
            link.close();
          }
        }
      }
      if (kind === "scraped") {
        const s = await scraper(daemon.socket);
        dut.defer(async () => void scrapes.push(await s.stop()));
      }
    },
  };
}

async function measure(rig: Rig): Promise<Comparison[]> {
  const objects = await counterlessObjects();
  const daemon = await BenchDaemon.start(rig.dut.ns);
  const scrapes: number[] = [];
  let programStatsSeen: boolean | undefined;
  try {
    const arms = (["off", "on", "scraped"] as const).map((k) =>
      rig.arm(bridgeArm(k, daemon, objects, scrapes), TRAFFIC),
    );
    await alternate(arms, ROUNDS);
    programStatsSeen = (await daemon.api.get<{ programStats: boolean }>("/v1/stats")).programStats;
  } finally {
    await daemon.stop();
  }
  const names = ["off", "on", "scraped"].map((k) => bridgeArm(k as Kind, daemon, objects, scrapes).name);
  const runs = rig.reports.filter((r) => r.ok);
  const notes = [
    `64-byte frames, 16,384 flows, ${(TRAFFIC.frames ?? 0).toLocaleString("en")} frames a run; ${ROUNDS} alternating rounds, ${runs.length} runs, every frame counted at the sink`,
    "counters off: bridge and XDP entry stub built with -DPX_NO_COUNTERS (hot upgrade, stub links moved); on: the objects plexus runs, the daemon sampling counters every second",
    `scraped: GET /metrics every ${SCRAPE_EVERY_S} s from another process (${scrapes.reduce((a, b) => a + b, 0)} scrapes in all), which keeps the kernel's program statistics on (on at the end: ${programStatsSeen})`,
    ...(rig.anomalies.length
      ? rig.anomalies.map((a) => `run that did not add up (not used): ${a}`)
      : ["no run lost a frame"]),
  ];
  const out: Comparison[] = [];
  for (const [metric, label, unit] of [
    ["pps", "Mpps", "pps"],
    ["ppsPerCpu", "Mpps per CPU-second", "pps/CPU-s"],
  ] as const) {
    const m = rig.medians(metric);
    const arm = (n: string): ArmResult => m.get(n) ?? { name: n, median: 0, samples: [] };
    out.push({
      title: `observability overhead, bridge xdp (${label})`,
      unit,
      arms: [arm(names[2]), arm(names[1]), arm(names[0])],
      baseline: names[0],
      target: { arm: names[2], atLeast: 0.95 },
      notes: metric === "pps" ? notes : [],
    });
  }
  return out;
}

export async function run(): Promise<Comparison[]> {
  return withRig(measure, { cpu: "auto", log: (line) => process.stderr.write(`  ${line}\n`) });
}
