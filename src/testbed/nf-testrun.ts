// Runs one network function's data plane alone through BPF_PROG_TEST_RUN, with the framework's
// maps in a private bpffs: set where its ports lead, run a frame in through a port, and see the
// verdict, the output frame, which port it went out of and why it was dropped. For unit tests of
// NF data planes, without the daemon or any interface.
//
//   const t = await NfTestRun.open("nf/bridge/build/bridge.xdp.o", bpffs.path);
//   t.connect(1, { kind: "iface", ifindex: 7 });
//   const r = t.run(frame, 0);          // in through port 0
//   assert.deepEqual(r.txPorts, [1]);
import { BpfObject } from "../bpf/object/object.js";
import type { LoadedObject } from "../bpf/object/load.js";
import type { BpfMap } from "../bpf/map/map.js";
import type { BpfProgram } from "../bpf/prog/program.js";
import { possibleCpus } from "../bpf/sys/cpus.js";
import { pino } from "pino";
import type { InstanceContext } from "../core/nf-api.js";
import {
  DROP_REASONS,
  Direction,
  MAX_PORTS,
  encodeHop,
  encodeMd,
  portIndex,
  statsIndex,
  sumCounters,
  u32Key,
  type Hop,
} from "../core/dataplane/abi.js";

export interface NfRunResult {
  retval: number;
  data: Buffer;
  /** Ports whose TX counter moved during the run. */
  txPorts: number[];
  /** Drop reasons counted during the run. */
  drops: number[];
}

/** What an NF's control plane sees in NfTestRun.transparentContext(): config settable, events kept. */
export type TestInstanceContext = InstanceContext & {
  config: Record<string, unknown>;
  readonly events: { kind: string; message: string }[];
};

export class NfTestRun {
  private constructor(
    readonly loaded: LoadedObject,
    readonly program: BpfProgram,
    readonly slot: number,
  ) {}

  /** Loads an NF object (its first program unless named) into `slot` of a private patch panel. */
  static async open(
    object: string,
    pinRoot: string,
    opts: { program?: string; slot?: number } = {},
  ): Promise<NfTestRun> {
    const loaded = await BpfObject.open(object).load({ pinRoot, pinPolicy: "reuse" });
    const name = opts.program ?? [...loaded.programs.keys()][0];
    const slot = opts.slot ?? 1;
    const t = new NfTestRun(loaded, loaded.program(name), slot);
    const patch = loaded.maps.get("px_patch_xdp") ?? loaded.maps.get("px_patch_tc");
    patch?.update(u32Key(slot), u32Key(t.program.fd));
    return t;
  }

  map(name: string): BpfMap {
    return this.loaded.map(name);
  }

  /** Where packets sent out of `port` go. */
  connect(port: number, hop: Hop): void {
    this.map("px_ports").update(u32Key(portIndex(this.slot, port)), encodeHop(hop));
  }

  private counters(): bigint[] {
    const stats = this.map("px_stats");
    return Array.from(
      { length: MAX_PORTS },
      (_, p) => sumCounters(stats.lookupPerCpu(u32Key(statsIndex(this.slot, p, Direction.TX))) ?? []).packets,
    );
  }

  private dropCounts(): bigint[] {
    const drops = this.map("px_drops");
    return Array.from({ length: DROP_REASONS }, (_, r) =>
      (drops.lookupPerCpu(u32Key(this.slot * DROP_REASONS + r)) ?? []).reduce(
        (s, v) => s + Buffer.from(v).readBigUInt64LE(0),
        0n,
      ),
    );
  }

  /**
   * Makes this a transparent instance whose next hop is the host (what it hands on with px_next()
   * passes), and returns a minimal InstanceContext for its control plane: no ports, config held
   * here, events recorded, logs silent.
   */
  transparentContext(opts: {
    name: string;
    type: string;
    mode: string;
    config?: Record<string, unknown>;
  }): TestInstanceContext {
    this.map("px_after").update(u32Key(this.slot), encodeHop({ kind: "pass" }));
    let config = { ...(opts.config ?? {}) };
    const events: { kind: string; message: string }[] = [];
    return {
      name: opts.name,
      type: opts.type,
      mode: opts.mode,
      slot: this.slot,
      get config() {
        return config;
      },
      set config(c: Record<string, unknown>) {
        config = c;
      },
      events,
      ports: () => [],
      port: () => undefined,
      map: (n: string) => this.map(n),
      program: (n: string) => this.loaded.program(n),
      send: () => {
        throw new Error(`${opts.type} ${opts.name} is transparent: it has no ports to send from`);
      },
      event: (kind: string, message: string) => void events.push({ kind, message }),
      log: pino({ level: "silent" }),
    } as TestInstanceContext;
  }

  /** Runs `frame` as if it entered through `inPort`. */
  run(frame: Uint8Array, inPort: number): NfRunResult {
    const md = encodeMd(this.slot, inPort);
    this.map("px_md").updatePerCpu(
      u32Key(0),
      Array.from({ length: possibleCpus() }, () => md),
    );
    const tx0 = this.counters();
    const drops0 = this.dropCounts();
    const r = this.program.testRun({ data: frame, dataSizeOut: frame.length + 512 });
    const tx1 = this.counters();
    const drops1 = this.dropCounts();
    return {
      retval: r.retval,
      data: r.data ?? Buffer.alloc(0),
      txPorts: tx1.flatMap((v, p) => (v !== tx0[p] ? [p] : [])),
      drops: drops1.flatMap((v, i) => (v !== drops0[i] ? [i] : [])),
    };
  }

  close(): void {
    this.loaded.close();
  }
}
