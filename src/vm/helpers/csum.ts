// Internet checksum arithmetic as the kernel does it on x86_64 (csum_partial, csum_add/sub,
// csum_fold, csum_replace*), on the raw (memory-order) 32- and 16-bit values.

/** csum_partial(): the 32-bit ones'-complement sum of little-endian words, plus the seed. */
export function csumPartial(u8: Uint8Array, addr: number, len: number, seed: number): number {
  let sum = seed >>> 0;
  let i = 0;
  for (; i + 4 <= len; i += 4)
    sum +=
      (u8[addr + i] | (u8[addr + i + 1] << 8) | (u8[addr + i + 2] << 16) | (u8[addr + i + 3] << 24)) >>> 0;
  if (i + 2 <= len) {
    sum += u8[addr + i] | (u8[addr + i + 1] << 8);
    i += 2;
  }
  if (i < len) sum += u8[addr + i];
  while (sum > 0xffff_ffff) sum = (sum % 0x1_0000_0000) + Math.floor(sum / 0x1_0000_0000);
  return sum >>> 0;
}

export function csumAdd(csum: number, addend: number): number {
  const res = ((csum >>> 0) + (addend >>> 0)) >>> 0;
  return (res + (res < addend >>> 0 ? 1 : 0)) >>> 0;
}

export const csumSub = (csum: number, addend: number): number => csumAdd(csum, ~addend >>> 0);

/** csum_fold(): 32 bits folded to 16 and complemented. */
export function csumFold(csum: number): number {
  let s = csum >>> 0;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** csum_from32to16(): 32 bits folded to 16, not complemented. */
export function csumFrom32to16(sum: number): number {
  const s = ((sum >>> 0) + (((sum >>> 16) | (sum << 16)) >>> 0)) >>> 0;
  return s >>> 16;
}

/** csum_replace4/2 on the 16-bit checksum `sum` (memory order): the new checksum. */
export function csumReplace(sum: number, from: number, to: number): number {
  const tmp = csumSub(~sum >>> 0, from >>> 0);
  return csumFold(csumAdd(tmp, to >>> 0));
}

/** csum_replace_by_diff(). */
export const csumReplaceByDiff = (sum: number, diff: number): number =>
  csumFold(csumAdd(diff >>> 0, ~sum >>> 0));
