// Patching one instruction with a CO-RE result (libbpf's bpf_core_patch_insn).
import type { Instruction } from "../insn/instruction.js";
import { LDDW } from "../insn/instruction.js";
import type { CoreRelocationResult } from "./core-calc.js";
import { CoreError } from "./core-error.js";

/** `call 0xbad2310`: libbpf's poison, rejected by the verifier only if reachable ("invalid func unknown#195896080"). */
export const CORE_POISON_IMM = 195896080;
const CALL = 0x85; // BPF_JMP | BPF_CALL
const R10 = 10;

const CLASS_LD = 0;
const CLASS_LDX = 1;
const CLASS_ST = 2;
const CLASS_STX = 3;
const CLASS_ALU = 4;
const CLASS_ALU64 = 7;
const SRC_X = 0x08;

const SIZE_TO_BYTES: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };
const BYTES_TO_SIZE: Record<number, number> = { 4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18 };

const u64 = (v: number | bigint) => BigInt.asUintN(64, BigInt(v));
const s32 = (v: bigint) => Number(BigInt.asIntN(32, v));

/** Replaces an instruction by one the verifier rejects if it is reachable. */
export function poisonInstruction(insn: Instruction): void {
  if (insn.code === LDDW) {
    // libbpf turns both halves into calls; our lddw is one Instruction spanning two slots, so it
    // stays an lddw (keeping every slot offset valid) that writes the read-only frame pointer:
    // rejected with "frame pointer is read only" when reachable.
    Object.assign(insn, { dst: R10, src: 0, off: 0, imm: CORE_POISON_IMM, imm2: 0 });
    delete insn.ref;
    return;
  }
  Object.assign(insn, { code: CALL, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM });
  delete insn.imm2;
  delete insn.ref;
}

/** Applies a computed relocation to its instruction. Throws CoreError on a mismatch. */
export function patchInstruction(insn: Instruction, res: CoreRelocationResult): void {
  if (res.poison) {
    poisonInstruction(insn);
    return;
  }
  const cls = insn.code & 0x07;
  const { origVal, newVal } = res;
  switch (cls) {
    case CLASS_ALU:
    case CLASS_ALU64:
      if ((insn.code & SRC_X) !== 0)
        throw new CoreError("ALU instruction with a register operand cannot be relocated");
      if (res.validate && u64(insn.imm) !== origVal)
        throw new CoreError(`unexpected ALU immediate: got ${insn.imm}, expected ${origVal} (-> ${newVal})`);
      insn.imm = s32(newVal);
      return;
    case CLASS_LDX:
    case CLASS_ST:
    case CLASS_STX: {
      if (res.validate && u64(insn.off) !== origVal)
        throw new CoreError(
          `unexpected load/store offset: got ${insn.off}, expected ${origVal} (-> ${newVal})`,
        );
      if (newVal > 32767n) throw new CoreError(`load/store offset ${newVal} does not fit the 16-bit offset`);
      if (res.failMemszAdjust) {
        // The field changed size and type in a way a resized access would misread.
        poisonInstruction(insn);
        return;
      }
      insn.off = Number(newVal);
      if (res.newSize !== res.origSize) {
        const bytes = SIZE_TO_BYTES[insn.code & 0x18];
        if (bytes !== res.origSize)
          throw new CoreError(`unexpected memory access size: got ${bytes} bytes, expected ${res.origSize}`);
        const size = BYTES_TO_SIZE[res.newSize];
        if (size === undefined) throw new CoreError(`invalid new memory access size ${res.newSize}`);
        insn.code = (insn.code & 0xe0) | size | cls;
      }
      return;
    }
    case CLASS_LD: {
      if (insn.code !== LDDW || insn.src !== 0 || insn.off !== 0)
        throw new CoreError("only a plain 64-bit immediate load (lddw, no pseudo source) can be relocated");
      const imm = BigInt(insn.imm >>> 0) | (BigInt((insn.imm2 ?? 0) >>> 0) << 32n);
      if (res.validate && imm !== origVal)
        throw new CoreError(`unexpected lddw value: got ${imm}, expected ${origVal} (-> ${newVal})`);
      insn.imm = s32(newVal);
      insn.imm2 = s32(newVal >> 32n);
      return;
    }
    default:
      throw new CoreError(`instruction with opcode 0x${insn.code.toString(16)} cannot be relocated`);
  }
}
