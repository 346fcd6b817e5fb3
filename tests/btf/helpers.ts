// Shared helpers of the BTF tests: fixture compilation, bpftool as the oracle, and a minimal
// BPF_BTF_LOAD (a local stand-in so these tests depend only on the native backend).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compileBpf, projectRoot, vmlinuxIncludeDir } from "../../src/build/compile-bpf.js";
import { ElfFile } from "../../src/bpf/elf/index.js";
import type { Btf, BtfType } from "../../src/bpf/btf/index.js";
import { native } from "../../src/bpf/sys/native.js";

export const fixture = (name: string) => join(projectRoot, "tests", "fixtures", name);

/** Compiles a tests/fixtures file (CO-RE fixtures get vmlinux.h) and returns its path and parsed ELF. */
export async function compileFixture(name: string, core = false) {
  const includeDirs = core ? [await vmlinuxIncludeDir()] : [];
  const path = await compileBpf(fixture(name), { includeDirs });
  const bytes = readFileSync(path);
  return { path, bytes, elf: ElfFile.parse(bytes, path) };
}

export interface BpftoolType {
  id: number;
  kind: string;
  name: string;
  [key: string]: unknown;
}

/** `bpftool -j btf dump file X`: the raw dump as JSON. */
export function bpftoolTypes(file: string): BpftoolType[] {
  const out = execFileSync("bpftool", ["-j", "btf", "dump", "file", file], { maxBuffer: 256 << 20 });
  return (JSON.parse(out.toString("utf8")) as { types: BpftoolType[] }).types;
}

const linkageName = (l: string) => l;

/** bpftool 7.1 prints a 32-bit enum value sign-extended to 64 bits even for unsigned enums. */
const bpftoolEnumVal = (kind: string, v: bigint) =>
  Number(kind === "enum" && v >= 0n ? BigInt.asUintN(64, BigInt.asIntN(32, v)) : v);
const anon = (n: string) => (n === "" ? "(anon)" : n);

/** Our type in the shape bpftool prints it, for a field-by-field comparison. */
export function asBpftool(t: BtfType): BpftoolType {
  const base = { id: t.id, kind: t.kind.toUpperCase(), name: anon(t.name) };
  switch (t.kind) {
    case "void":
      return base;
    case "int":
      return {
        ...base,
        size: t.size,
        bits_offset: t.bitOffset,
        nr_bits: t.bits,
        encoding: t.signed ? "SIGNED" : t.char ? "CHAR" : t.bool ? "BOOL" : "(none)",
      };
    case "ptr":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
      return { ...base, type_id: t.type };
    case "array":
      return { ...base, type_id: t.type, index_type_id: t.indexType, nr_elems: t.nelems };
    case "struct":
    case "union":
      return {
        ...base,
        size: t.size,
        vlen: t.members.length,
        members: t.members.map((m) => ({
          name: anon(m.name),
          type_id: m.type,
          bits_offset: m.bitOffset,
          ...(m.bitfieldSize ? { bitfield_size: m.bitfieldSize } : {}),
        })),
      };
    case "enum":
    case "enum64":
      return {
        ...base,
        encoding: t.signed ? "SIGNED" : "UNSIGNED",
        size: t.size,
        vlen: t.values.length,
        values: t.values.map((v) => ({ name: anon(v.name), val: bpftoolEnumVal(t.kind, v.value) })),
      };
    case "fwd":
      return { ...base, fwd_kind: t.union ? "union" : "struct" };
    case "func":
      return { ...base, type_id: t.type, linkage: linkageName(t.linkage) };
    case "func_proto":
      return {
        ...base,
        ret_type_id: t.returnType,
        vlen: t.params.length,
        params: t.params.map((p) => ({ name: anon(p.name), type_id: p.type })),
      };
    case "var":
      return { ...base, type_id: t.type, linkage: t.linkage };
    case "datasec":
      return {
        ...base,
        size: t.size,
        vlen: t.vars.length,
        vars: t.vars.map((v) => ({ type_id: v.type, offset: v.offset, size: v.size })),
      };
    case "float":
      return { ...base, size: t.size };
    case "decl_tag":
      return { ...base, type_id: t.type, component_idx: t.componentIdx };
  }
}

/** Loads BTF into the kernel; returns the fd (to close) or the errno and the verifier log. */
export function loadBtf(blob: Uint8Array): { fd: number; errno: number; log: string } {
  const data = Buffer.from(blob);
  const log = Buffer.alloc(1 << 20);
  const attr = Buffer.alloc(40);
  const n = native();
  attr.writeBigUInt64LE(n.address(data), 0);
  attr.writeBigUInt64LE(n.address(log), 8);
  attr.writeUInt32LE(data.length, 16);
  attr.writeUInt32LE(log.length, 20);
  attr.writeUInt32LE(1, 24);
  const r = n.bpf(18 /* BPF_BTF_LOAD */, attr, attr.length);
  const text = log.subarray(0, Math.max(0, log.indexOf(0))).toString("utf8");
  return { fd: r.ret, errno: r.ret < 0 ? r.errno : 0, log: text };
}

/** The .BTF section of a compiled fixture. */
export function btfSection(elf: ElfFile): Uint8Array {
  const s = elf.sectionByName(".BTF");
  if (!s) throw new Error("fixture has no .BTF section");
  return s.data();
}

export type { Btf };

export interface ProgLoad {
  type: number;
  insns: Uint8Array;
  btfFd: number;
  funcInfo?: Buffer;
  funcInfoCnt?: number;
  lineInfo?: Buffer;
  lineInfoCnt?: number;
  logLevel?: number;
  expectedAttachType?: number;
  attachBtfId?: number;
}

/** Minimal BPF_PROG_LOAD with BTF func_info/line_info (a local stand-in for the program loader). */
export function loadProg(p: ProgLoad): { fd: number; errno: number; log: string } {
  const n = native();
  const insns = Buffer.from(p.insns);
  const license = Buffer.from("GPL\0");
  const log = Buffer.alloc(1 << 20);
  const empty = Buffer.alloc(8);
  const fi = p.funcInfo ?? empty;
  const li = p.lineInfo ?? empty;
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(p.type, 0);
  attr.writeUInt32LE(insns.length / 8, 4);
  attr.writeBigUInt64LE(n.address(insns), 8);
  attr.writeBigUInt64LE(n.address(license), 16);
  attr.writeUInt32LE(p.logLevel ?? 1, 24);
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(n.address(log), 32);
  attr.writeUInt32LE(p.expectedAttachType ?? 0, 68);
  attr.writeUInt32LE(p.btfFd, 72);
  attr.writeUInt32LE(8, 76);
  attr.writeBigUInt64LE(p.funcInfo ? n.address(fi) : 0n, 80);
  attr.writeUInt32LE(p.funcInfoCnt ?? 0, 88);
  attr.writeUInt32LE(16, 92);
  attr.writeBigUInt64LE(p.lineInfo ? n.address(li) : 0n, 96);
  attr.writeUInt32LE(p.lineInfoCnt ?? 0, 104);
  attr.writeUInt32LE(p.attachBtfId ?? 0, 108);
  const r = n.bpf(5 /* BPF_PROG_LOAD */, attr, attr.length);
  const text = log.subarray(0, Math.max(0, log.indexOf(0))).toString("utf8");
  return { fd: r.ret, errno: r.ret < 0 ? r.errno : 0, log: text };
}

export const closeFd = (fd: number) => {
  if (fd >= 0) native().close(fd);
};
