// Arithmetic of RFC 9669 on unsigned 64-bit BigInt values: the reference semantics the interpreter
// runs and the JIT's tests are checked against (division by zero gives 0, modulo by zero keeps
// the dividend, shift counts masked, signed division truncating and wrapping, sign extensions).
import { AluOp } from "../bpf/insn/opcodes.js";

const M64 = 0xffff_ffff_ffff_ffffn;
const M32 = 0xffff_ffffn;

export const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
export const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
export const u32 = (x: bigint): bigint => x & M32;
export const s32 = (x: bigint): bigint => BigInt.asIntN(32, x);

/** Reverses the low `bits` bits' bytes. */
export function bswap(x: bigint, bits: number): bigint {
  let out = 0n;
  for (let i = 0; i < bits; i += 8) out = (out << 8n) | ((x >> BigInt(i)) & 0xffn);
  return out;
}

/** One 64-bit operation: dst op src, with `off` selecting signed div/mod or the movsx width. */
export function alu64(op: number, dst: bigint, src: bigint, off: number): bigint {
  switch (op) {
    case AluOp.ADD:
      return (dst + src) & M64;
    case AluOp.SUB:
      return (dst - src) & M64;
    case AluOp.MUL:
      return (dst * src) & M64;
    case AluOp.DIV:
      if (src === 0n) return 0n;
      return off === 1 ? u64(s64(dst) / s64(src)) : dst / src;
    case AluOp.MOD:
      if (src === 0n) return dst;
      return off === 1 ? u64(s64(dst) % s64(src)) : dst % src;
    case AluOp.OR:
      return dst | src;
    case AluOp.AND:
      return dst & src;
    case AluOp.XOR:
      return dst ^ src;
    case AluOp.LSH:
      return (dst << (src & 63n)) & M64;
    case AluOp.RSH:
      return dst >> (src & 63n);
    case AluOp.ARSH:
      return u64(s64(dst) >> (src & 63n));
    case AluOp.NEG:
      return u64(-dst);
    case AluOp.MOV:
      return off === 0 ? src : u64(BigInt.asIntN(off, src));
    default:
      throw new Error(`alu64: operation 0x${op.toString(16)}`);
  }
}

/** One 32-bit operation on the low halves; the result is zero-extended. */
export function alu32(op: number, dst64: bigint, src64: bigint, off: number): bigint {
  const dst = dst64 & M32;
  const src = src64 & M32;
  switch (op) {
    case AluOp.ADD:
      return (dst + src) & M32;
    case AluOp.SUB:
      return (dst - src) & M32;
    case AluOp.MUL:
      return (dst * src) & M32;
    case AluOp.DIV:
      if (src === 0n) return 0n;
      return off === 1 ? u32(s32(dst) / s32(src)) : dst / src;
    case AluOp.MOD:
      if (src === 0n) return dst;
      return off === 1 ? u32(s32(dst) % s32(src)) : dst % src;
    case AluOp.OR:
      return dst | src;
    case AluOp.AND:
      return dst & src;
    case AluOp.XOR:
      return dst ^ src;
    case AluOp.LSH:
      return (dst << (src & 31n)) & M32;
    case AluOp.RSH:
      return dst >> (src & 31n);
    case AluOp.ARSH:
      return u32(s32(dst) >> (src & 31n));
    case AluOp.NEG:
      return u32(-dst);
    case AluOp.MOV:
      return off === 0 ? src : u32(BigInt.asIntN(off, src));
    default:
      throw new Error(`alu32: operation 0x${op.toString(16)}`);
  }
}

/** Conditional jumps: whether `op` holds between a and b (64-bit, or the low 32 bits). */
export function compare(op: number, a: bigint, b: bigint, is32: boolean): boolean {
  if (is32) {
    a &= M32;
    b &= M32;
  }
  const sa = is32 ? s32(a) : s64(a);
  const sb = is32 ? s32(b) : s64(b);
  switch (op) {
    case 0x10:
      return a === b;
    case 0x20:
      return a > b;
    case 0x30:
      return a >= b;
    case 0x40:
      return (a & b) !== 0n;
    case 0x50:
      return a !== b;
    case 0x60:
      return sa > sb;
    case 0x70:
      return sa >= sb;
    case 0xa0:
      return a < b;
    case 0xb0:
      return a <= b;
    case 0xc0:
      return sa < sb;
    case 0xd0:
      return sa <= sb;
    default:
      throw new Error(`compare: operation 0x${op.toString(16)}`);
  }
}
