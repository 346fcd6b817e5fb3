// Buffers whose address is handed to the kernel. V8 may keep small typed arrays inside its heap and
// move them during GC; a Buffer over its own ArrayBuffer always has an off-heap, fixed backing store,
// so an address taken once stays valid for the Buffer's lifetime.

/** A zeroed Buffer with a stable address (safe to store in preallocated attrs). */
export const stableBuffer = (size: number): Buffer =>
  Buffer.from(new ArrayBuffer(Math.max(size, 1)), 0, size);

/** A NUL-terminated copy of a string, for pathname and license pointers. */
export const cString = (s: string): Buffer => {
  const b = stableBuffer(Buffer.byteLength(s) + 1);
  b.write(s, 0, "utf8");
  return b;
};

/** Decodes a fixed-size, NUL-padded char array. */
export const fromCString = (b: Uint8Array): string => {
  const end = b.indexOf(0);
  return Buffer.from(b.buffer, b.byteOffset, end < 0 ? b.length : end).toString("utf8");
};
