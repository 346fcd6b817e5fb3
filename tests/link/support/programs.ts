// Local stand-in for the object loader and BpfProgram/BpfMap (not in the tree yet): loads the
// programs of tests/fixtures/link_counter.c with raw bpf(2) calls. It knows the one map the
// fixture has (`counts`, an array of u64) and patches its fd into the lddw instructions that the
// ELF relocations name. Replace with BpfProgram / the object loader once they land.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compileBpf, projectRoot } from "../../../src/build/compile-bpf.js";
import { AttachType, BpfCmd, MapType, ProgType } from "../../../src/bpf/constants.js";
import { ElfFile } from "../../../src/bpf/elf/index.js";
import { native } from "../../../src/bpf/sys/native.js";

const stable = (n: number): Buffer => Buffer.from(new ArrayBuffer(n));

function bpf(cmd: number, attr: Buffer, what: string): number {
  const r = native().bpf(cmd, attr, attr.length);
  if (r.ret < 0) throw new Error(`${what}: errno ${r.errno}`);
  return r.ret;
}

/** A loaded program: what attach needs (fd, id). */
export interface TestProgram {
  readonly fd: number;
  readonly id: number;
  readonly name: string;
  close(): void;
}

/** Slots of `counts` each fixture program increments. */
export const Slot = {
  xdp_count_a: 0,
  xdp_count_b: 1,
  xdp_drop_echo: 2,
  tc_count_a: 3,
  tc_count_b: 4,
  tc_count_c: 5,
} as const;
export type FixtureProgram = keyof typeof Slot;

export interface LinkFixture {
  /** Loads one of the fixture's programs (XDP with expected_attach_type BPF_XDP). */
  load(name: FixtureProgram, opts?: { expectedAttachType?: number }): TestProgram;
  /** The count of `counts[slot]`. */
  count(slot: number): bigint;
  /** Closes the map and every program loaded through this fixture. */
  close(): void;
}

function progId(fd: number): number {
  const info = stable(256);
  const attr = stable(16);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(info.length, 4);
  attr.writeBigUInt64LE(native().address(info), 8);
  bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr, "prog info");
  return info.readUInt32LE(4); // bpf_prog_info: type, id
}

export async function loadLinkFixture(): Promise<LinkFixture> {
  const obj = await compileBpf(join(projectRoot, "tests", "fixtures", "link_counter.c"));
  const elf = ElfFile.parse(readFileSync(obj), obj);

  const mapAttr = stable(48);
  mapAttr.writeUInt32LE(MapType.ARRAY, 0);
  mapAttr.writeUInt32LE(4, 4);
  mapAttr.writeUInt32LE(8, 8);
  mapAttr.writeUInt32LE(8, 12);
  mapAttr.write("counts", 28);
  const mapFd = bpf(BpfCmd.MAP_CREATE, mapAttr, "create counts map");
  const programs: TestProgram[] = [];

  const load = (name: FixtureProgram, opts: { expectedAttachType?: number } = {}): TestProgram => {
    const sym = elf.symbolByName(name);
    if (!sym) throw new Error(`no program ${name} in ${obj}`);
    const section = elf.section(sym.sectionIndex);
    const code = stable(sym.size);
    code.set(section.data().subarray(sym.value, sym.value + sym.size));
    for (const rel of elf.relocationsFor(section.index)) {
      if (rel.offset < sym.value || rel.offset >= sym.value + sym.size) continue;
      if (rel.symbol.name !== "counts") throw new Error(`unexpected relocation against ${rel.symbol.name}`);
      const at = rel.offset - sym.value;
      code[at + 1] = (code[at + 1] & 0x0f) | (1 << 4); // src_reg = BPF_PSEUDO_MAP_FD
      code.writeInt32LE(mapFd, at + 4);
    }
    const xdp = section.name === "xdp";
    const license = stable(4);
    license.write("GPL");
    const log = stable(1 << 16);
    const attr = stable(72);
    attr.writeUInt32LE(xdp ? ProgType.XDP : ProgType.SCHED_CLS, 0);
    attr.writeUInt32LE(code.length / 8, 4);
    attr.writeBigUInt64LE(native().address(code), 8);
    attr.writeBigUInt64LE(native().address(license), 16);
    attr.writeUInt32LE(1, 24);
    attr.writeUInt32LE(log.length, 28);
    attr.writeBigUInt64LE(native().address(log), 32);
    attr.write(name.slice(0, 15), 48);
    attr.writeUInt32LE(opts.expectedAttachType ?? (xdp ? AttachType.XDP : 0), 68);
    const r = native().bpf(BpfCmd.PROG_LOAD, attr, attr.length);
    if (r.ret < 0) {
      const text = log.subarray(0, Math.max(0, log.indexOf(0))).toString();
      throw new Error(`load ${name}: errno ${r.errno}\n${text}`);
    }
    const fd = r.ret;
    let open = true;
    const prog: TestProgram = {
      fd,
      id: progId(fd),
      name,
      close() {
        if (open) native().close(fd);
        open = false;
      },
    };
    programs.push(prog);
    return prog;
  };

  const count = (slot: number): bigint => {
    const key = stable(4);
    key.writeUInt32LE(slot, 0);
    const value = stable(8);
    const attr = stable(32);
    attr.writeUInt32LE(mapFd, 0);
    attr.writeBigUInt64LE(native().address(key), 8);
    attr.writeBigUInt64LE(native().address(value), 16);
    bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, "lookup counts");
    return value.readBigUInt64LE(0);
  };

  return {
    load,
    count,
    close() {
      for (const p of programs) p.close();
      native().close(mapFd);
    },
  };
}
