// QUEUE (first in, first out) and STACK (last in, first out): keyless maps of up to maxEntries
// values, held in JavaScript. Programs push, pop and peek through helpers; user space through
// update / lookupAndDelete / lookup with a null key, as with the kernel.
import { MapType, UpdateFlags } from "../../bpf/constants.js";
import { E2BIG, EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import { VmMap } from "./base.js";

export class QueueMap extends VmMap {
  readonly #items: Buffer[] = [];

  get length(): number {
    return this.#items.length;
  }

  #head(): Buffer | undefined {
    return this.type === MapType.QUEUE ? this.#items[0] : this.#items[this.#items.length - 1];
  }

  #take(): void {
    if (this.type === MapType.QUEUE) this.#items.shift();
    else this.#items.pop();
  }

  find(_keyAddr: number): number {
    const h = this.#head();
    if (!h) return 0;
    this.mem.write(this.valBuf, h);
    return this.valBuf;
  }

  updateAt(_keyAddr: number, valueAddr: number, flags: number, _allCpus: boolean): number {
    return this.pushForProgram(valueAddr, flags);
  }

  deleteAt(_keyAddr: number): number {
    if (!this.#head()) return -ENOENT;
    this.#take();
    return 0;
  }

  nextKeyAt(_keyAddr: number, _outAddr: number): number {
    return -EINVAL;
  }

  override delete(_key: Uint8Array): boolean {
    this.fail("BPF_MAP_DELETE_ELEM", EINVAL);
  }

  override pushForProgram(valueAddr: number, flags: number): number {
    if (flags !== UpdateFlags.ANY && flags !== UpdateFlags.EXIST) return -EINVAL;
    if (this.#items.length >= this.maxEntries) {
      if (flags !== UpdateFlags.EXIST) return -E2BIG;
      this.#items.shift(); // overwrite the oldest
    }
    this.#items.push(this.mem.read(valueAddr, this.valueSize));
    return 0;
  }

  override popForProgram(valueAddr: number, remove: boolean): number {
    const h = this.#head();
    if (!h) return -ENOENT;
    this.mem.write(valueAddr, h);
    if (remove) this.#take();
    return 0;
  }
}
