// PERF_EVENT_ARRAY: bpf_perf_event_output() delivers samples to the reader registered for the
// target CPU's slot; without one the helper fails with -ENOENT, as with an empty kernel slot.
import { EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import { VmMap } from "./base.js";

export type PerfReader = (sample: Buffer, cpu: number) => void;

export class PerfEventArrayMap extends VmMap {
  readonly #readers = new Map<number, PerfReader>();

  /** Receives the samples sent to slot `index` (a CPU number): what opening a perf buffer does. */
  open(index: number, reader: PerfReader): void {
    if (index >= this.maxEntries) this.fail("BPF_MAP_UPDATE_ELEM", EINVAL);
    this.#readers.set(index, reader);
  }

  closeSlot(index: number): void {
    this.#readers.delete(index);
  }

  deliver(index: number, sample: Buffer): boolean {
    const r = this.#readers.get(index);
    if (!r) return false;
    r(sample, index);
    return true;
  }

  find(_keyAddr: number): number {
    return 0;
  }

  updateAt(): number {
    return -EINVAL;
  }

  deleteAt(keyAddr: number): number {
    return this.#readers.delete(this.mem.dv.getUint32(keyAddr, true)) ? 0 : -ENOENT;
  }

  nextKeyAt(keyAddr: number, outAddr: number): number {
    const i = keyAddr === 0 ? -1 : this.mem.dv.getUint32(keyAddr, true);
    if (i + 1 >= this.maxEntries) return -ENOENT;
    this.mem.dv.setUint32(outAddr, i + 1, true);
    return 0;
  }
}
