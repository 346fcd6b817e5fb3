// One capture instance's control plane: turns its configuration (a tcpdump expression, the snap
// length, whether to capture and to trace) into a filter program in cap_jump and the data plane's
// config record, keeps the recorder program in cap_jump current (it changes with a hot upgrade),
// reports the filter's state and the counters, and hands out the one reader of its ring.
import { ConflictError } from "../../../src/core/errors.js";
import type { InstanceContext } from "../../../src/core/nf-api.js";
import { FilterError } from "./cbpf.js";
import { loadFilter } from "./filter-program.js";
import { Jump, Maps, RECORD_PROGRAM, encodeConfig, sumStats, type CaptureStats } from "./layout.js";
import { CaptureReader } from "./reader.js";
import { MAX_SNAPLEN, compileExpression } from "./tcpdump.js";

export interface CaptureConfig {
  filter: string;
  snaplen: number;
  capture: boolean;
  trace: boolean;
  session?: string;
}

export interface FilterStatus {
  expression: string;
  snaplen: number;
  capture: boolean;
  trace: boolean;
  /** active: filtering and recording; off: capture is false; error: the filter did not load. */
  state: "active" | "off" | "error";
  /** Classic BPF instructions tcpdump compiled, eBPF instructions they became. */
  classic?: number;
  ebpf?: number;
  error?: string;
}

export function captureConfig(c: Readonly<Record<string, unknown>>): CaptureConfig {
  return {
    filter: typeof c.filter === "string" ? c.filter : "",
    snaplen: typeof c.snaplen === "number" ? c.snaplen : MAX_SNAPLEN,
    capture: c.capture !== false,
    trace: c.trace === true,
    ...(typeof c.session === "string" ? { session: c.session } : {}),
  };
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

export class CaptureInstance {
  status: FilterStatus;
  private reader: CaptureReader | undefined;
  /** Applications of the configuration run one after another, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(public ctx: InstanceContext) {
    const c = captureConfig(ctx.config);
    this.status = {
      expression: c.filter,
      snaplen: c.snaplen,
      capture: c.capture,
      trace: c.trace,
      state: "off",
    };
  }

  get hook(): "xdp" | "tc" {
    return this.ctx.mode === "tc" ? "tc" : "xdp";
  }

  /** Applies a configuration; never throws (the state and the error are in `status`). */
  apply(config: Readonly<Record<string, unknown>>): Promise<void> {
    const next = this.queue.then(() => this.applyNow(captureConfig(config)));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resolves when every configuration given so far is applied. */
  settled(): Promise<void> {
    return this.queue;
  }

  private writeConfig(c: CaptureConfig, active: boolean): void {
    this.ctx.map(Maps.config).update(u32(0), encodeConfig({ active, snaplen: c.snaplen, trace: c.trace }));
  }

  private async applyNow(c: CaptureConfig): Promise<void> {
    const base = { expression: c.filter, snaplen: c.snaplen, capture: c.capture, trace: c.trace };
    if (!c.capture) {
      this.writeConfig(c, false);
      this.status = { ...base, state: "off" };
      return;
    }
    try {
      const compiled = await compileExpression(c.filter, c.snaplen);
      const jump = this.ctx.map(Maps.jump);
      const filter = await loadFilter(compiled.program, {
        hook: this.hook,
        maps: { cpu: this.ctx.map(Maps.cpu).fd, scratch: this.ctx.map(Maps.scratch).fd },
        tailCall: { jumpMapFd: jump.fd, index: Jump.RECORD },
        // The recorder missing would leave the packet nowhere to go on to: drop, never misdeliver.
        failVerdict: this.hook === "xdp" ? 1 : 2,
      });
      try {
        // The recorder first: the filter tail-calls it from its first packet on.
        this.refreshRecorder();
        jump.update(u32(Jump.FILTER), u32(filter.program.fd));
      } finally {
        filter.program.close(); // the prog array holds it now
      }
      this.writeConfig(c, true);
      this.status = { ...base, state: "active", classic: filter.classic, ebpf: filter.ebpf };
    } catch (e) {
      // Capture nothing rather than with a filter other than the one configured.
      this.writeConfig(c, false);
      const message =
        e instanceof FilterError ? e.message : `the filter did not load: ${(e as Error).message}`;
      this.status = { ...base, state: "error", error: message };
      this.ctx.log.warn({ err: e, filter: c.filter }, "capture filter not applied");
      this.ctx.event("capture.filter-error", `${this.ctx.name}: ${message}; capturing nothing`, {
        filter: c.filter,
      });
    }
  }

  /** Points cap_jump's recorder slot at the instance's current recorder program (after upgrades). */
  refreshRecorder(): void {
    const recorder = this.ctx.program(RECORD_PROGRAM);
    const jump = this.ctx.map(Maps.jump);
    if (jump.lookup(u32(Jump.RECORD))?.readUInt32LE(0) !== recorder.id)
      jump.update(u32(Jump.RECORD), u32(recorder.fd));
  }

  stats(): CaptureStats {
    return sumStats(this.ctx.map(Maps.stats).lookupPerCpu(u32(0)) ?? []);
  }

  /**
   * The reader of the instance's ring (one at a time): records from now on; what the ring holds
   * already is dropped.
   */
  openReader(): CaptureReader {
    if (this.reader && !this.reader.closed)
      throw new ConflictError(
        `${this.ctx.name} is already being read by another capture; stop that one first (plexus capture list)`,
      );
    const reader = new CaptureReader(this.ctx.map(Maps.ring));
    this.reader = reader;
    return reader;
  }

  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }
}
