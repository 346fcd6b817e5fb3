// Every instruction variant of RFC 9669 (and the Linux extensions LLVM 19 knows), written in
// the LLVM syntax that llvm-mc-19 accepts, one instruction per line.

const ALU = ["+=", "-=", "*=", "/=", "%=", "s/=", "s%=", "|=", "&=", "<<=", ">>=", "s>>=", "^="];
const CMP = ["==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "&"];

export function llvmCorpus(): string[] {
  const out: string[] = [];
  // Arithmetic, 64 and 32 bits, immediate and register operands.
  for (const op of ALU) {
    out.push(
      `r1 ${op} r2`,
      `r3 ${op} 7`,
      `r9 ${op} -5`,
      `w1 ${op} w2`,
      `w4 ${op} 0x7fffffff`,
      `w0 ${op} -0x80000000`,
    );
  }
  out.push("r0 = 1", "r0 = -1", "r7 = 0x7fffffff", "w5 = 0xffffffff", "w1 = -2", "r1 = r10", "w9 = w3");
  out.push("r3 = -r3", "w3 = -w3");
  out.push("r1 = (s8)r2", "r1 = (s16)r2", "r1 = (s32)r2", "w1 = (s8)w2", "w1 = (s16)w2");
  for (const kind of ["be", "le", "bswap"])
    for (const bits of [16, 32, 64]) out.push(`r6 = ${kind}${bits} r6`);
  out.push("r1 = addr_space_cast(r2, 0, 1)", "r1 = addr_space_cast(r2, 1, 0)");
  // 64-bit immediates and every pseudo source.
  out.push("r1 = 0x1234 ll", "r2 = -1 ll", "r3 = 0x123456789abcdef0 ll", "r9 = -0x8000000000000000 ll");
  out.push("r0 = 0x80000000 ll", "r4 = 0xffffffffffffffff ll");
  for (let src = 0; src <= 6; src++) out.push(`ld_pseudo r${src + 1}, ${src}, ${src * 3 + 1}`);
  out.push("ld_pseudo r1, 1, -1");
  // Legacy packet loads.
  for (const t of ["u8", "u16", "u32"])
    out.push(`r0 = *(${t} *)skb[4]`, `r0 = *(${t} *)skb[-8]`, `r0 = *(${t} *)skb[r7]`);
  // Loads, sign-extending loads, stores.
  for (const t of ["u8", "u16", "u32", "u64"]) {
    out.push(
      `r0 = *(${t} *)(r1 + 4)`,
      `r9 = *(${t} *)(r10 - 8)`,
      `r2 = *(${t} *)(r3 + 0x7fff)`,
      `r2 = *(${t} *)(r3 - 0x8000)`,
    );
    out.push(`*(${t} *)(r10 - 16) = r1`, `*(${t} *)(r1 + 2) = 7`, `*(${t} *)(r1 + 0) = -3`);
    if (t !== "u64") out.push(`w3 = *(${t} *)(r4 + 12)`, `*(${t} *)(r4 + 12) = w5`);
  }
  for (const t of ["s8", "s16", "s32"]) out.push(`r0 = *(${t} *)(r1 + 4)`, `r5 = *(${t} *)(r10 - 2)`);
  // Atomics: with and without fetch, exchange, compare-exchange.
  for (const [op, name] of [
    ["+=", "add"],
    ["|=", "or"],
    ["&=", "and"],
    ["^=", "xor"],
  ]) {
    out.push(`lock *(u64 *)(r1 + 8) ${op} r2`, `lock *(u32 *)(r1 - 4) ${op} w2`);
    out.push(
      `r3 = atomic_fetch_${name}((u64 *)(r10 - 8), r3)`,
      `w3 = atomic_fetch_${name}((u32 *)(r10 - 4), w3)`,
    );
  }
  out.push("lock *(u32 *)(r1 + 0) += r2");
  out.push("r4 = xchg_64(r10 - 8, r4)", "w4 = xchg32_32(r10 - 4, w4)");
  out.push("r0 = cmpxchg_64(r10 - 8, r0, r5)", "w0 = cmpxchg32_32(r10 - 4, w0, w5)");
  // Jumps: every comparison on 64 and 32 bits, both operand kinds, both directions.
  for (const op of CMP) {
    out.push(
      `if r1 ${op} r2 goto +3`,
      `if r4 ${op} 0x10 goto -2`,
      `if w1 ${op} w2 goto +0`,
      `if w4 ${op} -1 goto +1`,
    );
  }
  out.push("goto +5", "goto -1", "goto +0x7fff", "goto -0x8000", "gotol +1", "gotol -3", "may_goto +2");
  out.push("call 1", "call 0x7fffffff", "callx r3", "exit");
  return out;
}

/** Lines with the same meaning in both syntaxes: [uBPF / bpf_conformance, LLVM]. */
export const SYNTAX_PAIRS: [string, string][] = [
  ["mov %r0, 1", "r0 = 1"],
  ["mov32 %r0, 1", "w0 = 1"],
  ["mov64 r1, r2", "r1 = r2"],
  ["mov32 r1, r2", "w1 = w2"],
  ["add r1, -4", "r1 += -4"],
  ["add32 %r1, 0x10", "w1 += 0x10"],
  ["sub r1, r2", "r1 -= r2"],
  ["mul32 r1, 3", "w1 *= 3"],
  ["div r1, r2", "r1 /= r2"],
  ["sdiv r1, r2", "r1 s/= r2"],
  ["sdiv32 r1, -3", "w1 s/= -3"],
  ["mod r1, 7", "r1 %= 7"],
  ["smod32 r1, r2", "w1 s%= w2"],
  ["or r1, 0xff", "r1 |= 0xff"],
  ["and32 r1, r2", "w1 &= w2"],
  ["lsh r1, 32", "r1 <<= 32"],
  ["rsh32 r1, 1", "w1 >>= 1"],
  ["arsh r1, r3", "r1 s>>= r3"],
  ["xor r1, r1", "r1 ^= r1"],
  ["neg r1", "r1 = -r1"],
  ["neg32 %r1", "w1 = -w1"],
  ["movsx864 r1, r2", "r1 = (s8)r2"],
  ["movsx1664 r1, r2", "r1 = (s16)r2"],
  ["movsx3264 r1, r2", "r1 = (s32)r2"],
  ["movsx832 r1, r2", "w1 = (s8)w2"],
  ["movsx1632 r1, r2", "w1 = (s16)w2"],
  ["be16 %r0", "r0 = be16 r0"],
  ["be64 r3", "r3 = be64 r3"],
  ["le32 r3", "r3 = le32 r3"],
  ["swap16 r3", "r3 = bswap16 r3"],
  ["swap64 r3", "r3 = bswap64 r3"],
  ["lddw %r0, 0x123456789", "r0 = 0x123456789 ll"],
  ["lddw r0, -1", "r0 = -1 ll"],
  ["ldxb r0, [r1]", "r0 = *(u8 *)(r1 + 0)"],
  ["ldxh r0, [r1+2]", "r0 = *(u16 *)(r1 + 2)"],
  ["ldxw %r0, [%r1+4]", "r0 = *(u32 *)(r1 + 4)"],
  ["ldxdw r0, [r10-8]", "r0 = *(u64 *)(r10 - 8)"],
  ["ldxsb r0, [r1+1]", "r0 = *(s8 *)(r1 + 1)"],
  ["ldxsh r0, [r1-2]", "r0 = *(s16 *)(r1 - 2)"],
  ["ldxsw r0, [r1]", "r0 = *(s32 *)(r1 + 0)"],
  ["stb [r10-1], 0x11", "*(u8 *)(r10 - 1) = 0x11"],
  ["sth [r10-2], -1", "*(u16 *)(r10 - 2) = -1"],
  ["stw [r1+4], 7", "*(u32 *)(r1 + 4) = 7"],
  ["stdw [r10-8], 0x44332211", "*(u64 *)(r10 - 8) = 0x44332211"],
  ["stxb [r1], r2", "*(u8 *)(r1 + 0) = r2"],
  ["stxh [r1+6], r2", "*(u16 *)(r1 + 6) = r2"],
  ["stxw [r1+4], r2", "*(u32 *)(r1 + 4) = r2"],
  ["stxdw [r10-8], r0", "*(u64 *)(r10 - 8) = r0"],
  ["ldabsb 4", "r0 = *(u8 *)skb[4]"],
  ["ldabsw -8", "r0 = *(u32 *)skb[-8]"],
  ["ldindh r3, 0", "r0 = *(u16 *)skb[r3]"],
  ["lock add [r10-8], r1", "lock *(u64 *)(r10 - 8) += r1"],
  ["lock add32 [r10-4], r1", "lock *(u32 *)(r10 - 4) += w1"],
  ["lock or [r1+8], r2", "lock *(u64 *)(r1 + 8) |= r2"],
  ["lock and32 [r1], r2", "lock *(u32 *)(r1 + 0) &= w2"],
  ["lock xor [r1], r2", "lock *(u64 *)(r1 + 0) ^= r2"],
  ["lock fetch add [r10-8], r1", "r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)"],
  ["lock fetch or32 [r10-4], r1", "w1 = atomic_fetch_or((u32 *)(r10 - 4), w1)"],
  ["lock fetch and [r2], r1", "r1 = atomic_fetch_and((u64 *)(r2 + 0), r1)"],
  ["lock fetch xor32 [r2+4], r1", "w1 = atomic_fetch_xor((u32 *)(r2 + 4), w1)"],
  ["lock xchg [r10-8], r1", "r1 = xchg_64(r10 - 8, r1)"],
  ["lock xchg32 [r10-4], r1", "w1 = xchg32_32(r10 - 4, w1)"],
  ["lock cmpxchg [r10-8], r1", "r0 = cmpxchg_64(r10 - 8, r0, r1)"],
  ["lock cmpxchg32 [r10-4], r1", "w0 = cmpxchg32_32(r10 - 4, w0, w1)"],
  ["ja +2", "goto +2"],
  ["ja -1", "goto -1"],
  ["ja32 +70000", "gotol +70000"],
  ["jeq r1, 0x5, +2", "if r1 == 0x5 goto +2"],
  ["jne %r1, %r2, -3", "if r1 != r2 goto -3"],
  ["jgt r1, 1, +0", "if r1 > 1 goto +0"],
  ["jge r1, r2, +1", "if r1 >= r2 goto +1"],
  ["jlt r1, 1, +1", "if r1 < 1 goto +1"],
  ["jle r1, r2, +1", "if r1 <= r2 goto +1"],
  ["jsgt r1, -1, +1", "if r1 s> -1 goto +1"],
  ["jsge r1, r2, +1", "if r1 s>= r2 goto +1"],
  ["jslt r1, 0, +1", "if r1 s< 0 goto +1"],
  ["jsle r1, r2, +1", "if r1 s<= r2 goto +1"],
  ["jset r1, 0x80, +1", "if r1 & 0x80 goto +1"],
  ["jeq32 r1, 5, +2", "if w1 == 5 goto +2"],
  ["jne32 r1, r2, +2", "if w1 != w2 goto +2"],
  ["jsle32 r1, -7, -2", "if w1 s<= -7 goto -2"],
  ["jset32 r1, r2, +2", "if w1 & w2 goto +2"],
  ["call 1", "call 1"],
  ["call helper 6", "call 6"],
  ["call bpf_map_lookup_elem", "call map_lookup_elem"],
  ["call %r2", "callx r2"],
  ["call helper %r5", "callx r5"],
  ["call runtime 0x2a", "call kfunc 0x2a"],
  ["lddw r1, map_by_fd(7)", "ld_pseudo r1, 1, 7"],
  ["lddw r1, map_by_idx(2)", "ld_pseudo r1, 5, 2"],
  ["lddw r1, var_addr(99)", "ld_pseudo r1, 3, 99"],
  ["lddw r1, code_addr(4)", "ld_pseudo r1, 4, 4"],
  ["lddw r1, map_val(map_by_fd(3)) + 16", "r1 = map_val(map_by_fd(3)) + 16 ll"],
  ["lddw r1, map_val(map_by_idx(3)) + 0", "r1 = map_val(map_by_idx(3)) ll"],
  ["exit", "exit"],
];
