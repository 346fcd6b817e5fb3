// Byte encoding of instructions (RFC 9669, little endian) and the slot <-> index mapping:
// jumps and calls count in 8-byte slots, and lddw takes two of them.
import { InsnError } from "../errors.js";
import type { Instruction } from "./instruction.js";
import { INSN_SIZE, LDDW, slots } from "./instruction.js";
import { Class, JmpOp, Op, jumpUsesImm } from "./opcodes.js";
import { Pseudo } from "../constants.js";

/**
 * Decodes raw instructions. Any opcode is accepted (use validate() to check them); only the
 * structure is enforced: whole slots, lddw followed by its second slot, and that second slot's
 * reserved fields (code, registers, offset) zero, as the kernel requires. Throws InsnError.
 */
export function decode(bytes: Uint8Array): Instruction[] {
  if (bytes.length % INSN_SIZE !== 0)
    throw new InsnError(`${bytes.length} bytes is not a whole number of ${INSN_SIZE}-byte instructions`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / INSN_SIZE;
  const out: Instruction[] = [];
  for (let slot = 0; slot < n; slot++) {
    const p = slot * INSN_SIZE;
    const regs = bytes[p + 1];
    const insn: Instruction = {
      code: bytes[p],
      dst: regs & 0x0f,
      src: regs >> 4,
      off: view.getInt16(p + 2, true),
      imm: view.getInt32(p + 4, true),
    };
    if (insn.code === LDDW) {
      if (slot + 1 >= n) throw new InsnError("lddw is missing its second slot", slot);
      const q = p + INSN_SIZE;
      if (bytes[q] !== 0 || bytes[q + 1] !== 0 || view.getInt16(q + 2, true) !== 0)
        throw new InsnError("second slot of lddw has non-zero code, registers or offset", slot + 1);
      insn.imm2 = view.getInt32(q + 4, true);
      slot++;
    }
    out.push(insn);
  }
  return out;
}

const checkField = (value: number, min: number, max: number, what: string, index: number): void => {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new InsnError(`instruction ${index}: ${what} ${value} is outside ${min}..${max}`);
};

/** Encodes instructions into their byte form. Immediates may be given signed or unsigned (32-bit). */
export function encode(insns: readonly Instruction[]): Buffer {
  const buf = Buffer.alloc(slotCount(insns) * INSN_SIZE);
  let p = 0;
  insns.forEach((insn, i) => {
    checkField(insn.code, 0, 0xff, "code", i);
    checkField(insn.dst, 0, 15, "dst", i);
    checkField(insn.src, 0, 15, "src", i);
    checkField(insn.off, -0x8000, 0x7fff, "off", i);
    checkField(insn.imm, -0x80000000, 0xffffffff, "imm", i);
    buf[p] = insn.code;
    buf[p + 1] = (insn.src << 4) | insn.dst;
    buf.writeInt16LE(insn.off, p + 2);
    buf.writeUInt32LE(insn.imm >>> 0, p + 4);
    p += INSN_SIZE;
    if (insn.code === LDDW) {
      const imm2 = insn.imm2 ?? 0;
      checkField(imm2, -0x80000000, 0xffffffff, "imm2", i);
      buf.writeUInt32LE(imm2 >>> 0, p + 4);
      p += INSN_SIZE;
    } else if (insn.imm2 !== undefined && insn.imm2 !== 0) {
      throw new InsnError(`instruction ${i}: imm2 is only meaningful on lddw`);
    }
  });
  return buf;
}

/** Total number of slots the instructions occupy. */
export const slotCount = (insns: readonly Instruction[]): number =>
  insns.reduce((n, insn) => n + slots(insn), 0);

/** The 64-bit constant of an lddw (imm is the low half, imm2 the high half). */
export const lddwValue = (insn: Instruction): bigint =>
  BigInt.asIntN(64, (BigInt(insn.imm2 ?? 0) << 32n) | BigInt(insn.imm >>> 0));

/** Splits a 64-bit constant (signed or unsigned) into lddw's two signed 32-bit halves. */
export function splitImm64(value: bigint): { imm: number; imm2: number } {
  if (value < -(1n << 63n) || value >= 1n << 64n) throw new InsnError(`${value} does not fit in 64 bits`);
  const u = BigInt.asUintN(64, value);
  return { imm: Number(BigInt.asIntN(32, u)), imm2: Number(BigInt.asIntN(32, u >> 32n)) };
}

/** Maps instruction indices to slot numbers and back, for one instruction sequence. */
export class SlotMap {
  private readonly starts: number[];
  private readonly byStart = new Map<number, number>();
  readonly totalSlots: number;

  constructor(insns: readonly Instruction[]) {
    this.starts = [];
    let slot = 0;
    insns.forEach((insn, i) => {
      this.starts.push(slot);
      this.byStart.set(slot, i);
      slot += slots(insn);
    });
    this.totalSlots = slot;
  }

  /** Slot where instruction `index` starts (index == length gives the end). */
  slotOf(index: number): number {
    if (index === this.starts.length) return this.totalSlots;
    const s = this.starts[index];
    if (s === undefined) throw new InsnError(`instruction index ${index} is out of range`);
    return s;
  }

  /** Instruction starting at `slot`, or undefined (out of range, or the second half of an lddw). */
  indexOf(slot: number): number | undefined {
    return this.byStart.get(slot);
  }
}

/**
 * Where a jump, bpf-to-bpf call or lddw of a function address (BPF_PSEUDO_FUNC) at `slot` goes,
 * as a slot number; undefined for every other instruction (helper calls, exit, arithmetic...).
 */
export function branchTarget(insn: Instruction, slot: number): number | undefined {
  const cls = insn.code & 0x07;
  if (insn.code === LDDW) return insn.src === Pseudo.FUNC ? slot + 1 + insn.imm : undefined;
  if (cls !== Class.JMP && cls !== Class.JMP32) return undefined;
  const op = insn.code & 0xf0;
  if (insn.code === Op.CALL) return insn.src === Pseudo.CALL ? slot + 1 + insn.imm : undefined;
  if (insn.code === Op.MAY_GOTO) return slot + 1 + insn.off;
  if (op === JmpOp.CALL || op === JmpOp.EXIT || op >= JmpOp.JCOND) return undefined;
  return slot + 1 + (jumpUsesImm(insn.code) ? insn.imm : insn.off);
}
