// XDP through BPF links (BPF_LINK_CREATE with attach type BPF_XDP, Linux 5.9+): the attachment
// belongs to the link, so it goes away with the link's last fd unless pinned, and other tools
// cannot silently replace it.
import { AttachType, LinkType } from "../constants.js";
import { BpfError } from "../errors.js";
import { EBUSY, EEXIST, EINVAL, EOPNOTSUPP } from "../sys/errno.js";
import { type InterfaceRef, type InterfaceSpec, resolveInterface } from "../netlink/interfaces.js";
import { type XdpMode, queryXdp, xdpConflictMessage, xdpModeFlags } from "../netlink/xdp.js";
import { findInterfaceLink } from "./find.js";
import { Link, readLinkInfo } from "./link.js";
import type { ProgramRef } from "./program-ref.js";
import { linkCreate } from "./syscalls.js";
import { native } from "../sys/native.js";

export interface XdpAttachOptions {
  /** 'native' (driver), 'generic' (skb) or 'auto' (driver when it supports XDP): default 'auto'. */
  mode?: XdpMode;
}

/** A BPF link holding an XDP program on an interface. */
export class XdpLink extends Link {
  constructor(
    fd: number,
    id: number,
    readonly iface: InterfaceRef,
    readonly mode: XdpMode,
  ) {
    super(fd, id, LinkType.XDP);
  }
}

/** Why an XDP link could not be created, in words that say what to do. */
function xdpLinkError(ref: InterfaceRef, mode: XdpMode, errno: number): BpfError {
  const cmd = "BPF_LINK_CREATE";
  if (errno === EBUSY || errno === EEXIST) {
    const state = queryXdp(ref.ifindex);
    const id = state.progId || state.nativeProgId || state.genericProgId;
    if (id) {
      const link = findInterfaceLink(LinkType.XDP, ref.ifindex, id);
      return new BpfError(cmd, errno, xdpConflictMessage(ref, state, link?.id));
    }
  }
  if (errno === EOPNOTSUPP && mode === "native")
    return new BpfError(cmd, errno, `the driver of ${ref.name} has no native XDP; use mode 'generic'`);
  if (errno === EINVAL)
    return new BpfError(
      cmd,
      errno,
      `attaching XDP to ${ref.name}: is it an XDP program loaded with expected_attach_type BPF_XDP?`,
    );
  return new BpfError(cmd, errno, `attaching XDP to ${ref.name}`);
}

/** Attaches an XDP program to an interface (name or ifindex) through a BPF link. */
export function attachXdp(prog: ProgramRef, iface: InterfaceSpec, opts: XdpAttachOptions = {}): XdpLink {
  const ref = resolveInterface(iface);
  const mode = opts.mode ?? "auto";
  const r = linkCreate({
    progFd: prog.fd,
    target: ref.ifindex,
    attachType: AttachType.XDP,
    flags: xdpModeFlags(mode),
  });
  if (r.fd < 0) throw xdpLinkError(ref, mode, r.errno);
  try {
    return new XdpLink(r.fd, readLinkInfo(r.fd).id, ref, mode);
  } catch (e) {
    native().close(r.fd);
    throw e;
  }
}
