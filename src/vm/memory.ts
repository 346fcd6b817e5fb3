// The runtime's linear memory: one WebAssembly.Memory that both engines and every map use, typed
// views over it (renewed when it grows), and a bump allocator for maps and global data.
import { PlexusBpfError } from "../bpf/errors.js";
import { HEAP, PAGE } from "./layout.js";

/** Upper bound on the linear memory (the 32-bit address space less a margin for WebAssembly). */
const MAX_PAGES = 0xffff;

export class VmMemory {
  readonly memory: WebAssembly.Memory;
  u8!: Uint8Array;
  dv!: DataView;
  u32!: Uint32Array;
  i32!: Int32Array;
  #top = HEAP;
  /** Called after the memory grew (engines holding views refresh them). */
  readonly #listeners: (() => void)[] = [];

  constructor(initialBytes = 1 << 20) {
    const pages = Math.max(Math.ceil(initialBytes / PAGE), Math.ceil((HEAP + PAGE) / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
    this.#views();
  }

  #views(): void {
    const b = this.memory.buffer;
    this.u8 = new Uint8Array(b);
    this.dv = new DataView(b);
    this.u32 = new Uint32Array(b);
    this.i32 = new Int32Array(b);
  }

  get size(): number {
    return this.memory.buffer.byteLength;
  }

  onGrow(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** Allocates `size` zeroed bytes aligned to `align` (a power of two); never freed. */
  alloc(size: number, align = 8): number {
    const at = (this.#top + align - 1) & ~(align - 1);
    const end = at + Math.max(size, 0);
    const had = this.size;
    if (end > had) {
      const pages = Math.ceil((end - this.size) / PAGE);
      const have = this.size / PAGE;
      if (have + pages > MAX_PAGES)
        throw new PlexusBpfError(
          `vm: out of memory allocating ${size} bytes (limit ${MAX_PAGES * PAGE} bytes)`,
        );
      this.memory.grow(pages);
      this.#views();
      for (const l of this.#listeners) l();
    }
    this.#top = end;
    // Memory the growth added is zero already: touching it would only commit pages.
    if (at < had) this.u8.fill(0, at, Math.min(end, had));
    return at;
  }

  /** Bytes allocated from the heap so far. */
  get heapUsed(): number {
    return this.#top - HEAP;
  }

  read(addr: number, len: number): Buffer {
    return Buffer.from(this.u8.subarray(addr, addr + len));
  }

  /** A view (no copy) valid until the memory grows. */
  view(addr: number, len: number): Buffer {
    return Buffer.from(this.u8.buffer, addr, len);
  }

  write(addr: number, bytes: Uint8Array): void {
    this.u8.set(bytes, addr);
  }

  getU64(addr: number): bigint {
    return this.dv.getBigUint64(addr, true);
  }

  setU64(addr: number, v: bigint): void {
    this.dv.setBigUint64(addr, BigInt.asUintN(64, v), true);
  }
}
