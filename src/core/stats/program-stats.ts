// The kernel's program run-time statistics (BPF_ENABLE_STATS) cost a little on every run of every
// program, so they are on only while someone is looking: each look (a scrape, a stats request,
// `plexus top`) keeps them on for a linger after it; the last one to go switches them off.
import { enableStats } from "../../bpf/prog/stats.js";

export interface StatsHandle {
  close(): void;
}

export class ProgramStatsSwitch {
  private handle: StatsHandle | undefined;
  private holders = 0;
  private lingerUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly lingerMs = 60_000,
    private readonly open: () => StatsHandle = enableStats,
  ) {}

  /** Whether the kernel counts run_cnt and run_time_ns now. */
  get enabled(): boolean {
    return this.handle !== undefined;
  }

  /** Keeps statistics on for the linger from now (one look). */
  touch(): void {
    this.on();
    this.lingerUntil = Date.now() + this.lingerMs;
    this.schedule();
  }

  /** Keeps statistics on until the returned function is called (then for the linger). */
  hold(): () => void {
    this.on();
    this.holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders--;
      this.touch();
    };
  }

  /** Switches statistics off now, whoever holds them (the daemon stopping). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.handle?.close();
    this.handle = undefined;
    this.holders = 0;
  }

  private on(): void {
    if (this.handle) return;
    try {
      this.handle = this.open();
    } catch {
      // Not allowed here (no CAP_SYS_ADMIN, an old kernel): counters go on without run times.
      this.handle = undefined;
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.expire(), Math.max(0, this.lingerUntil - Date.now()));
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    if (this.holders > 0) return; // the last release touches again
    if (Date.now() < this.lingerUntil) return this.schedule();
    this.handle?.close();
    this.handle = undefined;
  }
}
