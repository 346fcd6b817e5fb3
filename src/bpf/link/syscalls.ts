// bpf(2) commands only links use, encoded from include/uapi/linux/bpf.h (Linux 6.18); the generic
// ones (pin, get, info, ids) come from sys/bpf.ts. Each call passes the attr only up to its last
// field, as libbpf does, so older kernels see no unknown tail.
import { BpfCmd, cmdName } from "../constants.js";
import { BpfError } from "../errors.js";
import { linkCreateRaw, sysBpf } from "../sys/bpf.js";
import { stableBuffer } from "../sys/buffers.js";
import { ENOSPC } from "../sys/errno.js";
import { native } from "../sys/native.js";

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

/** BPF_LINK_CREATE; returns the fd or the errno, so callers can explain each errno. */
export function linkCreate(a: LinkCreateArgs): { fd: number; errno: number } {
  let extra: Buffer | undefined;
  if (a.relative !== undefined || a.expectedRevision !== undefined) {
    extra = stableBuffer(16); // link_create.tcx: relative_fd|relative_id, pad, expected_revision
    extra.writeUInt32LE((a.relative ?? 0) >>> 0, 0);
    extra.writeBigUInt64LE(a.expectedRevision ?? 0n, 8);
  }
  return linkCreateRaw({
    progFd: a.progFd,
    target: a.target,
    attachType: a.attachType,
    flags: a.flags,
    extra,
  });
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
  sysBpf(BpfCmd.LINK_UPDATE, b);
}

export function linkDetach(linkFd: number): void {
  const b = stableBuffer(4);
  b.writeUInt32LE(linkFd >>> 0, 0);
  sysBpf(BpfCmd.LINK_DETACH, b);
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
    const b = stableBuffer(64); // target, attach_type, query_flags, attach_flags, prog_ids, count, ..., link_ids@40, revision@56
    b.writeUInt32LE(targetIfindex >>> 0, 0);
    b.writeUInt32LE(attachType >>> 0, 4);
    b.writeBigUInt64LE(native().address(progs), 16);
    b.writeUInt32LE(capacity, 24);
    b.writeBigUInt64LE(native().address(links), 40);
    const r = native().bpf(BpfCmd.PROG_QUERY, b, 64);
    const count = b.readUInt32LE(24);
    if (r.ret < 0 && r.errno === ENOSPC && count > capacity) {
      capacity = count; // the chain grew between calls
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
