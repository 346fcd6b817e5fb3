// bpf(2) commands the link code needs, encoded from include/uapi/linux/bpf.h (Linux 6.18). Each
// call passes the attr only up to its last field, as libbpf does, so older kernels see no tail.
import { BpfCmd, cmdName } from "../constants.js";
import { BpfError } from "../errors.js";
import { ENOENT, ENOSPC } from "../sys/errno.js";
import { native, type SysResult } from "../sys/native.js";

/** A zeroed buffer over its own ArrayBuffer: off-heap, so an address taken from it stays valid. */
export const stableBuffer = (size: number): Buffer =>
  Buffer.from(new ArrayBuffer(Math.max(size, 1)), 0, size);

const cString = (s: string): Buffer => {
  const b = stableBuffer(Buffer.byteLength(s) + 1);
  b.write(s, 0, "utf8");
  return b;
};

const addr = (b: Buffer): bigint => native().address(b);

function call(cmd: number, attr: Buffer, size: number, detail?: string): number {
  const r = native().bpf(cmd, attr, size);
  if (r.ret < 0) throw new BpfError(cmdName(cmd), r.errno, detail);
  return r.ret;
}

export interface LinkCreateArgs {
  progFd: number;
  /** Target ifindex (XDP, TCX) or fd. */
  target: number;
  attachType: number;
  flags?: number;
  /** TCX: relative_fd / relative_id. */
  relative?: number;
  /** TCX: expected_revision (0: any). */
  expectedRevision?: bigint;
}

/** BPF_LINK_CREATE; returns the raw result so callers can explain each errno. */
export function linkCreate(a: LinkCreateArgs): SysResult {
  const tcx = a.relative !== undefined || a.expectedRevision !== undefined;
  const b = stableBuffer(32); // prog_fd, target, attach_type, flags, then tcx {relative, pad, expected_revision}
  b.writeUInt32LE(a.progFd >>> 0, 0);
  b.writeUInt32LE(a.target >>> 0, 4);
  b.writeUInt32LE(a.attachType >>> 0, 8);
  b.writeUInt32LE((a.flags ?? 0) >>> 0, 12);
  b.writeUInt32LE((a.relative ?? 0) >>> 0, 16);
  b.writeBigUInt64LE(a.expectedRevision ?? 0n, 24);
  return native().bpf(BpfCmd.LINK_CREATE, b, tcx ? 32 : 16);
}

/** BPF_LINK_UPDATE; with `oldProgFd`, BPF_F_REPLACE makes it fail unless that program is attached. */
export function linkUpdate(linkFd: number, newProgFd: number, oldProgFd?: number): void {
  const BPF_F_REPLACE = 1 << 2;
  const b = stableBuffer(16);
  b.writeUInt32LE(linkFd >>> 0, 0);
  b.writeUInt32LE(newProgFd >>> 0, 4);
  if (oldProgFd !== undefined) {
    b.writeUInt32LE(BPF_F_REPLACE, 8);
    b.writeUInt32LE(oldProgFd >>> 0, 12);
  }
  call(BpfCmd.LINK_UPDATE, b, 16);
}

export function linkDetach(linkFd: number): void {
  const b = stableBuffer(4);
  b.writeUInt32LE(linkFd >>> 0, 0);
  call(BpfCmd.LINK_DETACH, b, 4);
}

export function objPin(fd: number, path: string): void {
  const p = cString(path);
  const b = stableBuffer(16);
  b.writeBigUInt64LE(addr(p), 0);
  b.writeUInt32LE(fd >>> 0, 8);
  call(BpfCmd.OBJ_PIN, b, 16, path);
}

export function objGet(path: string): number {
  const p = cString(path);
  const b = stableBuffer(16);
  b.writeBigUInt64LE(addr(p), 0);
  return call(BpfCmd.OBJ_GET, b, 16, path);
}

export function linkGetFdById(id: number): number {
  const b = stableBuffer(12);
  b.writeUInt32LE(id >>> 0, 0);
  return call(BpfCmd.LINK_GET_FD_BY_ID, b, 12, `link id ${id}`);
}

export function progGetFdById(id: number): number {
  const b = stableBuffer(12);
  b.writeUInt32LE(id >>> 0, 0);
  return call(BpfCmd.PROG_GET_FD_BY_ID, b, 12, `program id ${id}`);
}

/** BPF_LINK_GET_NEXT_ID: the next link id after `start`, or undefined at the end. */
export function linkGetNextId(start: number): number | undefined {
  const b = stableBuffer(12);
  b.writeUInt32LE(start >>> 0, 0);
  const r = native().bpf(BpfCmd.LINK_GET_NEXT_ID, b, 12);
  if (r.ret < 0) {
    if (r.errno === ENOENT) return undefined;
    throw new BpfError(cmdName(BpfCmd.LINK_GET_NEXT_ID), r.errno);
  }
  return b.readUInt32LE(4);
}

/** BPF_OBJ_GET_INFO_BY_FD into `info`; returns how many bytes the kernel filled. */
export function objGetInfo(fd: number, info: Buffer): number {
  const b = stableBuffer(16);
  b.writeUInt32LE(fd >>> 0, 0);
  b.writeUInt32LE(info.length, 4);
  b.writeBigUInt64LE(addr(info), 8);
  call(BpfCmd.OBJ_GET_INFO_BY_FD, b, 16);
  return b.readUInt32LE(4);
}

export interface ProgQueryResult {
  progIds: number[];
  /** Link id per program (0 for programs attached without a link). */
  linkIds: number[];
  revision: bigint;
}

/** BPF_PROG_QUERY for multi-program hooks (TCX): ids in run order, growing the arrays as needed. */
export function progQuery(targetIfindex: number, attachType: number): ProgQueryResult {
  let capacity = 64;
  for (;;) {
    const progs = stableBuffer(capacity * 4);
    const links = stableBuffer(capacity * 4);
    const b = stableBuffer(64);
    b.writeUInt32LE(targetIfindex >>> 0, 0);
    b.writeUInt32LE(attachType >>> 0, 4);
    b.writeBigUInt64LE(addr(progs), 16);
    b.writeUInt32LE(capacity, 24);
    b.writeBigUInt64LE(addr(links), 40);
    const r = native().bpf(BpfCmd.PROG_QUERY, b, 64);
    const count = b.readUInt32LE(24);
    if (r.ret < 0 && r.errno === ENOSPC && count > capacity) {
      capacity = count;
      continue;
    }
    if (r.ret < 0) throw new BpfError(cmdName(BpfCmd.PROG_QUERY), r.errno, `ifindex ${targetIfindex}`);
    const n = Math.min(count, capacity);
    return {
      progIds: Array.from({ length: n }, (_, i) => progs.readUInt32LE(i * 4)),
      linkIds: Array.from({ length: n }, (_, i) => links.readUInt32LE(i * 4)),
      revision: b.readBigUInt64LE(56),
    };
  }
}

/** BPF_PROG_LOAD of a ready instruction buffer, for feature probes. Returns the fd or the errno. */
export function progLoadRaw(type: number, insns: Buffer, expectedAttachType = 0): SysResult {
  const code = stableBuffer(insns.length);
  insns.copy(code);
  const license = cString("GPL");
  const b = stableBuffer(72);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(insns.length / 8, 4);
  b.writeBigUInt64LE(addr(code), 8);
  b.writeBigUInt64LE(addr(license), 16);
  b.writeUInt32LE(expectedAttachType, 68);
  return native().bpf(BpfCmd.PROG_LOAD, b, 72);
}
