// Pinning on a bpffs: opening pinned maps, programs and links with a type check, and libbpf's
// "pin by name" for maps: reuse a compatible pinned map, replace it, or refuse.
import { basename, dirname, join } from "node:path";
import { renameSync } from "./sys/fs.js";
import { MapType, linkTypeName, mapTypeName } from "./constants.js";
import { BpfError, PinError, PlexusBpfError } from "./errors.js";
import { BpfMap, type MapCreateOptions } from "./map/map.js";
import { BpfProgram } from "./prog/program.js";
import { assertPinnable, isBpffs, openPinnedFd, pinFd, unpin } from "./sys/bpffs.js";
import { ENOENT } from "./sys/errno.js";
import { fdKind } from "./sys/fd.js";
import { linkInfo } from "./sys/info.js";
import { native } from "./sys/native.js";
import { possibleCpus } from "./sys/cpus.js";

export { BPF_FS_MAGIC, assertPinnable, isBpffs, pinFd, unpin } from "./sys/bpffs.js";

/**
 * What to do when a map is already pinned at the path:
 * - reuse: open it if compatible (libbpf's LIBBPF_PIN_BY_NAME), else PinError;
 * - replace: pin a fresh map in its place (atomically, by rename), dropping the old state;
 * - fail: PinError whenever something is pinned there.
 */
export type PinPolicy = "reuse" | "replace" | "fail";

/** Removes a pin; false when nothing was pinned there. */
export const unpinPath = (path: string): boolean => unpin(path);

/** Opens a pinned map (see BpfMap.openPinned). */
export const openPinnedMap = (path: string, opts: { readOnly?: boolean } = {}): BpfMap =>
  BpfMap.openPinned(path, opts);

/** Opens a pinned program (see BpfProgram.openPinned). */
export const openPinnedProgram = (path: string): BpfProgram => BpfProgram.openPinned(path);

/** A pinned link, opened: its fd (owned by the caller), id, type and program id. */
export interface PinnedLinkFd {
  fd: number;
  id: number;
  type: number;
  progId: number;
}

/** Opens a pinned link and checks that it is one (and of `expectedType`, when given). */
export function openPinnedLink(path: string, expectedType?: number): PinnedLinkFd {
  const fd = openPinnedFd(path);
  const kind = fdKind(fd);
  try {
    if (kind !== "link") throw new PinError(`${path} is a pinned ${kind}, not a link`);
    const info = linkInfo(fd);
    if (expectedType !== undefined && info.type !== expectedType)
      throw new PinError(
        `${path} is a ${linkTypeName(info.type)} link, expected ${linkTypeName(expectedType)}`,
      );
    return { fd, id: info.id, type: info.type, progId: info.progId };
  } catch (e) {
    native().close(fd);
    throw e;
  }
}

/**
 * How a pinned map differs from what would be created (libbpf's map_is_reuse_compat: type, key
 * size, value size, max entries, flags, map_extra). Empty when compatible.
 */
export function pinnedMapDifferences(existing: BpfMap, want: MapCreateOptions): string[] {
  const d: string[] = [];
  const maxEntries =
    want.type === MapType.PERF_EVENT_ARRAY && !want.maxEntries ? possibleCpus() : want.maxEntries;
  if (existing.type !== want.type)
    d.push(`type ${mapTypeName(existing.type)}, expected ${mapTypeName(want.type)}`);
  if (existing.keySize !== want.keySize) d.push(`key size ${existing.keySize}, expected ${want.keySize}`);
  if (existing.valueSize !== want.valueSize)
    d.push(`value size ${existing.valueSize}, expected ${want.valueSize}`);
  if (existing.maxEntries !== maxEntries)
    d.push(`max entries ${existing.maxEntries}, expected ${maxEntries}`);
  if (existing.flags !== (want.flags ?? 0))
    d.push(`flags 0x${existing.flags.toString(16)}, expected 0x${(want.flags ?? 0).toString(16)}`);
  if (existing.mapExtra !== (want.mapExtra ?? 0n))
    d.push(`map_extra ${existing.mapExtra}, expected ${want.mapExtra ?? 0n}`);
  return d;
}

function tryOpen(path: string): BpfMap | undefined {
  try {
    return BpfMap.openPinned(path);
  } catch (e) {
    if (e instanceof BpfError && e.errno === ENOENT) return undefined;
    throw e;
  }
}

/**
 * Opens the map pinned at `path`, or creates and pins it, following `policy`. `created` tells
 * whether the map is new (and so still needs its initial contents).
 */
export function openOrCreatePinnedMap(
  path: string,
  opts: MapCreateOptions,
  policy: PinPolicy = "reuse",
): { map: BpfMap; created: boolean } {
  assertPinnable(path);
  // Two processes may race to create the same pin: whoever loses reopens the winner's map.
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = tryOpen(path);
    if (existing) {
      if (policy === "fail") {
        existing.close();
        throw new PinError(
          `a map is already pinned at ${path} (policy 'fail'): remove it (rm ${path}) or use policy 'reuse'`,
        );
      }
      if (policy === "reuse") {
        const diff = pinnedMapDifferences(existing, opts);
        if (diff.length === 0) return { map: existing, created: false };
        existing.close();
        throw new PinError(
          `the map pinned at ${path} is incompatible: ${diff.join("; ")}. ` +
            `Remove the pin (rm ${path}) or load with policy 'replace' to start from a fresh map`,
        );
      }
      existing.close();
      return { map: replacePinned(path, opts), created: true };
    }
    const map = BpfMap.create(opts);
    try {
      pinFd(map.fd, path);
      return { map, created: true };
    } catch (e) {
      map.close();
      if (!(e instanceof PinError) || policy === "fail") throw e;
      // Someone pinned a map at the path in the meantime: look again.
    }
  }
  throw new PinError(`cannot pin at ${path}: the path keeps changing under us`);
}

/** Pins a fresh map at `path`, replacing what is there atomically (bpffs supports rename). */
function replacePinned(path: string, opts: MapCreateOptions): BpfMap {
  const map = BpfMap.create(opts);
  // bpffs refuses dots in names, so the temporary name has none.
  const tmp = join(dirname(path), `${basename(path)}_replacing_${process.pid}_${Date.now()}`);
  try {
    pinFd(map.fd, tmp);
    renameSync(tmp, path);
    return map;
  } catch (e) {
    try {
      unpin(tmp);
    } catch {
      // nothing was pinned there
    }
    map.close();
    throw e;
  }
}

/** Opens a pinned object by kind, checking the kind (a sanity check for paths from configuration). */
export function openPinned(path: string): BpfMap | BpfProgram | PinnedLinkFd {
  if (!isBpffs(dirname(path))) throw new PinError(`${path} is not on a bpf filesystem`);
  const fd = openPinnedFd(path, 0);
  const kind = fdKind(fd);
  native().close(fd);
  if (kind === "map") return BpfMap.openPinned(path);
  if (kind === "prog") return BpfProgram.openPinned(path);
  if (kind === "link") return openPinnedLink(path);
  throw new PlexusBpfError(`${path} holds a ${kind} object`);
}
