// CPU sets from sysfs. Per-CPU map values hold one slot per *possible* CPU (not online), in order.
import { readFileSync } from "./fs.js";
import { PlexusBpfError } from "../errors.js";

/** Parses a kernel CPU list such as "0-3,5,7-8" into the CPU numbers it names. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new PlexusBpfError(`malformed CPU list ${JSON.stringify(text)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) cpus.push(c);
  }
  return cpus;
}

let possible: number | undefined;

/** Number of possible CPUs (cached): the per-CPU slot count of per-CPU maps. */
export function possibleCpus(): number {
  possible ??= parseCpuList(readFileSync("/sys/devices/system/cpu/possible", "latin1")).length;
  return possible;
}

/** Online CPUs, e.g. to pick a CPU for BPF_F_TEST_RUN_ON_CPU. */
export const onlineCpus = (): number[] =>
  parseCpuList(readFileSync("/sys/devices/system/cpu/online", "latin1"));
