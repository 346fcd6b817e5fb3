// Tiny raw-instruction encoder for the kernel tests: enough to hand-write small programs without
// depending on the object loader. (The instruction builder in src/bpf/insn/ can replace it.)
export const R0 = 0,
  R1 = 1,
  R2 = 2,
  R3 = 3,
  R4 = 4,
  R5 = 5,
  R6 = 6,
  R7 = 7,
  R10 = 10;

export function insn(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(code, 0);
  b.writeUInt8((src << 4) | dst, 1);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm | 0, 4);
  return b;
}

export const movImm = (dst: number, imm: number): Buffer => insn(0xb7, dst, 0, 0, imm);
export const movReg = (dst: number, src: number): Buffer => insn(0xbf, dst, src, 0, 0);
export const addImm = (dst: number, imm: number): Buffer => insn(0x07, dst, 0, 0, imm);
/** dst = *(u32 *)(src + off) */
export const ldxW = (dst: number, src: number, off: number): Buffer => insn(0x61, dst, src, off, 0);
/** dst = *(u64 *)(src + off) */
export const ldxDW = (dst: number, src: number, off: number): Buffer => insn(0x79, dst, src, off, 0);
/** *(u32 *)(dst + off) = src */
export const stxW = (dst: number, src: number, off: number): Buffer => insn(0x63, dst, src, off, 0);
/** *(u64 *)(dst + off) = src */
export const stxDW = (dst: number, src: number, off: number): Buffer => insn(0x7b, dst, src, off, 0);
/** *(u32 *)(dst + off) = imm */
export const stW = (dst: number, off: number, imm: number): Buffer => insn(0x62, dst, 0, off, imm);
/** *(u64 *)(dst + off) = imm */
export const stDW = (dst: number, off: number, imm: number): Buffer => insn(0x7a, dst, 0, off, imm);
/** if dst == imm goto +off */
export const jeqImm = (dst: number, imm: number, off: number): Buffer => insn(0x15, dst, 0, off, imm);
/** if dst != imm goto +off */
export const jneImm = (dst: number, imm: number, off: number): Buffer => insn(0x55, dst, 0, off, imm);
/** if dst > src goto +off */
export const jgtReg = (dst: number, src: number, off: number): Buffer => insn(0x2d, dst, src, off, 0);
export const call = (helper: number): Buffer => insn(0x85, 0, 0, 0, helper);
export const exit = (): Buffer => insn(0x95, 0, 0, 0, 0);
/** dst = map (lddw with BPF_PSEUDO_MAP_FD): two slots. */
export const ldMapFd = (dst: number, fd: number): Buffer =>
  Buffer.concat([insn(0x18, dst, 1, 0, fd), insn(0, 0, 0, 0, 0)]);

export const program = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

/** r0 = value; exit */
export const returns = (value: number): Buffer => program(movImm(R0, value), exit());
