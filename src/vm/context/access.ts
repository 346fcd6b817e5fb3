// Per-byte access rights of a context structure, as the kernel's *_is_valid_access() functions
// decide them: for each offset, which access sizes may start there, for reading (bits 0..3 for
// 1, 2, 4, 8 bytes) and for writing (bits 4..7). Both engines consult the table on every context
// access, so the kernel's context rules hold at run time instead of at load time.

export const R1 = 0x01;
export const R2 = 0x02;
export const R4 = 0x04;
export const R8 = 0x08;
export const W1 = 0x10;
export const W2 = 0x20;
export const W4 = 0x40;
export const W8 = 0x80;

export class AccessTable {
  readonly bytes: Uint8Array;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** Allows `bits` at every offset in [off, off + len) that is aligned for the sizes in bits. */
  allow(off: number, len: number, bits: number): this {
    for (let o = off; o < off + len; o++) {
      let b = 0;
      for (const [size, r, w] of [
        [1, R1, W1],
        [2, R2, W2],
        [4, R4, W4],
        [8, R8, W8],
      ] as const) {
        if (o % size !== 0 || o + size > off + len) continue;
        b |= bits & (r | w);
      }
      this.bytes[o] |= b;
    }
    return this;
  }

  /** A 32-bit field: narrow reads (1, 2, 4 bytes), and 4-byte writes when writable. */
  u32(off: number, writable = false): this {
    return this.allow(off, 4, R1 | R2 | R4 | (writable ? W4 : 0));
  }

  /** A 32-bit field read whole only (packet pointers, addresses). */
  u32Whole(off: number): this {
    return this.allow(off, 4, R4);
  }

  /** A 64-bit field accessed whole only. */
  u64(off: number, writable = false): this {
    return this.allow(off, 8, R8 | (writable ? W8 : 0));
  }
}
