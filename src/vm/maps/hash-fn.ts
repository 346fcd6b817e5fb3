// The hash of map keys, the same in JavaScript and in the JIT's WebAssembly map helpers:
// 32-bit words (then the tail bytes) mixed with a multiply and shift, then finalised.
export const HASH_SEED = 0x9747b28c;
export const HASH_MUL = 0x5bd1e995;

export function hashBytes(u8: Uint8Array, addr: number, len: number): number {
  let h = (HASH_SEED ^ len) | 0;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    const w = u8[addr + i] | (u8[addr + i + 1] << 8) | (u8[addr + i + 2] << 16) | (u8[addr + i + 3] << 24);
    h = Math.imul(h ^ w, HASH_MUL);
    h ^= h >>> 15;
  }
  for (; i < len; i++) {
    h = Math.imul(h ^ u8[addr + i], HASH_MUL);
    h ^= h >>> 15;
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
