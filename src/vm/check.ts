// The memory check of both engines, in JavaScript (the interpreter and helpers use it; the JIT runs
// the same rules in WebAssembly, see jit/runtime.ts). An access of `size` bytes at `addr` is allowed
// when it lies inside the current stack frame or a caller's, or inside one region of the table
// (inside one element of array-like regions), with the access rights the region grants.
import { FRAME_SIZE, STACK_TOP } from "./layout.js";
import type { RegionTable } from "./regions.js";

export function checkAccess(
  table: RegionTable,
  perm: Uint8Array,
  addr: number,
  size: number,
  write: boolean,
  fp: number,
): boolean {
  if (addr > 0xffffffff) return false;
  const end = addr + size;
  if (addr >= fp - FRAME_SIZE && end <= STACK_TOP) return true;
  for (const r of table.all) {
    if (addr < r.lo || end > r.hi) continue;
    if (r.perm) return (perm[r.perm + addr - r.lo] & (write ? size << 4 : size)) !== 0;
    if (write && !r.writable) return false;
    if (r.stride) return ((addr - r.lo) % r.stride) + size <= r.span;
    return true;
  }
  return false;
}
