// CPU time of a run, and where to run it. The calling thread runs the generator and, inline in
// softirq, the DUT and the sink, so the scheduler's nanosecond counter of that thread
// (/proc/thread-self/schedstat) is the pipeline's CPU time; the little work the kernel defers to
// ksoftirqd is seen by the sink (rig_sink.c samples the thread it runs on) and scaled in, rather
// than adding ksoftirqd's time, which carries other tasks' softirq work too. On a shared machine
// the wall-clock rate falls whenever other tasks get the CPU; frames per CPU-second do not, as long
// as the CPU is not also busy with other traffic's softirqs (which run inline in our thread too):
// hence quietestCpu().
import { readFileSync } from "node:fs";

export interface CpuSample {
  /** Nanoseconds this thread ran. */
  threadNs: number;
  /** Nanoseconds this thread was runnable but waiting for a CPU. */
  waitNs: number;
}

export interface CpuUse {
  /** CPU seconds of the pipeline: the thread's, scaled up by the deferred share. */
  cpuSeconds: number;
  /** Share of the sink's sampled frames processed outside the generator's thread (ksoftirqd). */
  deferred: number;
  /** Seconds the thread waited for a CPU while other tasks ran. */
  waitSeconds: number;
}

export function sampleCpu(): CpuSample {
  const [threadNs, waitNs] = readFileSync("/proc/thread-self/schedstat", "utf8")
    .trim()
    .split(/\s+/)
    .map(Number);
  return { threadNs, waitNs };
}

/** `b` - `a`. */
export const cpuDelta = (a: CpuSample, b: CpuSample): CpuSample => ({
  threadNs: b.threadNs - a.threadNs,
  waitNs: b.waitNs - a.waitNs,
});

/** CPU use of a run whose thread counters moved by `d`, `deferred` of its work seen in ksoftirqd. */
export function cpuUse(d: CpuSample, deferred: number): CpuUse {
  const thread = d.threadNs / 1e9;
  return {
    cpuSeconds: deferred < 1 ? thread / (1 - deferred) : thread,
    deferred,
    waitSeconds: d.waitNs / 1e9,
  };
}

/** NET_RX softirqs raised so far, per CPU (/proc/softirqs). */
export function netRxPerCpu(): number[] {
  const line = readFileSync("/proc/softirqs", "utf8")
    .split("\n")
    .find((l) => l.trim().startsWith("NET_RX:"));
  return line ? line.trim().split(/\s+/).slice(1).map(Number) : [];
}

/**
 * The CPU with the fewest NET_RX softirqs (other traffic) over `ms` milliseconds, and that rate
 * per second. Ties go to the higher CPU number (CPU 0 usually takes more interrupts).
 */
export async function quietestCpu(ms = 100): Promise<{ cpu: number; netRxPerSecond: number }> {
  const a = netRxPerCpu();
  await new Promise((r) => setTimeout(r, ms));
  const b = netRxPerCpu();
  let best = { cpu: 0, netRxPerSecond: Infinity };
  b.forEach((v, cpu) => {
    const rate = ((v - (a[cpu] ?? 0)) * 1000) / ms;
    if (rate <= best.netRxPerSecond) best = { cpu, netRxPerSecond: rate };
  });
  return best;
}
