// The load balancer's data plane and its real control plane (cp/lb.ts) without the daemon: the
// object runs alone through BPF_PROG_TEST_RUN in a private patch panel (NfTestRun) with two ports
// (0: clients, 1: backends) leading to interfaces, and the LoadBalancer class drives its maps
// through a stand-in InstanceContext. Health checks and next-hop lookups go to a stand-in world
// the test controls.
import { join } from "node:path";
import { pino } from "pino";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { buildNfPackage } from "../../../src/build/build-nf.js";
import type { BpfMap } from "../../../src/bpf/map/map.js";
import type { BpfProgram } from "../../../src/bpf/prog/program.js";
import type { HookMode, InstanceContext, PortInfo } from "../../../src/core/nf-api.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { LoadBalancer, type LbWorld } from "../../../nf/loadbalancer/cp/lb.js";
import type { Probe } from "../../../nf/loadbalancer/cp/health.js";
import type { NextHop } from "../../../nf/loadbalancer/cp/neigh.js";
import { parse, type Parsed } from "./frames.js";

export type Hook = "xdp" | "tc";
export const LB_DIR = join(projectRoot, "nf", "loadbalancer");
export const FRONT_MAC = "02:00:00:00:00:f0";
export const BACK_MAC = "02:00:00:00:00:b0";

let built: Promise<unknown> | undefined;
/** Builds the package once per process (tests run against the current C). */
export const buildLb = (): Promise<unknown> => (built ??= buildNfPackage(LB_DIR));

const PORTS: PortInfo[] = [
  {
    name: "front",
    index: 0,
    peer: { kind: "iface", ifname: "front0", ifindex: 1001, mac: FRONT_MAC },
    config: {},
  },
  {
    name: "back",
    index: 1,
    peer: { kind: "iface", ifname: "back0", ifindex: 1002, mac: BACK_MAC },
    config: {},
  },
];

class Ctx implements InstanceContext {
  readonly type = "loadbalancer";
  readonly slot: number;
  readonly log = pino({ level: "silent" });
  events: { kind: string; message: string }[] = [];
  constructor(
    readonly name: string,
    readonly mode: HookMode,
    private readonly t: NfTestRun,
    public config: Record<string, unknown>,
  ) {
    this.slot = t.slot;
  }
  ports(): PortInfo[] {
    return PORTS;
  }
  port(p: string | number): PortInfo | undefined {
    return PORTS.find((x) => x.name === p || x.index === p);
  }
  map(name: string): BpfMap {
    return this.t.map(name);
  }
  program(name: string): BpfProgram {
    return this.t.loaded.program(name);
  }
  send(): void {
    throw new Error("the load balancer sends nothing");
  }
  event(kind: string, message: string): void {
    this.events.push({ kind, message });
  }
}

/** A world the test drives: probe results by "host:port", next hops by address, its own clock. */
export class FakeWorld implements LbWorld {
  failing = new Set<string>();
  hops = new Map<string, NextHop>();
  clock = 1_000_000;
  probes = 0;
  nudged: string[] = [];
  async nextHops(addrs: readonly string[]): Promise<Map<string, NextHop>> {
    return new Map(
      addrs.flatMap((a) => (this.hops.has(a) ? [[a, this.hops.get(a) as NextHop] as const] : [])),
    );
  }
  async probe(p: Probe): Promise<string | undefined> {
    this.probes++;
    return this.failing.has(`${p.host}:${p.port}`) ? "connection refused" : undefined;
  }
  nudge(addr: string): void {
    this.nudged.push(addr);
  }
  now(): number {
    return this.clock;
  }
}

export interface Out {
  verdict: "redirect" | "pass" | "drop" | "other";
  txPorts: number[];
  frame: Buffer;
  p: Parsed;
  drops: number[];
}

export interface LbRig {
  hook: Hook;
  t: NfTestRun;
  lb: LoadBalancer;
  ctx: Ctx;
  world: FakeWorld;
  /** Runs a frame in through port `port` (0: clients, 1: backends). */
  run(frame: Buffer, port?: number): Out;
  /** Runs a frame in through port 0 without reading counters (many flows): the output frame. */
  fast(frame: Buffer): Buffer;
  /** Runs the control plane's periodic work `times` times, `stepMs` apart, letting probes settle. */
  advance(stepMs: number, times?: number): Promise<void>;
  close(): void;
}

export async function openLb(hook: Hook, config: Record<string, unknown> = {}): Promise<LbRig> {
  await buildLb();
  const bpffs: Bpffs = mountBpffs();
  let t: NfTestRun | undefined;
  try {
    t = await NfTestRun.open(join(LB_DIR, "build", `loadbalancer.${hook}.o`), bpffs.path, { slot: 1 });
    t.connect(0, { kind: "iface", ifindex: 1001 });
    t.connect(1, { kind: "iface", ifindex: 1002 });
    const ctx = new Ctx("lb1", hook, t, config);
    const world = new FakeWorld();
    const lb = new LoadBalancer(ctx, world);
    lb.start();
    const tt = t;
    let fastReady = false;
    return {
      hook,
      t,
      lb,
      ctx,
      world,
      run(frame: Buffer, port = 0): Out {
        const r = tt.run(frame, port);
        const redirect = hook === "xdp" ? r.retval === XdpAction.REDIRECT : r.retval === TcAction.REDIRECT;
        const pass = hook === "xdp" ? r.retval === XdpAction.PASS : r.retval === 0xffffffff;
        const drop = hook === "xdp" ? r.retval === XdpAction.DROP : r.retval === TcAction.SHOT;
        let p: Parsed;
        try {
          p = parse(r.data);
        } catch {
          p = { dmac: "", smac: "", src: "", dst: "", sport: 0, dport: 0, flags: 0, csumOk: false };
        }
        return {
          verdict: redirect ? "redirect" : pass ? "pass" : drop ? "drop" : "other",
          txPorts: r.txPorts,
          frame: r.data,
          p,
          drops: r.drops,
        };
      },
      fast(frame: Buffer): Buffer {
        if (!fastReady) {
          tt.run(frame, 0); // sets the packet's metadata (slot, port 0) on every CPU
          fastReady = true;
        }
        return tt.program.testRun({ data: frame, dataSizeOut: frame.length + 512 }).data ?? Buffer.alloc(0);
      },
      async advance(stepMs: number, times = 1) {
        for (let i = 0; i < times; i++) {
          world.clock += stepMs;
          lb.tick();
          // Probes and lookups are promises: let them settle.
          for (let j = 0; j < 5; j++) await new Promise((res) => setImmediate(res));
        }
      },
      close() {
        lb.destroy();
        tt.close();
        bpffs.cleanup();
      },
    };
  } catch (e) {
    t?.close();
    bpffs.cleanup();
    throw e;
  }
}
