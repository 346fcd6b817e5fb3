// plexus/bpf netlink: a small rtnetlink client and the netlink way of attaching XDP and TC programs.
export { AttrBuilder, Attrs } from "./attributes.js";
export { NetlinkSocket, parseMessages, type NetlinkMessage } from "./socket.js";
export {
  interfaceIndex,
  interfaceMac,
  interfaceName,
  resolveInterface,
  type InterfaceRef,
  type InterfaceSpec,
} from "./interfaces.js";
export {
  attachXdpNetlink,
  detachXdpNetlink,
  queryXdp,
  replaceXdpNetlink,
  xdpConflictMessage,
  type NetlinkXdpAttachOptions,
  type NetlinkXdpAttachment,
  type XdpMode,
  type XdpState,
} from "./xdp.js";
export {
  attachTcFilter,
  deleteClsact,
  detachTcFilter,
  ensureClsact,
  listTcFilters,
  replaceTcFilter,
  rootIngressQdisc,
  tcParent,
  type TcAttachOptions,
  type TcDirection,
  type TcFilter,
} from "./tc.js";
