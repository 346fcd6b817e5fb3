// The live-frames generator: rig_gen.c run with BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES
// from inside the generator namespace (the redirect target is an ifindex there), so every frame
// leaves through the generator's veth toward the DUT. On this kernel the whole pipeline, DUT and
// sink included, then runs in softirq on the calling CPU, so the syscall's duration is the time
// the rig took to push the frames through.
import { TestRunFlags } from "../../src/bpf/constants.js";
import type { LoadedObject } from "../../src/bpf/object/load.js";
import { withNetns, type Endpoint } from "../../src/testbed/netns.js";
import { cpuDelta, sampleCpu, type CpuSample } from "./cpu-time.js";
import { buildFrame, genConfig, type FrameSpec } from "./frames.js";
import { loadRigObject } from "./programs.js";

/** The kernel's ceiling for live-frames batches (TEST_XDP_MAX_BATCH). */
export const MAX_BATCH = 256;
/** The kernel's default (NAPI_POLL_WEIGHT). */
export const DEFAULT_BATCH = 64;
/**
 * Frames per BPF_PROG_TEST_RUN call (up to about a second). A signal interrupts a test run and
 * plexus/bpf restarts it from the start (EINTR), sending again what was sent: with bounded calls a
 * restart costs at most one, the event loop runs between them (Ctrl-C works), and the frames sent
 * twice are counted by the program itself, so the sink's count is checked against what really left.
 * Not smaller: each call costs a few milliseconds of set-up (2^18-frame calls ran 7% slower).
 */
export const CHUNK = 1 << 22;

export interface SendResult {
  /** Frames the program handed to bpf_redirect() (more than asked for if a call was restarted). */
  sent: number;
  /** The same, per CPU: where the generator (and, inline, the rest of the pipeline) ran. */
  sentPerCpu: number[];
  /** Wall-clock seconds of the test runs. */
  seconds: number;
  /** How the thread's scheduler counters moved during the test runs (see cpu-time.ts). */
  cpu: CpuSample;
  /** The thread that ran the test run, as the kernel numbers it (what bpf_get_current_pid_tgid says). */
  tid: number;
}

const KEY0 = Buffer.alloc(4);

export class Generator {
  #frame: Buffer | undefined;

  private constructor(
    private readonly obj: LoadedObject,
    readonly out: Endpoint,
  ) {}

  /** Loads the generator; frames will leave through `out` (an interface in `out.ns`). */
  static async load(out: Endpoint): Promise<Generator> {
    return new Generator(await loadRigObject("rig_gen"), out);
  }

  /** Sets the frames of the next runs and restarts the flow sequence at flow 0. */
  configure(spec: FrameSpec): void {
    this.#frame = buildFrame(spec, 0);
    this.obj.map("gen_cfg").update(KEY0, genConfig(spec, this.out.ifindex));
    this.obj.map("gen_state").update(KEY0, Buffer.alloc(16));
    const sent = this.obj.map("gen_sent");
    sent.updatePerCpu(
      KEY0,
      (sent.lookupPerCpu(KEY0) ?? []).map(() => Buffer.alloc(8)),
    );
  }

  /** Sends `frames` frames (in batches of `batchSize`) and says how long it took. */
  async send(frames: number, batchSize = DEFAULT_BATCH): Promise<SendResult> {
    const data = this.#frame;
    if (!data) throw new Error("generator: configure() before send()");
    if (!Number.isInteger(frames) || frames < 1 || frames > 0xffffffff)
      throw new RangeError(`frames ${frames}: must be an integer in 1..2^32-1`);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH)
      throw new RangeError(`batch size ${batchSize}: must be an integer in 1..${MAX_BATCH}`);
    const prog = this.obj.program("rig_gen");
    let ns = 0n;
    const cpu: CpuSample = { threadNs: 0, waitNs: 0 };
    for (let left = frames; left > 0; left -= CHUNK) {
      const repeat = Math.min(left, CHUNK);
      const before = sampleCpu();
      const t0 = process.hrtime.bigint();
      withNetns(this.out.ns, () =>
        prog.testRun({ data, repeat, flags: TestRunFlags.XDP_LIVE_FRAMES, batchSize }),
      );
      ns += process.hrtime.bigint() - t0;
      const d = cpuDelta(before, sampleCpu());
      cpu.threadNs += d.threadNs;
      cpu.waitNs += d.waitNs;
      if (left > CHUNK) await new Promise((r) => setImmediate(r));
    }
    const tid = this.obj.map("gen_state").lookup(KEY0)?.readUInt32LE(8) ?? 0;
    const sentPerCpu = (this.obj.map("gen_sent").lookupPerCpu(KEY0) ?? []).map((b) =>
      Number(b.readBigUInt64LE(0)),
    );
    return { sent: sentPerCpu.reduce((a, b) => a + b, 0), sentPerCpu, seconds: Number(ns) / 1e9, cpu, tid };
  }

  /** The kernel's id of the program (to check it is gone after close()). */
  get programId(): number {
    return this.obj.program("rig_gen").id;
  }

  close(): void {
    this.obj.close();
  }
}
