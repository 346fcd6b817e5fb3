// Encoders of union bpf_attr, one typed function per bpf(2) command. Offsets follow
// include/uapi/linux/bpf.h of Linux 6.18; each call passes only the bytes up to the last field it
// sets (as libbpf does with offsetofend), so older kernels see no unknown non-zero tail.
import { BpfCmd, TestRunFlags, cmdName } from "../constants.js";
import { BpfError } from "../errors.js";
import { stableBuffer, cString } from "./buffers.js";
import { EAGAIN, EINTR, ENOENT } from "./errno.js";
import { native } from "./native.js";

/** Attr sizes (offsetofend of the last field each command uses). */
export const AttrSize = {
  MAP_CREATE: 92, // ..excl_prog_hash_size
  MAP_ELEM: 32, // map_fd, key, value|next_key, flags
  MAP_DELETE: 16, // ..key: DELETE_ELEM's last field, the tail must stay zero
  MAP_BATCH: 56,
  PROG_LOAD: 152, // ..fd_array_cnt
  OBJ: 20, // pathname, bpf_fd, file_flags, path_fd
  TEST_RUN: 76, // ..batch_size
  GET_ID: 12, // start_id|id, next_id, open_flags
  INFO: 16,
  BTF_LOAD: 40, // ..btf_token_fd
  ENABLE_STATS: 4,
  MAP_FREEZE: 4,
  LINK_CREATE: 64,
  PROG_BIND_MAP: 12,
} as const;

/** Runs bpf(2) and returns its result, throwing a BpfError named after the command on failure. */
export function sysBpf(cmd: number, attr: Buffer, size: number = attr.length): number {
  const r = native().bpf(cmd, attr, size);
  if (r.ret < 0) throw new BpfError(cmdName(cmd), r.errno);
  return r.ret;
}

/** bpf(2) without throwing: the errno (0 on success) and the return value. */
export function tryBpf(
  cmd: number,
  attr: Buffer,
  size: number = attr.length,
): { ret: number; errno: number } {
  return native().bpf(cmd, attr, size);
}

const addr = (b: Uint8Array | null | undefined): bigint => (b && b.length ? native().address(b) : 0n);

// ---- BPF_MAP_CREATE ------------------------------------------------------------------------

export interface MapCreateAttr {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
  innerMapFd?: number;
  numaNode?: number;
  ifindex?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  mapExtra?: bigint;
  valueTypeBtfObjFd?: number;
  tokenFd?: number;
}

/** Object names: at most 15 bytes of [A-Za-z0-9_.]; the kernel rejects anything else. */
export const sanitizeObjName = (name: string): string => name.replace(/[^A-Za-z0-9_.]/g, "").slice(0, 15);

export function encodeMapCreate(a: MapCreateAttr): Buffer {
  const b = stableBuffer(AttrSize.MAP_CREATE);
  b.writeUInt32LE(a.type >>> 0, 0);
  b.writeUInt32LE(a.keySize >>> 0, 4);
  b.writeUInt32LE(a.valueSize >>> 0, 8);
  b.writeUInt32LE(a.maxEntries >>> 0, 12);
  b.writeUInt32LE((a.flags ?? 0) >>> 0, 16);
  b.writeUInt32LE((a.innerMapFd ?? 0) >>> 0, 20);
  b.writeUInt32LE((a.numaNode ?? 0) >>> 0, 24);
  if (a.name) b.write(sanitizeObjName(a.name), 28, 15, "latin1");
  b.writeUInt32LE((a.ifindex ?? 0) >>> 0, 44);
  b.writeUInt32LE((a.btfFd ?? 0) >>> 0, 48);
  b.writeUInt32LE((a.btfKeyTypeId ?? 0) >>> 0, 52);
  b.writeUInt32LE((a.btfValueTypeId ?? 0) >>> 0, 56);
  b.writeUInt32LE((a.btfVmlinuxValueTypeId ?? 0) >>> 0, 60);
  b.writeBigUInt64LE(a.mapExtra ?? 0n, 64);
  b.writeInt32LE(a.valueTypeBtfObjFd ?? 0, 72);
  b.writeInt32LE(a.tokenFd ?? 0, 76);
  return b;
}

/** BPF_MAP_CREATE without throwing: the new fd, or the errno. */
export function mapCreateRaw(a: MapCreateAttr): { fd: number; errno: number } {
  const r = tryBpf(BpfCmd.MAP_CREATE, encodeMapCreate(a));
  return { fd: r.ret, errno: r.errno };
}

export function mapCreate(a: MapCreateAttr): number {
  return sysBpf(BpfCmd.MAP_CREATE, encodeMapCreate(a));
}

// ---- BPF_MAP_*_ELEM ------------------------------------------------------------------------

/** Writes the map element attr (map_fd, key, value|next_key, flags) into `attr` (32 bytes). */
export function encodeMapElem(
  attr: Buffer,
  fd: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  flags = 0,
): Buffer {
  attr.writeUInt32LE(fd >>> 0, 0);
  attr.writeUInt32LE(0, 4);
  attr.writeBigUInt64LE(addr(key), 8);
  attr.writeBigUInt64LE(addr(value), 16);
  attr.writeBigUInt64LE(BigInt(flags), 24);
  return attr;
}

/** One element command; returns false on ENOENT (absent key / empty queue), throws otherwise. */
function elemCmd(
  cmd: number,
  fd: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  flags: number,
  size: number,
): boolean {
  const attr = encodeMapElem(Buffer.alloc(AttrSize.MAP_ELEM), fd, key, value, flags);
  const r = native().bpf(cmd, attr, size);
  if (r.ret >= 0) return true;
  if (r.errno === ENOENT) return false;
  throw new BpfError(cmdName(cmd), r.errno);
}

export const mapLookupElem = (fd: number, key: Uint8Array | null, value: Uint8Array, flags = 0): boolean =>
  elemCmd(BpfCmd.MAP_LOOKUP_ELEM, fd, key, value, flags, AttrSize.MAP_ELEM);

export const mapUpdateElem = (fd: number, key: Uint8Array | null, value: Uint8Array, flags = 0): void => {
  const attr = encodeMapElem(Buffer.alloc(AttrSize.MAP_ELEM), fd, key, value, flags);
  sysBpf(BpfCmd.MAP_UPDATE_ELEM, attr);
};

export const mapDeleteElem = (fd: number, key: Uint8Array | null): boolean =>
  elemCmd(BpfCmd.MAP_DELETE_ELEM, fd, key, null, 0, AttrSize.MAP_DELETE);

export const mapGetNextKey = (fd: number, key: Uint8Array | null, next: Uint8Array): boolean =>
  elemCmd(BpfCmd.MAP_GET_NEXT_KEY, fd, key, next, 0, AttrSize.MAP_ELEM);

export const mapLookupAndDeleteElem = (
  fd: number,
  key: Uint8Array | null,
  value: Uint8Array,
  flags = 0,
): boolean => elemCmd(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value, flags, AttrSize.MAP_ELEM);

export function mapFreeze(fd: number): void {
  const b = Buffer.alloc(AttrSize.MAP_FREEZE);
  b.writeUInt32LE(fd >>> 0, 0);
  sysBpf(BpfCmd.MAP_FREEZE, b);
}

// ---- BPF_MAP_*_BATCH -----------------------------------------------------------------------

export interface MapBatchAttr {
  fd: number;
  inBatch: Uint8Array | null;
  outBatch: Uint8Array | null;
  keys: Uint8Array | null;
  values: Uint8Array | null;
  count: number;
  elemFlags?: number;
  flags?: number;
}

/**
 * One batch command. Returns the kernel's errno (0 on success) and how many elements it processed
 * (count is written back even on ENOENT, which marks the end of a lookup walk).
 */
export function mapBatch(cmd: number, a: MapBatchAttr): { errno: number; count: number } {
  const b = stableBuffer(AttrSize.MAP_BATCH);
  b.writeBigUInt64LE(addr(a.inBatch), 0);
  b.writeBigUInt64LE(addr(a.outBatch), 8);
  b.writeBigUInt64LE(addr(a.keys), 16);
  b.writeBigUInt64LE(addr(a.values), 24);
  b.writeUInt32LE(a.count >>> 0, 32);
  b.writeUInt32LE(a.fd >>> 0, 36);
  b.writeBigUInt64LE(BigInt(a.elemFlags ?? 0), 40);
  b.writeBigUInt64LE(BigInt(a.flags ?? 0), 48);
  const r = native().bpf(cmd, b, AttrSize.MAP_BATCH);
  return { errno: r.ret < 0 ? r.errno : 0, count: b.readUInt32LE(32) };
}

// ---- BPF_PROG_LOAD -------------------------------------------------------------------------

export interface ProgLoadAttr {
  type: number;
  expectedAttachType?: number;
  name?: string;
  /** Encoded instructions (8 bytes a slot). */
  insns: Uint8Array;
  license: string;
  kernVersion?: number;
  flags?: number;
  ifindex?: number;
  btfFd?: number;
  funcInfo?: Uint8Array;
  funcInfoRecSize?: number;
  lineInfo?: Uint8Array;
  lineInfoRecSize?: number;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  attachProgFd?: number;
  fdArray?: number[];
  tokenFd?: number;
}

/** A PROG_LOAD attr and the buffers it points to (keep them alive until the call returns). */
export interface EncodedProgLoad {
  attr: Buffer;
  refs: Buffer[];
}

export function encodeProgLoad(a: ProgLoadAttr, log?: { buf: Buffer; level: number }): EncodedProgLoad {
  const b = stableBuffer(AttrSize.PROG_LOAD);
  const insns = stableBuffer(a.insns.length);
  insns.set(a.insns);
  const license = cString(a.license);
  const refs = [insns, license];
  b.writeUInt32LE(a.type >>> 0, 0);
  b.writeUInt32LE(Math.floor(a.insns.length / 8), 4);
  b.writeBigUInt64LE(addr(insns), 8);
  b.writeBigUInt64LE(addr(license), 16);
  if (log) {
    b.writeUInt32LE(log.level >>> 0, 24);
    b.writeUInt32LE(log.buf.length >>> 0, 28);
    b.writeBigUInt64LE(addr(log.buf), 32);
    refs.push(log.buf);
  }
  b.writeUInt32LE((a.kernVersion ?? 0) >>> 0, 40);
  b.writeUInt32LE((a.flags ?? 0) >>> 0, 44);
  if (a.name) b.write(sanitizeObjName(a.name), 48, 15, "latin1");
  b.writeUInt32LE((a.ifindex ?? 0) >>> 0, 64);
  b.writeUInt32LE((a.expectedAttachType ?? 0) >>> 0, 68);
  b.writeUInt32LE((a.btfFd ?? 0) >>> 0, 72);
  const pointTo = (data: Uint8Array | undefined, recSize: number | undefined, at: number): void => {
    if (!data || !data.length || !recSize) return;
    const copy = stableBuffer(data.length);
    copy.set(data);
    refs.push(copy);
    b.writeUInt32LE(recSize >>> 0, at - 4);
    b.writeBigUInt64LE(addr(copy), at);
    b.writeUInt32LE(Math.floor(data.length / recSize), at + 8);
  };
  pointTo(a.funcInfo, a.funcInfoRecSize, 80); // func_info_rec_size@76, func_info@80, func_info_cnt@88
  pointTo(a.lineInfo, a.lineInfoRecSize, 96); // line_info_rec_size@92, line_info@96, line_info_cnt@104
  b.writeUInt32LE((a.attachBtfId ?? 0) >>> 0, 108);
  // attach_prog_fd and attach_btf_obj_fd share one slot.
  b.writeUInt32LE((a.attachProgFd ?? a.attachBtfObjFd ?? 0) >>> 0, 112);
  if (a.fdArray && a.fdArray.length) {
    const fds = stableBuffer(a.fdArray.length * 4);
    a.fdArray.forEach((fd, i) => fds.writeInt32LE(fd, i * 4));
    refs.push(fds);
    b.writeBigUInt64LE(addr(fds), 120);
  }
  b.writeInt32LE(a.tokenFd ?? 0, 144);
  return { attr: b, refs };
}

/** log_true_size written back by the kernel (6.4+): the buffer size the whole log needs. */
export const progLoadLogTrueSize = (attr: Buffer): number => attr.readUInt32LE(140);

const PROG_LOAD_ATTEMPTS = 5;

/** BPF_PROG_LOAD, retrying EAGAIN like libbpf (up to 5 attempts). Returns fd or errno. */
export function progLoadRaw(e: EncodedProgLoad): { fd: number; errno: number } {
  let r = { ret: -1, errno: EAGAIN };
  for (let i = 0; i < PROG_LOAD_ATTEMPTS && r.errno === EAGAIN; i++)
    r = native().bpf(BpfCmd.PROG_LOAD, e.attr, AttrSize.PROG_LOAD);
  return { fd: r.ret, errno: r.ret < 0 ? r.errno : 0 };
}

/** As progLoadRaw, on libuv's thread pool: verification of big programs can take long. */
export async function progLoadRawAsync(e: EncodedProgLoad): Promise<{ fd: number; errno: number }> {
  let r = { ret: -1, errno: EAGAIN };
  for (let i = 0; i < PROG_LOAD_ATTEMPTS && r.errno === EAGAIN; i++)
    r = await native().bpfAsync(BpfCmd.PROG_LOAD, e.attr, AttrSize.PROG_LOAD);
  void e.refs; // the pointed-to buffers stay referenced until here
  return { fd: r.ret, errno: r.ret < 0 ? r.errno : 0 };
}

// ---- BPF_OBJ_PIN / BPF_OBJ_GET --------------------------------------------------------------

function objAttr(path: string, fd: number, flags: number): { attr: Buffer; path: Buffer } {
  const p = cString(path);
  const b = stableBuffer(AttrSize.OBJ);
  b.writeBigUInt64LE(addr(p), 0);
  b.writeUInt32LE(fd >>> 0, 8);
  b.writeUInt32LE(flags >>> 0, 12);
  return { attr: b, path: p };
}

export function objPin(fd: number, path: string): void {
  const { attr } = objAttr(path, fd, 0);
  const r = native().bpf(BpfCmd.OBJ_PIN, attr, AttrSize.OBJ);
  if (r.ret < 0) throw new BpfError(cmdName(BpfCmd.OBJ_PIN), r.errno, path);
}

/** BPF_OBJ_GET: opens a pinned object; `flags` are ObjFlags (RDONLY/WRONLY). */
export function objGet(path: string, flags = 0): number {
  const { attr } = objAttr(path, 0, flags);
  const r = native().bpf(BpfCmd.OBJ_GET, attr, AttrSize.OBJ);
  if (r.ret < 0) throw new BpfError(cmdName(BpfCmd.OBJ_GET), r.errno, path);
  return r.ret;
}

// ---- BPF_PROG_TEST_RUN ----------------------------------------------------------------------

export interface TestRunAttr {
  progFd: number;
  dataIn?: Uint8Array;
  dataOut?: Buffer;
  ctxIn?: Uint8Array;
  ctxOut?: Buffer;
  repeat?: number;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

export interface TestRunResult {
  retval: number;
  dataSizeOut: number;
  ctxSizeOut: number;
  /** Average run time per repetition, in nanoseconds. */
  duration: number;
}

/**
 * BPF_PROG_TEST_RUN, retried on EINTR (a signal during a long repeat loop) as libbpf does, except
 * with live frames: those already sent stay sent, so a retry would send them twice.
 */
export function progTestRun(a: TestRunAttr): TestRunResult {
  const dataIn = a.dataIn ? Buffer.from(a.dataIn) : null;
  const ctxIn = a.ctxIn ? Buffer.from(a.ctxIn) : null;
  const b = stableBuffer(AttrSize.TEST_RUN);
  b.writeUInt32LE(a.progFd >>> 0, 0);
  b.writeUInt32LE(dataIn ? dataIn.length : 0, 8);
  b.writeUInt32LE(a.dataOut ? a.dataOut.length : 0, 12);
  b.writeBigUInt64LE(addr(dataIn), 16);
  b.writeBigUInt64LE(addr(a.dataOut), 24);
  b.writeUInt32LE((a.repeat ?? 0) >>> 0, 32);
  b.writeUInt32LE(ctxIn ? ctxIn.length : 0, 40);
  b.writeUInt32LE(a.ctxOut ? a.ctxOut.length : 0, 44);
  b.writeBigUInt64LE(addr(ctxIn), 48);
  b.writeBigUInt64LE(addr(a.ctxOut), 56);
  b.writeUInt32LE((a.flags ?? 0) >>> 0, 64);
  b.writeUInt32LE((a.cpu ?? 0) >>> 0, 68);
  b.writeUInt32LE((a.batchSize ?? 0) >>> 0, 72);
  let r = native().bpf(BpfCmd.PROG_TEST_RUN, b, AttrSize.TEST_RUN);
  const live = ((a.flags ?? 0) & TestRunFlags.XDP_LIVE_FRAMES) !== 0;
  while (r.ret < 0 && r.errno === EINTR && !live)
    r = native().bpf(BpfCmd.PROG_TEST_RUN, b, AttrSize.TEST_RUN);
  if (r.ret < 0) throw new BpfError(cmdName(BpfCmd.PROG_TEST_RUN), r.errno);
  return {
    retval: b.readUInt32LE(4),
    dataSizeOut: b.readUInt32LE(12),
    ctxSizeOut: b.readUInt32LE(44),
    duration: b.readUInt32LE(36),
  };
}

// ---- ids, fds by id, info ------------------------------------------------------------------

/** *_GET_NEXT_ID: the next id after `start`, or undefined at the end. */
export function getNextId(cmd: number, start: number): number | undefined {
  const b = Buffer.alloc(AttrSize.GET_ID);
  b.writeUInt32LE(start >>> 0, 0);
  const r = native().bpf(cmd, b, AttrSize.GET_ID);
  if (r.ret < 0) {
    if (r.errno === ENOENT) return undefined;
    throw new BpfError(cmdName(cmd), r.errno);
  }
  return b.readUInt32LE(4);
}

/** *_GET_FD_BY_ID (prog, map, btf, link). */
export function getFdById(cmd: number, id: number, openFlags = 0): number {
  const b = Buffer.alloc(AttrSize.GET_ID);
  b.writeUInt32LE(id >>> 0, 0);
  b.writeUInt32LE(openFlags >>> 0, 8);
  const r = native().bpf(cmd, b, AttrSize.GET_ID);
  if (r.ret < 0) throw new BpfError(cmdName(cmd), r.errno, `id ${id}`);
  return r.ret;
}

/** BPF_OBJ_GET_INFO_BY_FD into `info` (pointer fields inside it already set); returns info_len. */
export function objGetInfoByFd(fd: number, info: Buffer): number {
  const b = stableBuffer(AttrSize.INFO);
  b.writeUInt32LE(fd >>> 0, 0);
  b.writeUInt32LE(info.length, 4);
  b.writeBigUInt64LE(addr(info), 8);
  sysBpf(BpfCmd.OBJ_GET_INFO_BY_FD, b);
  return b.readUInt32LE(4);
}

// ---- BPF_BTF_LOAD ---------------------------------------------------------------------------

/** BPF_BTF_LOAD without throwing; with a log buffer, also the log size the kernel needed. */
export function btfLoadRaw(
  blob: Uint8Array,
  log?: { buf: Buffer; level: number },
  tokenFd = 0,
): { fd: number; errno: number; logTrueSize: number } {
  const data = stableBuffer(blob.length);
  data.set(blob);
  const b = stableBuffer(AttrSize.BTF_LOAD);
  b.writeBigUInt64LE(addr(data), 0);
  b.writeBigUInt64LE(log ? addr(log.buf) : 0n, 8);
  b.writeUInt32LE(data.length, 16);
  b.writeUInt32LE(log ? log.buf.length : 0, 20);
  b.writeUInt32LE(log ? log.level : 0, 24);
  b.writeInt32LE(tokenFd, 36);
  const r = native().bpf(BpfCmd.BTF_LOAD, b, AttrSize.BTF_LOAD);
  return { fd: r.ret, errno: r.ret < 0 ? r.errno : 0, logTrueSize: b.readUInt32LE(28) };
}

// ---- misc ----------------------------------------------------------------------------------

/** BPF_ENABLE_STATS: returns an fd; statistics stay enabled while it is open. */
export function enableStatsFd(type: number): number {
  const b = Buffer.alloc(AttrSize.ENABLE_STATS);
  b.writeUInt32LE(type >>> 0, 0);
  return sysBpf(BpfCmd.ENABLE_STATS, b);
}

export interface LinkCreateAttr {
  progFd: number;
  /** Target fd or ifindex, depending on the attach type. */
  target: number;
  attachType: number;
  flags?: number;
  /** Type-specific tail (the union at offset 16), already encoded. */
  extra?: Buffer;
}

/** BPF_LINK_CREATE without throwing: the link fd or the errno. */
export function linkCreateRaw(a: LinkCreateAttr): { fd: number; errno: number } {
  const b = stableBuffer(AttrSize.LINK_CREATE);
  b.writeUInt32LE(a.progFd >>> 0, 0);
  b.writeUInt32LE(a.target >>> 0, 4);
  b.writeUInt32LE(a.attachType >>> 0, 8);
  b.writeUInt32LE((a.flags ?? 0) >>> 0, 12);
  if (a.extra) a.extra.copy(b, 16, 0, Math.min(a.extra.length, AttrSize.LINK_CREATE - 16));
  const r = native().bpf(BpfCmd.LINK_CREATE, b, AttrSize.LINK_CREATE);
  return { fd: r.ret, errno: r.ret < 0 ? r.errno : 0 };
}

/** BPF_PROG_BIND_MAP: keeps a map alive as long as the program (e.g. .rodata used only at load). */
export function progBindMap(progFd: number, mapFd: number): void {
  const b = Buffer.alloc(AttrSize.PROG_BIND_MAP);
  b.writeUInt32LE(progFd >>> 0, 0);
  b.writeUInt32LE(mapFd >>> 0, 4);
  sysBpf(BpfCmd.PROG_BIND_MAP, b);
}
