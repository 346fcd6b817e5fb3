import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Btf,
  BtfExt,
  CORE_POISON_IMM,
  CoreReloKind,
  applyCoreRelocations,
  coreKindName,
  vmlinuxBtf,
  VMLINUX_BTF_PATH,
} from "../../src/bpf/btf/index.js";
import type { AppliedCoreRelocation } from "../../src/bpf/btf/index.js";
import { decode, encode } from "../../src/bpf/insn/index.js";
import type { Instruction } from "../../src/bpf/insn/index.js";
import { bpftoolTypes, btfSection, closeFd, compileFixture, loadProg } from "./helpers.js";
import type { BpftoolType } from "./helpers.js";

const fixture = compileFixture("btf_core_reads.c", true);
const PROG_TYPE_KPROBE = 2;
const PROG_TYPE_TRACING = 26;
const BPF_TRACE_RAW_TP = 23;

// ---- ground truth from `bpftool btf dump file /sys/kernel/btf/vmlinux` -------------------------

let oracle: BpftoolType[] | undefined;
const truth = () => (oracle ??= bpftoolTypes(VMLINUX_BTF_PATH));
const byId = (id: number) => truth()[id - 1];
const named = (kind: string, name: string) => {
  const t = truth().find((x) => x.kind === kind && x.name === name);
  assert.ok(t, `bpftool has ${kind} ${name}`);
  return t;
};
const strip = (id: number): BpftoolType => {
  let t = byId(id);
  while (["TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"].includes(t.kind))
    t = byId(t.type_id as number);
  return t;
};
const sizeOf = (id: number): number => {
  const t = strip(id);
  if (t.kind === "PTR") return 8;
  if (t.kind === "ARRAY") return (t.nr_elems as number) * sizeOf(t.type_id as number);
  return t.size as number;
};
interface Member {
  name: string;
  type_id: number;
  bits_offset: number;
  bitfield_size?: number;
}
/** A field of a kernel struct by name, searching anonymous members; offsets from the struct start. */
function field(struct: string, name: string): { bitOffset: number; bitfieldSize: number; typeId: number } {
  const search = (t: BpftoolType, base: number): ReturnType<typeof field> | undefined => {
    for (const m of (t.members as Member[]) ?? []) {
      if (m.name === name)
        return { bitOffset: base + m.bits_offset, bitfieldSize: m.bitfield_size ?? 0, typeId: m.type_id };
      if (m.name === "(anon)") {
        const found = search(strip(m.type_id), base + m.bits_offset);
        if (found) return found;
      }
    }
    return undefined;
  };
  const f = search(named("STRUCT", struct), 0);
  assert.ok(f, `bpftool has ${struct}.${name}`);
  return f;
}
const byteOff = (struct: string, name: string) => BigInt(field(struct, name).bitOffset / 8);
/** libbpf's bitfield load window, from bpftool's bit offset and width. */
function bitfield(struct: string, name: string) {
  const f = field(struct, name);
  let size = sizeOf(f.typeId);
  let off = Math.floor(f.bitOffset / 8 / size) * size;
  while (f.bitOffset + f.bitfieldSize - off * 8 > size * 8) {
    size *= 2;
    off = Math.floor(f.bitOffset / 8 / size) * size;
  }
  return {
    byteOff: BigInt(off),
    byteSize: BigInt(size),
    lshift: BigInt(64 - (f.bitOffset + f.bitfieldSize - off * 8)),
    rshift: BigInt(64 - f.bitfieldSize),
  };
}
const enumValue = (enumName: string, value: string) => {
  const e = named("ENUM", enumName);
  const v = (e.values as { name: string; val: number }[]).find((x) => x.name === value);
  assert.ok(v);
  return BigInt(v.val);
};

// ---- the fixture's relocations -----------------------------------------------------------------

async function relocated() {
  const { elf, path } = await fixture;
  const local = Btf.parse(btfSection(elf), { fileName: path });
  const ext = BtfExt.parse(elf.sectionByName(".BTF.ext")!.data(), local, { fileName: path });
  const sections = new Map<string, { insns: Instruction[]; applied: AppliedCoreRelocation[] }>();
  for (const [name, relos] of ext.coreRelos) {
    const insns = decode(elf.sectionByName(name)!.data());
    const indexAt = new Map<number, number>();
    let slot = 0;
    insns.forEach((insn, i) => {
      indexAt.set(slot, i);
      slot += insn.code === 0x18 ? 2 : 1;
    });
    const applied = applyCoreRelocations(insns, indexAt, relos, local, vmlinuxBtf(), {
      fileName: path,
      section: name,
    });
    sections.set(name, { insns, applied });
  }
  return { elf, local, ext, sections };
}

/** The first relocation of a kind whose readable local access is `local`. */
function find(applied: AppliedCoreRelocation[], kind: number, local: string) {
  const r = applied.find((a) => a.relo.kind === kind && a.result.local === local);
  assert.ok(r, `relocation ${coreKindName(kind)} ${local}`);
  return r;
}

test("field, type and enum relocations resolve to vmlinux's values (checked against bpftool)", async () => {
  const { sections } = await relocated();
  const a = sections.get("kprobe/do_nanosleep")!.applied;
  const K = CoreReloKind;
  const expectNew = (kind: number, local: string, value: bigint, target?: string) => {
    const r = find(a, kind, local);
    assert.equal(r.result.newVal, value, `${coreKindName(kind)} ${local}`);
    assert.equal(r.result.poison, false);
    if (target) assert.equal(r.result.target, target);
  };
  expectNew(K.FIELD_BYTE_OFFSET, "struct task_struct.pid", byteOff("task_struct", "pid"));
  expectNew(K.FIELD_BYTE_OFFSET, "struct task_struct.real_parent", byteOff("task_struct", "real_parent"));
  expectNew(K.FIELD_BYTE_OFFSET, "struct task_struct.tgid", byteOff("task_struct", "tgid"));
  expectNew(K.FIELD_BYTE_OFFSET, "struct sk_buff.len", byteOff("sk_buff", "len"));
  expectNew(K.FIELD_BYTE_OFFSET, "struct iphdr.daddr", byteOff("iphdr", "daddr"));
  expectNew(K.FIELD_BYTE_OFFSET, "struct iphdr.ttl", byteOff("iphdr", "ttl"));
  expectNew(K.FIELD_BYTE_OFFSET, "struct task_struct.comm[3]", byteOff("task_struct", "comm") + 3n);
  expectNew(K.FIELD_BYTE_SIZE, "struct sk_buff.len", BigInt(sizeOf(field("sk_buff", "len").typeId)));
  expectNew(
    K.FIELD_BYTE_SIZE,
    "struct task_struct.comm",
    BigInt(sizeOf(field("task_struct", "comm").typeId)),
  );
  expectNew(K.FIELD_EXISTS, "struct task_struct.pid", 1n);
  expectNew(K.TYPE_EXISTS, "struct sk_buff", 1n);
  expectNew(K.TYPE_SIZE, "struct iphdr", BigInt(named("STRUCT", "iphdr").size as number));
  expectNew(K.TYPE_ID_TARGET, "struct sk_buff", BigInt(named("STRUCT", "sk_buff").id));
  expectNew(
    K.ENUMVAL_VALUE,
    "enum bpf_map_type::BPF_MAP_TYPE_RINGBUF",
    enumValue("bpf_map_type", "BPF_MAP_TYPE_RINGBUF"),
  );
  expectNew(K.ENUMVAL_EXISTS, "enum bpf_map_type::BPF_MAP_TYPE_RINGBUF", 1n);
  for (const [name, signed] of [
    ["pkt_type", 0n],
    ["cloned", 0n],
  ] as const) {
    const bf = bitfield("sk_buff", name);
    const local = `struct sk_buff.${name}`;
    expectNew(K.FIELD_BYTE_OFFSET, local, bf.byteOff);
    expectNew(K.FIELD_BYTE_SIZE, local, bf.byteSize);
    expectNew(K.FIELD_LSHIFT_U64, local, bf.lshift);
    expectNew(K.FIELD_RSHIFT_U64, local, bf.rshift);
    expectNew(K.FIELD_SIGNED, local, signed);
  }
});

test("___flavor types with a different local layout relocate to the kernel's layout", async () => {
  const { sections } = await relocated();
  const a = sections.get("kprobe/do_nanosleep")!.applied;
  const K = CoreReloKind;
  const len = find(a, K.FIELD_BYTE_OFFSET, "struct sk_buff___px.len");
  assert.deepEqual([len.result.origVal, len.result.newVal], [24n, byteOff("sk_buff", "len")]);
  assert.equal(len.result.target, "struct sk_buff.len");
  assert.equal(
    find(a, K.FIELD_BYTE_OFFSET, "struct sk_buff___px.mac_len").result.newVal,
    byteOff("sk_buff", "mac_len"),
  );
  const fclone = bitfield("sk_buff", "fclone");
  assert.equal(find(a, K.FIELD_BYTE_OFFSET, "struct sk_buff___px.fclone").result.newVal, fclone.byteOff);
  assert.equal(find(a, K.FIELD_LSHIFT_U64, "struct sk_buff___px.fclone").result.newVal, fclone.lshift);
  assert.equal(find(a, K.FIELD_RSHIFT_U64, "struct sk_buff___px.fclone").result.newVal, fclone.rshift);
  assert.equal(
    find(a, K.TYPE_SIZE, "struct sk_buff___px").result.newVal,
    BigInt(named("STRUCT", "sk_buff").size as number),
  );
  const mapType = find(a, K.ENUMVAL_VALUE, "enum bpf_map_type___px::BPF_MAP_TYPE_ARRAY___px");
  assert.deepEqual(
    [mapType.result.origVal, mapType.result.newVal],
    [99n, enumValue("bpf_map_type", "BPF_MAP_TYPE_ARRAY")],
  );
});

test("missing fields, types and enumerators: existence checks give 0, reads are poisoned", async () => {
  const { sections } = await relocated();
  const { insns, applied } = sections.get("kprobe/do_nanosleep")!;
  const K = CoreReloKind;
  const zero = (kind: number, local: string) => {
    const r = find(applied, kind, local);
    assert.deepEqual([r.result.poison, r.result.newVal], [false, 0n], `${coreKindName(kind)} ${local}`);
    assert.equal(insns[r.index].imm, 0);
  };
  zero(K.FIELD_EXISTS, "struct sk_buff___px.px_no_such_field");
  zero(K.TYPE_EXISTS, "struct px_missing_type");
  zero(K.TYPE_SIZE, "struct px_missing_type");
  zero(K.ENUMVAL_EXISTS, "enum px_missing_enum::PX_MISSING_VALUE");
  for (const [kind, local] of [
    [K.FIELD_BYTE_OFFSET, "struct sk_buff___px.px_no_such_field"],
    [K.ENUMVAL_VALUE, "enum px_missing_enum::PX_MISSING_VALUE"],
  ] as const) {
    const r = find(applied, kind, local);
    assert.equal(r.result.poison, true);
    // libbpf's `call 0xbad2310`; an lddw keeps its two slots and writes the read-only r10 instead.
    const poisoned =
      insns[r.index].code === 0x18
        ? { code: 0x18, dst: 10, src: 0, off: 0, imm: CORE_POISON_IMM, imm2: 0 }
        : { code: 0x85, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM };
    assert.deepEqual(insns[r.index], poisoned);
    assert.equal(CORE_POISON_IMM, 0xbad2310);
  }
});

test("patched instructions carry the target values; loads change size only when it is safe", async () => {
  const { sections } = await relocated();
  for (const { insns, applied } of sections.values()) {
    for (const { result, index } of applied) {
      const insn = insns[index];
      if (result.poison || insn.imm === CORE_POISON_IMM) continue;
      const cls = insn.code & 7;
      const got = cls === 1 || cls === 2 || cls === 3 ? insn.off : insn.imm;
      if (result.newVal <= 0x7fffffffn)
        assert.equal(BigInt(got), result.newVal, `insn ${index} (${result.local})`);
    }
  }
  const { insns, applied } = sections.get("tp_btf/sched_switch")!;
  const narrow = find(applied, CoreReloKind.FIELD_BYTE_OFFSET, "struct sk_buff___narrow.len");
  assert.deepEqual([narrow.result.origSize, narrow.result.newSize], [2, 4]);
  assert.equal(insns[narrow.index].code, 0x61, "ldxh widened to ldxw for an unsigned field");
  assert.equal(BigInt(insns[narrow.index].off), byteOff("sk_buff", "len"));
  const signed = find(applied, CoreReloKind.FIELD_BYTE_OFFSET, "struct sk_buff___narrow.hdr_len");
  assert.equal(signed.result.failMemszAdjust, true, "a signed local int cannot be narrowed");
  assert.equal(insns[signed.index].imm, CORE_POISON_IMM);
});

/** Instructions of one program (a FUNC symbol) of a relocated section. */
function program(elf: Awaited<typeof fixture>["elf"], section: string, name: string, insns: Instruction[]) {
  const sec = elf.sectionByName(section)!;
  const sym = elf.symbolsIn(sec.index).find((s) => s.name === name)!;
  const bytes = encode(insns).subarray(sym.value, sym.value + sym.size);
  return bytes;
}

test("the kernel verifier accepts the relocated programs and rejects a reachable poison", async () => {
  const { elf, sections } = await relocated();
  const kprobe = sections.get("kprobe/do_nanosleep")!.insns;
  for (const name of ["core_reads", "core_flavors"]) {
    const r = loadProg({
      type: PROG_TYPE_KPROBE,
      insns: program(elf, "kprobe/do_nanosleep", name, kprobe),
      btfFd: 0,
    });
    closeFd(r.fd);
    assert.equal(r.errno, 0, `${name}: ${r.log}`);
  }
  const bad = loadProg({
    type: PROG_TYPE_KPROBE,
    insns: program(elf, "kprobe/do_nanosleep", "core_poison_reachable", kprobe),
    btfFd: 0,
  });
  closeFd(bad.fd);
  assert.notEqual(bad.errno, 0);
  assert.match(bad.log, /invalid func unknown#195896080/);

  const tp = sections.get("tp_btf/sched_switch")!.insns;
  const attachBtfId = vmlinuxBtf().typeByName("btf_trace_sched_switch", "typedef").id;
  const direct = loadProg({
    type: PROG_TYPE_TRACING,
    expectedAttachType: BPF_TRACE_RAW_TP,
    attachBtfId,
    insns: program(elf, "tp_btf/sched_switch", "core_direct", tp),
    btfFd: 0,
  });
  closeFd(direct.fd);
  assert.equal(direct.errno, 0, direct.log);
  const signed = loadProg({
    type: PROG_TYPE_TRACING,
    expectedAttachType: BPF_TRACE_RAW_TP,
    attachBtfId,
    insns: program(elf, "tp_btf/sched_switch", "core_direct_signed", tp),
    btfFd: 0,
  });
  closeFd(signed.fd);
  assert.match(signed.log, /invalid func unknown#195896080/, "an unsafe resize is poisoned");
});
