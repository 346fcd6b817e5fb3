// CPU time of a run, from the scheduler's own nanosecond counters (/proc/.../schedstat): the
// calling thread (which runs the generator and, inline in softirq, the DUT and the sink) plus the
// ksoftirqd threads (which take over softirq work that runs too long). On a shared machine the
// wall-clock rate falls whenever other tasks get the CPU; frames per CPU-second do not, and the
// thread's run-queue wait says how much it was kept off the CPU.
import { readFileSync, readdirSync } from "node:fs";

export interface CpuSample {
  /** Nanoseconds on a CPU: this thread, and ksoftirqd on every CPU. */
  threadNs: number;
  softirqdNs: number;
  /** Nanoseconds this thread was runnable but waiting for a CPU. */
  waitNs: number;
}

export interface CpuUse {
  /** Seconds of CPU the run used (thread + ksoftirqd). */
  cpuSeconds: number;
  /** Of which in ksoftirqd. */
  softirqdSeconds: number;
  /** Seconds the thread waited for a CPU while other tasks ran. */
  waitSeconds: number;
}

let softirqdPids: string[] | undefined;

function findSoftirqd(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("ksoftirqd/")) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** runtime and run-queue wait of a task, in ns (the first two fields of schedstat). */
function schedstat(path: string): [number, number] {
  const [run, wait] = readFileSync(path, "utf8").trim().split(/\s+/).map(Number);
  return [run, wait];
}

export function sampleCpu(): CpuSample {
  softirqdPids ??= findSoftirqd();
  const [threadNs, waitNs] = schedstat("/proc/thread-self/schedstat");
  let softirqdNs = 0;
  for (const pid of softirqdPids) softirqdNs += schedstat(`/proc/${pid}/schedstat`)[0];
  return { threadNs, softirqdNs, waitNs };
}

export function cpuBetween(a: CpuSample, b: CpuSample): CpuUse {
  const softirqd = b.softirqdNs - a.softirqdNs;
  return {
    cpuSeconds: (b.threadNs - a.threadNs + softirqd) / 1e9,
    softirqdSeconds: softirqd / 1e9,
    waitSeconds: (b.waitNs - a.waitNs) / 1e9,
  };
}
