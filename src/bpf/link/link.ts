// A BPF link: the kernel object that keeps a program attached to a hook. Closing the last fd of an
// unpinned link detaches the program (as the kernel does); a pinned link stays until unpinned.
import { AttachType, BpfCmd, LinkType, linkTypeName } from "../constants.js";
import { PinError, PlexusBpfError } from "../errors.js";
import { getFdById, objGet, objGetInfoByFd } from "../sys/bpf.js";
import { pinFd, unpin } from "../sys/bpffs.js";
import { stableBuffer } from "../sys/buffers.js";
import { fdKind } from "../sys/fd.js";
import { native } from "../sys/native.js";
import type { ProgramRef } from "./program-ref.js";
import { linkDetach, linkUpdate } from "./syscalls.js";

/** What the kernel reports about a link (struct bpf_link_info). */
export interface LinkInfo {
  id: number;
  /** LinkType number. */
  type: number;
  /** "xdp", "tcx", ... */
  typeName: string;
  progId: number;
  /** XDP and TCX links: the interface (0 once the link is detached or the device is gone). */
  ifindex?: number;
  /** TCX links: AttachType.TCX_INGRESS or TCX_EGRESS. */
  attachType?: number;
  /** TCX links. */
  direction?: "ingress" | "egress";
}

const LINK_INFO_SIZE = 256; // >= sizeof(struct bpf_link_info); the kernel accepts a zeroed tail

/** BPF_OBJ_GET_INFO_BY_FD of a link fd. */
export function readLinkInfo(fd: number): LinkInfo {
  const b = stableBuffer(LINK_INFO_SIZE);
  objGetInfoByFd(fd, b);
  const type = b.readUInt32LE(0);
  const info: LinkInfo = {
    id: b.readUInt32LE(4),
    type,
    typeName: linkTypeName(type),
    progId: b.readUInt32LE(8),
  };
  // The type-specific union starts at offset 16 (8-byte aligned).
  if (type === LinkType.XDP) info.ifindex = b.readUInt32LE(16);
  if (type === LinkType.TCX) {
    info.ifindex = b.readUInt32LE(16);
    info.attachType = b.readUInt32LE(20);
    info.direction = info.attachType === AttachType.TCX_EGRESS ? "egress" : "ingress";
  }
  return info;
}

export class Link {
  private fdOrClosed: number;
  private pinnedAt: string | undefined;

  protected constructor(
    fd: number,
    readonly id: number,
    readonly type: number,
  ) {
    this.fdOrClosed = fd;
  }

  /** Wraps a link fd, taking ownership of it. */
  static fromFd(fd: number): Link {
    try {
      const info = readLinkInfo(fd);
      return new Link(fd, info.id, info.type);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /** Opens the link with this id (BPF_LINK_GET_FD_BY_ID). */
  static fromId(id: number): Link {
    return Link.fromFd(getFdById(BpfCmd.LINK_GET_FD_BY_ID, id));
  }

  /** Opens a link pinned on a bpffs; a pin that is a program or a map is a PinError. */
  static openPinned(path: string): Link {
    const fd = objGet(path);
    if (fdKind(fd) !== "link") {
      native().close(fd);
      throw new PinError(`${path} is pinned but is not a BPF link (a program or a map?)`);
    }
    const link = Link.fromFd(fd);
    link.pinnedAt = path;
    return link;
  }

  get fd(): number {
    if (this.fdOrClosed < 0) throw new PlexusBpfError(`link ${this.id} (${this.typeName}) is closed`);
    return this.fdOrClosed;
  }

  get closed(): boolean {
    return this.fdOrClosed < 0;
  }

  get typeName(): string {
    return linkTypeName(this.type);
  }

  /** Where this link was pinned through pin() or opened from, if anywhere. */
  get pinnedPath(): string | undefined {
    return this.pinnedAt;
  }

  info(): LinkInfo {
    return readLinkInfo(this.fd);
  }

  /**
   * Atomically replaces the link's program (BPF_LINK_UPDATE): no packet sees no program. With
   * `oldProg`, the kernel refuses (EPERM) unless `oldProg` is still the attached one.
   */
  update(newProg: ProgramRef, opts: { oldProg?: ProgramRef } = {}): void {
    linkUpdate(this.fd, newProg.fd, opts.oldProg?.fd);
  }

  /**
   * Detaches the program now (BPF_LINK_DETACH), even if the link is pinned or its fd shared; the
   * link object stays (defunct) until closed.
   */
  detach(): void {
    linkDetach(this.fd);
  }

  /** Pins the link on a bpffs so it outlives this process (PinError if `path` cannot take it). */
  pin(path: string): void {
    pinFd(this.fd, path);
    this.pinnedAt = path;
  }

  /** Removes the pin made by pin() or the one openPinned() used. */
  unpin(): void {
    if (this.pinnedAt === undefined) return;
    unpin(this.pinnedAt);
    this.pinnedAt = undefined;
  }

  /** Closes the fd. An unpinned link with no other fd detaches its program. Idempotent. */
  close(): void {
    if (this.fdOrClosed < 0) return;
    native().close(this.fdOrClosed);
    this.fdOrClosed = -1;
  }
}
