// The regions a program may touch besides its stack: context, packet, map values, global data,
// input memory, reserved ring buffer records. Kept as JavaScript objects (for messages) and
// mirrored into the linear memory, where the JIT's checker scans the same table.
import { MAX_REGIONS, REGIONS, REGION_COUNT, REGION_SIZE } from "./layout.js";
import type { VmMemory } from "./memory.js";

export type RegionKind = "ctx" | "packet" | "map-value" | "global" | "input" | "ringbuf-record";

/** Region flags as the WebAssembly checker reads them. */
export const RegionFlag = { WRITABLE: 1, PERM_TABLE: 2 } as const;

export interface Region {
  kind: RegionKind;
  /** What to call it in errors: "map 'counters' values", "packet"... */
  name: string;
  lo: number;
  hi: number;
  /** Array-like regions: elements of `stride` bytes of which the first `span` are accessible. */
  stride: number;
  span: number;
  writable: boolean;
  /** Address of a per-byte rights table (the context): see context/access.ts. */
  perm: number;
  /** Slot in the table (managed here). */
  index: number;
}

export type RegionInit = Omit<Region, "index" | "stride" | "span" | "perm"> &
  Partial<Pick<Region, "stride" | "span" | "perm">>;

export class RegionTable {
  readonly #regions: Region[] = [];

  constructor(private readonly mem: VmMemory) {
    mem.u32[REGION_COUNT >> 2] = 0;
  }

  get all(): readonly Region[] {
    return this.#regions;
  }

  add(init: RegionInit): Region {
    if (this.#regions.length >= MAX_REGIONS) throw new Error(`vm: more than ${MAX_REGIONS} memory regions`);
    const r: Region = { stride: 0, span: 0, perm: 0, ...init, index: this.#regions.length };
    this.#regions.push(r);
    this.sync(r);
    this.mem.u32[REGION_COUNT >> 2] = this.#regions.length;
    return r;
  }

  remove(r: Region): void {
    const last = this.#regions.pop() as Region;
    if (last !== r) {
      last.index = r.index;
      this.#regions[r.index] = last;
      this.sync(last);
    }
    r.index = -1;
    this.mem.u32[REGION_COUNT >> 2] = this.#regions.length;
  }

  /** Writes a region's entry after its bounds changed. */
  sync(r: Region): void {
    const w = (REGIONS + r.index * REGION_SIZE) >> 2;
    const u32 = this.mem.u32;
    u32[w] = r.lo;
    u32[w + 1] = r.hi;
    u32[w + 2] = r.stride;
    u32[w + 3] = r.span;
    u32[w + 4] = (r.writable ? RegionFlag.WRITABLE : 0) | (r.perm ? RegionFlag.PERM_TABLE : 0);
    u32[w + 5] = r.perm;
  }

  /** Moves a region (the packet after adjust_head, a resized input). */
  move(r: Region, lo: number, hi: number): void {
    r.lo = lo;
    r.hi = hi;
    this.sync(r);
  }

  /** The region holding `addr`, or the one nearest to it (for error messages). */
  describe(addr: number): string {
    let best: Region | undefined;
    let dist = Infinity;
    for (const r of this.#regions) {
      if (addr >= r.lo && addr < r.hi) return r.name;
      const d = addr < r.lo ? r.lo - addr : addr - r.hi;
      if (d < dist) [best, dist] = [r, d];
    }
    if (!best || dist > 0x1000) return "no region";
    if (addr >= best.hi && dist === 0) return `no region (just past the end of ${best.name})`;
    return `no region (${dist} bytes ${addr < best.lo ? "before" : "past the end of"} ${best.name})`;
  }
}
