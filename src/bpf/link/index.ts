// plexus/bpf links: attaching programs to interfaces with BPF links (XDP, TCX), and one attach()
// that falls back to netlink where the kernel has no links.
export type { ProgramRef } from "./program-ref.js";
export { Link, readLinkInfo, type LinkInfo } from "./link.js";
export { attachXdp, XdpLink, type XdpAttachOptions } from "./xdp.js";
export {
  attachTcx,
  queryTcx,
  tcxAttachType,
  TcxLink,
  type TcxAnchor,
  type TcxAttachOptions,
  type TcxChain,
  type TcxDirection,
  type TcxEntry,
} from "./tcx.js";
export { findInterfaceLink, listLinks } from "./find.js";
export { haveTcxLinks, haveXdpLinks } from "./probe.js";
export {
  attach,
  defaultAttachBackend,
  expectedAttachType,
  setAttachBackend,
  type AttachBackend,
  type AttachHook,
  type AttachOptions,
  type Attachment,
} from "./attach.js";
export type { InterfaceRef, InterfaceSpec } from "../netlink/interfaces.js";
export type { XdpMode } from "../netlink/xdp.js";
