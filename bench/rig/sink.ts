// The sink: rig_sink.c attached (native XDP) to the sink's veth. Counts the generator's frames of
// the current epoch per CPU and drops them; with `verify`, checks each frame and records its flow.
import type { XdpLink } from "../../src/bpf/link/xdp.js";
import { attachXdp } from "../../src/bpf/link/xdp.js";
import type { LoadedObject } from "../../src/bpf/object/load.js";
import { withNetns, type Endpoint } from "../../src/testbed/netns.js";
import { addrText } from "./frames.js";
import { loadRigObject } from "./programs.js";

export interface SinkCounts {
  /** The current run's frames (well-formed, when verifying). */
  good: number;
  /** Generator frames of an earlier run. */
  stale: number;
  /** Anything else: neighbour discovery, MLD, frames of other tools. */
  other: number;
  /** The current run's frames that failed verification. */
  malformed: number;
  /** `good` per CPU: where the sink's work ran. */
  goodPerCpu: number[];
  /** Of the good frames sampled (one in SAMPLE_EVERY), those processed outside the generator's thread. */
  sampled: number;
  deferred: number;
}

export interface SinkOptions {
  /** Check lengths and checksums of every frame and record flows (slow: for tests). */
  verify?: boolean;
  /** Pass frames to the sink's stack instead of dropping them (so tcpdump can capture them). */
  pass?: boolean;
  /** The generator's thread id (Generator.send's `tid`), to tell inline from deferred work. */
  genTid?: number;
}

export interface SeenFlow {
  src: string;
  dst: string;
  sport: number;
  family: 4 | 6;
  frames: number;
}

const KEY0 = Buffer.alloc(4);
const NCOUNTERS = 5;
/** rig_sink.c SAMPLE_EVERY. */
const SAMPLE_EVERY = 64;

export class Sink {
  private constructor(
    private readonly obj: LoadedObject,
    private readonly link: XdpLink,
    readonly at: Endpoint,
    readonly dport: number,
  ) {}

  /** Loads the sink and attaches it to `at`, counting UDP frames to port `dport`. */
  static async attach(at: Endpoint, dport: number): Promise<Sink> {
    const obj = await loadRigObject("rig_sink");
    try {
      const link = withNetns(at.ns, () => attachXdp(obj.program("rig_sink"), at.ifname, { mode: "native" }));
      const sink = new Sink(obj, link, at, dport);
      sink.arm(0);
      return sink;
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Zeroes the counters (and recorded flows) and counts frames of `epoch` from now on. */
  arm(epoch: number, opts: SinkOptions = {}): void {
    const cfg = Buffer.alloc(16);
    cfg.writeUInt16LE(this.dport, 0);
    cfg.writeUInt16LE(epoch & 0xffff, 2);
    cfg.writeUInt32LE(opts.verify ? 1 : 0, 4);
    cfg.writeUInt32LE(opts.pass ? 1 : 0, 8);
    cfg.writeUInt32LE(opts.genTid ?? 0, 12);
    const counts = this.obj.map("sink_counts");
    const ncpu = (counts.lookupPerCpu(KEY0) ?? []).length;
    const zeros = Array.from({ length: ncpu }, () => Buffer.alloc(8));
    const key = Buffer.alloc(4);
    for (let i = 0; i < NCOUNTERS; i++) {
      key.writeUInt32LE(i);
      counts.updatePerCpu(key, zeros);
    }
    const flows = this.obj.map("sink_flows");
    for (let k = flows.nextKey(null); k; k = flows.nextKey(null)) flows.delete(k);
    this.obj.map("sink_cfg").update(KEY0, cfg);
  }

  counts(): SinkCounts {
    const counts = this.obj.map("sink_counts");
    const key = Buffer.alloc(4);
    const perCpu = (i: number) => {
      key.writeUInt32LE(i);
      return (counts.lookupPerCpu(key) ?? []).map((b) => Number(b.readBigUInt64LE(0)));
    };
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const goodPerCpu = perCpu(0);
    return {
      good: sum(goodPerCpu),
      stale: sum(perCpu(1)),
      other: sum(perCpu(2)),
      malformed: sum(perCpu(3)),
      goodPerCpu,
      sampled: sum(goodPerCpu.map((n) => Math.floor(n / SAMPLE_EVERY))),
      deferred: sum(perCpu(4)),
    };
  }

  /** Flows seen since arm() with `verify` (low 32 bits of each address). */
  flows(): SeenFlow[] {
    const out: SeenFlow[] = [];
    const m = this.obj.map("sink_flows");
    for (let k = m.nextKey(null); k; k = m.nextKey(k)) {
      const v = m.lookup(k);
      if (!v) continue;
      out.push({
        src: addrText(k.subarray(0, 4)),
        dst: addrText(k.subarray(4, 8)),
        sport: k.readUInt16LE(8),
        family: k.readUInt16LE(10) === 6 ? 6 : 4,
        frames: Number(v.readBigUInt64LE(0)),
      });
    }
    return out;
  }

  /** Whether the sink's XDP link still holds its interface (a detached sink counts nothing). */
  attached(): boolean {
    return !this.link.closed && this.link.info().ifindex === this.at.ifindex;
  }

  /** The kernel's id of the program (to check it is gone after close()). */
  get programId(): number {
    return this.obj.program("rig_sink").id;
  }

  close(): void {
    this.link.close();
    this.obj.close();
  }
}
