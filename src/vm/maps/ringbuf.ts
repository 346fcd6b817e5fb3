// RINGBUF: records reserved, written in place, then submitted or discarded, read by user space in
// reservation order (a record still being written holds back the ones after it). The data area
// sits in the linear memory twice as long as the ring, so a record that wraps stays contiguous,
// as with the kernel's double mapping. Record sizes and the space rule are the kernel's.
import { EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import type { Region } from "../regions.js";
import { VmMap } from "./base.js";
import type { MapHost, VmMapOptions } from "./base.js";

const HDR = 8;

interface RingRecord {
  pos: number;
  len: number;
  state: "busy" | "committed" | "discarded";
  region: Region | undefined;
}

export const RingbufQuery = { AVAIL_DATA: 0, RING_SIZE: 1, CONS_POS: 2, PROD_POS: 3 } as const;

export class RingBufMap extends VmMap {
  readonly data: number;
  readonly size: number;
  #prod = 0;
  #cons = 0;
  readonly #records: RingRecord[] = [];
  readonly #byAddr = new Map<number, RingRecord>();
  /** Called when a record is committed (a wakeup). */
  onData: (() => void) | undefined;

  constructor(host: MapHost, o: VmMapOptions) {
    super(host, o);
    this.size = o.maxEntries;
    this.data = host.mem.alloc(2 * this.size, 8);
  }

  get producerPos(): number {
    return this.#prod;
  }

  get consumerPos(): number {
    return this.#cons;
  }

  /** Reserves `size` bytes: the address of the record's data, or 0 when there is no room. */
  reserve(size: number): number {
    if (size > this.size - HDR || size > 0x3fffffff) return 0;
    const len = (size + HDR + 7) & ~7;
    if (this.#prod + len - this.#cons > this.size - 1) return 0;
    const pos = this.#prod;
    this.#prod += len;
    const addr = this.data + (pos & (this.size - 1)) + HDR;
    const rec: RingRecord = { pos, len: size, state: "busy", region: undefined };
    rec.region = this.host.regions.add({
      kind: "ringbuf-record",
      name: `ring buffer record of map '${this.name}'`,
      lo: addr,
      hi: addr + size,
      writable: true,
    });
    this.#records.push(rec);
    this.#byAddr.set(addr, rec);
    return addr;
  }

  /** Whether addr is the data of a record reserved and not yet submitted or discarded. */
  isReserved(addr: number): boolean {
    return this.#byAddr.has(addr);
  }

  /** Submits (or discards) the record whose data is at addr. */
  commit(addr: number, discard: boolean): boolean {
    const rec = this.#byAddr.get(addr);
    if (!rec) return false;
    this.#byAddr.delete(addr);
    rec.state = discard ? "discarded" : "committed";
    if (rec.region) this.host.regions.remove(rec.region);
    rec.region = undefined;
    if (!discard) this.onData?.();
    return true;
  }

  /** Addresses of records reserved and not released (a run must release them all). */
  reservedRecords(): number[] {
    return [...this.#byAddr.keys()];
  }

  /** Copies `data` into a new record and submits it; false when there is no room. */
  output(bytes: Uint8Array): boolean {
    const addr = this.reserve(bytes.length);
    if (!addr) return false;
    this.mem.write(addr, bytes);
    this.commit(addr, false);
    return true;
  }

  query(flags: number): bigint {
    switch (flags) {
      case RingbufQuery.AVAIL_DATA:
        return BigInt(this.#prod - this.#cons);
      case RingbufQuery.RING_SIZE:
        return BigInt(this.size);
      case RingbufQuery.CONS_POS:
        return BigInt(this.#cons);
      case RingbufQuery.PROD_POS:
        return BigInt(this.#prod);
      default:
        return 0n;
    }
  }

  /** The next committed record (discarded ones are skipped), or undefined when none is ready. */
  read(): Buffer | undefined {
    for (;;) {
      const rec = this.#records[0];
      if (!rec || rec.state === "busy") return undefined;
      this.#records.shift();
      this.#cons += (rec.len + HDR + 7) & ~7;
      if (rec.state === "committed") {
        const addr = this.data + (rec.pos & (this.size - 1)) + HDR;
        return this.mem.read(addr, rec.len);
      }
    }
  }

  /** Every committed record ready to be read, in order. */
  drain(): Buffer[] {
    const out: Buffer[] = [];
    for (let r = this.read(); r; r = this.read()) out.push(r);
    return out;
  }

  find(_keyAddr: number): number {
    return 0;
  }

  updateAt(): number {
    return -EINVAL;
  }

  deleteAt(): number {
    return -EINVAL;
  }

  nextKeyAt(): number {
    return -ENOENT;
  }
}
