// BPF_OBJ_GET_INFO_BY_FD for maps, programs, links and BTF objects, decoded into plain objects.
// Layouts: struct bpf_map_info / bpf_prog_info / bpf_link_info / bpf_btf_info (uapi/linux/bpf.h).
import { stableBuffer, fromCString } from "./buffers.js";
import { objGetInfoByFd } from "./bpf.js";
import { native } from "./native.js";

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  ifindex: number;
  btfVmlinuxValueTypeId: number;
  netnsDev: bigint;
  netnsIno: bigint;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  btfVmlinuxId: number;
  mapExtra: bigint;
}

const MAP_INFO_SIZE = 104;

export function mapInfo(fd: number): MapInfo {
  const b = stableBuffer(MAP_INFO_SIZE);
  objGetInfoByFd(fd, b);
  return {
    type: b.readUInt32LE(0),
    id: b.readUInt32LE(4),
    keySize: b.readUInt32LE(8),
    valueSize: b.readUInt32LE(12),
    maxEntries: b.readUInt32LE(16),
    flags: b.readUInt32LE(20),
    name: fromCString(b.subarray(24, 40)),
    ifindex: b.readUInt32LE(40),
    btfVmlinuxValueTypeId: b.readUInt32LE(44),
    netnsDev: b.readBigUInt64LE(48),
    netnsIno: b.readBigUInt64LE(56),
    btfId: b.readUInt32LE(64),
    btfKeyTypeId: b.readUInt32LE(68),
    btfValueTypeId: b.readUInt32LE(72),
    btfVmlinuxId: b.readUInt32LE(76),
    mapExtra: b.readBigUInt64LE(80),
  };
}

export interface ProgramInfo {
  type: number;
  id: number;
  /** The program's tag (hash of its instructions), as 16 hex digits. */
  tag: string;
  jitedProgLen: number;
  xlatedProgLen: number;
  /** Boot-time nanoseconds (CLOCK_BOOTTIME) at which the program was loaded. */
  loadTime: bigint;
  createdByUid: number;
  mapIds: number[];
  name: string;
  ifindex: number;
  gplCompatible: boolean;
  netnsDev: bigint;
  netnsIno: bigint;
  btfId: number;
  nrFuncInfo: number;
  nrLineInfo: number;
  /** Only counted while statistics are enabled (enableStats or kernel.bpf_stats_enabled). */
  runTimeNs: bigint;
  runCnt: bigint;
  recursionMisses: bigint;
  verifiedInsns: number;
  attachBtfObjId: number;
  attachBtfId: number;
}

const PROG_INFO_SIZE = 232;

function readProgInfo(fd: number, setup?: (b: Buffer) => void): Buffer {
  const b = stableBuffer(PROG_INFO_SIZE);
  setup?.(b);
  objGetInfoByFd(fd, b);
  return b;
}

export function programInfo(fd: number): ProgramInfo {
  const first = readProgInfo(fd);
  const nrMapIds = first.readUInt32LE(52);
  let mapIds: number[] = [];
  let b = first;
  if (nrMapIds > 0) {
    // Second pass with room for the map ids the first pass counted.
    const ids = stableBuffer(nrMapIds * 4);
    b = readProgInfo(fd, (x) => {
      x.writeUInt32LE(nrMapIds, 52);
      x.writeBigUInt64LE(native().address(ids), 56);
    });
    const n = Math.min(nrMapIds, b.readUInt32LE(52));
    mapIds = Array.from({ length: n }, (_, i) => ids.readUInt32LE(i * 4));
  }
  return {
    type: b.readUInt32LE(0),
    id: b.readUInt32LE(4),
    tag: b.subarray(8, 16).toString("hex"),
    jitedProgLen: b.readUInt32LE(16),
    xlatedProgLen: b.readUInt32LE(20),
    loadTime: b.readBigUInt64LE(40),
    createdByUid: b.readUInt32LE(48),
    mapIds,
    name: fromCString(b.subarray(64, 80)),
    ifindex: b.readUInt32LE(80),
    gplCompatible: (b.readUInt32LE(84) & 1) === 1,
    netnsDev: b.readBigUInt64LE(88),
    netnsIno: b.readBigUInt64LE(96),
    btfId: b.readUInt32LE(128),
    nrFuncInfo: b.readUInt32LE(144),
    nrLineInfo: b.readUInt32LE(148),
    runTimeNs: b.readBigUInt64LE(192),
    runCnt: b.readBigUInt64LE(200),
    recursionMisses: b.readBigUInt64LE(208),
    verifiedInsns: b.readUInt32LE(216),
    attachBtfObjId: b.readUInt32LE(220),
    attachBtfId: b.readUInt32LE(224),
  };
}

/** The program's instructions after the verifier's rewrites (xlated_prog_insns). */
export function programXlated(fd: number): Buffer {
  const len = readProgInfo(fd).readUInt32LE(20);
  const out = stableBuffer(len);
  if (len === 0) return out;
  const b = readProgInfo(fd, (x) => {
    x.writeUInt32LE(len, 20);
    x.writeBigUInt64LE(native().address(out), 32);
  });
  return out.subarray(0, Math.min(len, b.readUInt32LE(20)));
}

/** The JIT-compiled machine code (jited_prog_insns). */
export function programJited(fd: number): Buffer {
  const len = readProgInfo(fd).readUInt32LE(16);
  const out = stableBuffer(len);
  if (len === 0) return out;
  const b = readProgInfo(fd, (x) => {
    x.writeUInt32LE(len, 16);
    x.writeBigUInt64LE(native().address(out), 24);
  });
  return out.subarray(0, Math.min(len, b.readUInt32LE(16)));
}

export interface LinkInfoBasic {
  type: number;
  id: number;
  progId: number;
  /** The type-specific union (struct bpf_link_info from offset 16), for link-type decoders. */
  raw: Buffer;
}

const LINK_INFO_SIZE = 96;

export function linkInfo(fd: number): LinkInfoBasic {
  const b = stableBuffer(LINK_INFO_SIZE);
  objGetInfoByFd(fd, b);
  return { type: b.readUInt32LE(0), id: b.readUInt32LE(4), progId: b.readUInt32LE(8), raw: b.subarray(16) };
}

export interface BtfInfo {
  id: number;
  size: number;
  name: string;
  kernelBtf: boolean;
}

export function btfInfo(fd: number): BtfInfo {
  const name = stableBuffer(64);
  const b = stableBuffer(32);
  b.writeBigUInt64LE(native().address(name), 16);
  b.writeUInt32LE(name.length, 24);
  objGetInfoByFd(fd, b);
  return {
    id: b.readUInt32LE(12),
    size: b.readUInt32LE(8),
    name: fromCString(name),
    kernelBtf: b.readUInt32LE(28) !== 0,
  };
}
