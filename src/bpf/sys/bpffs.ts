// Pinning on a bpffs: the filesystem checks and the pin/unpin/open primitives (objects of any kind).
import { existsSync, statfsSync, unlinkSync } from "./fs.js";
import { basename, dirname } from "node:path";
import { BpfError, PinError } from "../errors.js";
import { objGet, objPin } from "./bpf.js";
import { EEXIST } from "./errno.js";

/** statfs f_type of a bpf filesystem. */
export const BPF_FS_MAGIC = 0xcafe4a11;

/** Whether `path` (an existing file or directory) lives on a bpffs. */
export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Throws a PinError unless the directory that would hold `path` is on a bpffs. */
export function assertPinnable(path: string): void {
  const dir = dirname(path);
  // bpffs reserves names with dots for future extensions (bpf_lookup answers EPERM).
  if (basename(path).includes("."))
    throw new PinError(`cannot pin at ${path}: bpffs does not allow '.' in names; use '_' instead`);
  if (!existsSync(dir))
    throw new PinError(`cannot pin at ${path}: directory ${dir} does not exist (create it inside a bpffs)`);
  if (!isBpffs(dir))
    throw new PinError(
      `cannot pin at ${path}: ${dir} is not on a bpf filesystem; mount one with 'mount -t bpf bpf ${dir}'`,
    );
}

/** Pins any bpf object fd at `path` (BPF_OBJ_PIN). */
export function pinFd(fd: number, path: string): void {
  assertPinnable(path);
  try {
    objPin(fd, path);
  } catch (e) {
    if (e instanceof BpfError && e.errno === EEXIST)
      throw new PinError(`cannot pin at ${path}: the path exists; unpin it first (rm ${path})`);
    throw e;
  }
}

/** Removes a pin. Returns false when there was nothing at `path`. */
export function unpin(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** Opens whatever is pinned at `path` (BPF_OBJ_GET); flags are ObjFlags. */
export const openPinnedFd = (path: string, flags = 0): number => objGet(path, flags);
