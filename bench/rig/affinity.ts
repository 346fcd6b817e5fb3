// Where the rig's work runs: the calling thread (Node's main thread, whose tid is the pid) pinned
// with taskset, and the original affinity put back when the rig closes.
import { run } from "../../src/testbed/netns.js";
import { quietestCpu } from "./cpu-time.js";

/** A fixed CPU, or "auto": before each run, the CPU with the least other network traffic. */
export type CpuChoice = number | "auto";

export interface Placement {
  cpu: number;
  /** NET_RX softirqs per second on that CPU just before the run (other traffic: 0 is best). */
  otherNetRxPerSecond?: number;
}

export class ThreadAffinity {
  #current: number | undefined;

  private constructor(private readonly mask: string) {}

  /** Remembers the thread's affinity so that restore() can put it back. */
  static async save(): Promise<ThreadAffinity> {
    const { stdout } = await run("taskset", ["-p", String(process.pid)]);
    const mask = /:\s*([0-9a-f]+)\s*$/.exec(stdout)?.[1];
    if (!mask) throw new Error(`taskset -p ${process.pid}: no affinity mask in '${stdout.trim()}'`);
    return new ThreadAffinity(mask);
  }

  async pin(cpu: number): Promise<void> {
    if (this.#current === cpu) return;
    await run("taskset", ["-p", "-c", String(cpu), String(process.pid)]);
    this.#current = cpu;
  }

  /** Pins for the next run as `choice` says. */
  async place(choice: CpuChoice): Promise<Placement> {
    if (choice !== "auto") {
      await this.pin(choice);
      return { cpu: choice };
    }
    const q = await quietestCpu();
    await this.pin(q.cpu);
    return { cpu: q.cpu, otherNetRxPerSecond: q.netRxPerSecond };
  }

  async restore(): Promise<void> {
    await run("taskset", ["-p", this.mask, String(process.pid)]);
    this.#current = undefined;
  }
}
