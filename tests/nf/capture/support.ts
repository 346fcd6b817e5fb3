// Shared by the capture NF's data-plane tests: the framework's entry stub, a capture instance in
// slot 1 and a wire instance in slot 2, all in a private bpffs with the framework's maps, driven by
// BPF_PROG_TEST_RUN through the stub as a host interface would (so hop counts and the per-packet
// trace behave as in a running daemon); the capture control plane on top through a stand-in
// InstanceContext with the real maps.
import { join } from "node:path";
import { pino } from "pino";
import { BpfObject } from "../../../src/bpf/object/object.js";
import type { LoadedObject } from "../../../src/bpf/object/load.js";
import type { BpfMap } from "../../../src/bpf/map/map.js";
import type { BpfProgram } from "../../../src/bpf/prog/program.js";
import { RingBufferReader } from "../../../src/bpf/ringbuf/reader.js";
import { FRAMEWORK_DIR } from "../../../src/build/build-nf.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import {
  Direction,
  encodeHop,
  ifaceKey,
  statsIndex,
  sumCounters,
  u32Key,
  type Hop,
} from "../../../src/core/dataplane/abi.js";
import type { HookMode, InstanceContext, PortInfo } from "../../../src/core/nf-api.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { CaptureInstance } from "../../../nf/capture/cp/capture.js";
import { decodeTrace, type TraceRecord } from "../../../nf/capture/cp/trace.js";

/** A stand-in for the hypervisor's InstanceContext: the instance's real maps and programs. */
export class FakeContext implements InstanceContext {
  readonly type = "capture";
  events: { kind: string; message: string }[] = [];
  readonly log = pino({ level: "silent" });

  constructor(
    readonly name: string,
    private readonly t: NfTestRun,
    public config: Record<string, unknown>,
    readonly mode: HookMode,
  ) {}

  get slot(): number {
    return this.t.slot;
  }
  ports(): PortInfo[] {
    return [];
  }
  port(): PortInfo | undefined {
    return undefined;
  }
  map(name: string): BpfMap {
    return this.t.map(name);
  }
  program(name: string): BpfProgram {
    return this.t.loaded.program(name);
  }
  send(): void {
    throw new Error("a capture instance sends nothing");
  }
  countDrop(): void {
    throw new Error("a capture instance drops nothing");
  }
  event(kind: string, message: string): void {
    this.events.push({ kind, message });
  }
}

export const IFINDEX_LO = 1;
/** Where the wire instance's port 1 leads: an interface index the test runs never really use. */
export const OUT_IFINDEX = 77;

export interface CaptureRig {
  hook: "xdp" | "tc";
  capture: NfTestRun;
  wire: NfTestRun;
  ctx: FakeContext;
  cp: CaptureInstance;
  /** Runs a frame in from the host interface lo, through the stub: capture, then wire port 0 -> 1. */
  send(frame: Buffer): number;
  /** Trace records in px_events since the last call. */
  traces(): TraceRecord[];
  /** Packets the wire instance sent out of port 1 (counted by the framework). */
  wireTx(): bigint;
  close(): void;
}

export async function openCaptureRig(
  hook: "xdp" | "tc",
  config: Record<string, unknown> = {},
): Promise<CaptureRig> {
  const bpffs: Bpffs = mountBpffs();
  const opened: { close(): void }[] = [];
  try {
    const capture = await NfTestRun.open(
      join(projectRoot, "nf", "capture", "build", `capture.${hook}.o`),
      bpffs.path,
      {
        program: "capture",
        slot: 1,
      },
    );
    opened.push(capture);
    const wire = await NfTestRun.open(
      join(projectRoot, "nf", "wire", "build", `wire.${hook}.o`),
      bpffs.path,
      {
        slot: 2,
      },
    );
    opened.push(wire);
    const stub: LoadedObject = await BpfObject.open(join(FRAMEWORK_DIR, "build", `stub.${hook}.o`)).load({
      pinRoot: bpffs.path,
      pinPolicy: "reuse",
    });
    opened.push(stub);
    const entry = stub.program("px_entry");
    const set = (map: string, key: Buffer, hop: Hop) => capture.map(map).update(key, encodeHop(hop));
    // lo -> capture (slot 1); after capture -> wire port 0; wire port 1 -> interface OUT_IFINDEX.
    set("px_ifaces", ifaceKey(IFINDEX_LO, Direction.RX), { kind: "slot", slot: 1, port: 0, ifindex: 0 });
    set("px_after", u32Key(1), { kind: "slot", slot: 2, port: 0, ifindex: 0 });
    wire.connect(1, { kind: "iface", ifindex: OUT_IFINDEX });
    const ctx = new FakeContext(
      "cap0",
      capture,
      { filter: "", snaplen: 262144, capture: true, trace: false, ...config },
      hook,
    );
    const cp = new CaptureInstance(ctx);
    await cp.apply(ctx.config);
    const events = new RingBufferReader(capture.map("px_events"));
    opened.push(events);
    return {
      hook,
      capture,
      wire,
      ctx,
      cp,
      send(frame) {
        if (hook === "xdp") {
          const md = Buffer.alloc(24); // struct xdp_md: data, data_end, data_meta, ingress_ifindex
          md.writeUInt32LE(frame.length, 4);
          md.writeUInt32LE(IFINDEX_LO, 12);
          return entry.testRun({ data: frame, ctx: md }).retval;
        }
        const skb = Buffer.alloc(192); // struct __sk_buff: ingress_ifindex at 36
        skb.writeUInt32LE(IFINDEX_LO, 36);
        return entry.testRun({ data: frame, ctx: skb }).retval;
      },
      traces() {
        const out: TraceRecord[] = [];
        events.drain((r) => {
          const t = decodeTrace(r);
          if (t) out.push(t);
        });
        return out;
      },
      wireTx() {
        return sumCounters(wire.map("px_stats").lookupPerCpu(u32Key(statsIndex(2, 1, Direction.TX))) ?? [])
          .packets;
      },
      close() {
        cp.close();
        for (const o of opened.reverse()) o.close();
        bpffs.cleanup();
      },
    };
  } catch (e) {
    for (const o of opened.reverse()) o.close();
    bpffs.cleanup();
    throw e;
  }
}
