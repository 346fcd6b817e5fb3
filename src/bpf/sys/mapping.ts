// Shared memory mappings of bpf objects (mmapable arrays, ring buffers). JavaScript code may still
// hold views over a mapping after it is closed, and touching unmapped memory kills the process; so
// close() swaps the pages for private anonymous ones at the same address (stale views then see
// zeros, detached from the map) and the range is unmapped only once its ArrayBuffer is collected.
import { BpfError } from "../errors.js";
import { native, type NativePointer } from "./native.js";

export const PROT_READ = 1;
export const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;

const unmapWhenCollected = new FinalizationRegistry<{ ptr: NativePointer; length: number }>((r) =>
  native().munmap(r.ptr, r.length),
);

export class Mapping {
  #closed = false;

  private constructor(
    readonly ptr: NativePointer,
    readonly length: number,
    /** The mapped memory; valid (and shared with the kernel) until close(). */
    readonly buffer: ArrayBuffer,
  ) {
    unmapWhenCollected.register(buffer, { ptr, length });
  }

  /** mmap(MAP_SHARED) of `length` bytes of fd at `offset`. */
  static map(fd: number, length: number, prot: number, offset = 0): Mapping {
    const n = native();
    const r = n.mmap(length, prot, MAP_SHARED, fd, offset);
    if (r.ret < 0) throw new BpfError("mmap", r.errno, `${length} bytes at offset ${offset} of fd ${fd}`);
    return new Mapping(r.ptr, length, n.view(r.ptr, length));
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const r = native().mmap(
      this.length,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
      -1,
      0,
      this.ptr,
    );
    // If even that fails, leave the shared mapping in place: a leak is better than a crash.
    void r;
  }
}
