// rtnetlink ABI numbers (include/uapi/linux/{netlink,rtnetlink,if_link,pkt_sched,pkt_cls}.h).

/** errno values netlink code reports that src/bpf/sys/errno.ts does not export by name. */
export const EPROTO = 71;
export const ETIMEDOUT = 110;

export const AF_UNSPEC = 0;
export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVTIMEO = 20;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;

/** struct nlmsghdr is 16 bytes; attributes and messages are 4-byte aligned. */
export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
export const align4 = (n: number): number => (n + 3) & ~3;

/** Control message types. */
export const NlMsg = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** nlmsg_flags. GET requests use ROOT/MATCH/DUMP, NEW requests REPLACE/EXCL/CREATE/APPEND. */
export const NlmF = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  /** On NLMSG_ERROR: the request was not echoed in full (NETLINK_CAP_ACK). */
  CAPPED: 0x100,
  /** On NLMSG_ERROR: extended ack TLVs follow. */
  ACK_TLVS: 0x200,
} as const;

/** Extended ack attributes (enum nlmsgerr_attrs). */
export const NlmsgerrAttr = { MSG: 1, OFFS: 2, COOKIE: 3, POLICY: 4, MISS_TYPE: 5, MISS_NEST: 6 } as const;

/** Flag bits in nla_type. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** rtnetlink message types. */
export const Rtm = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWQDISC: 36,
  DELQDISC: 37,
  GETQDISC: 38,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
} as const;

/** Link attributes (enum IFLA_*) used here. */
export const Ifla = { ADDRESS: 1, IFNAME: 3, EXT_MASK: 29, XDP: 43 } as const;
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

/** Nested in IFLA_XDP. */
export const IflaXdp = {
  FD: 1,
  ATTACHED: 2,
  FLAGS: 3,
  PROG_ID: 4,
  DRV_PROG_ID: 5,
  SKB_PROG_ID: 6,
  HW_PROG_ID: 7,
  EXPECTED_FD: 8,
} as const;

/** IFLA_XDP_ATTACHED values. */
export const XdpAttached = { NONE: 0, DRV: 1, SKB: 2, HW: 3, MULTI: 4 } as const;

/** Traffic control attributes (enum TCA_*) used here. */
export const Tca = { KIND: 1, OPTIONS: 2, CHAIN: 11 } as const;

/** cls_bpf options, nested in TCA_OPTIONS. */
export const TcaBpf = {
  ACT: 1,
  POLICE: 2,
  CLASSID: 3,
  OPS_LEN: 4,
  OPS: 5,
  FD: 6,
  NAME: 7,
  FLAGS: 8,
  FLAGS_GEN: 9,
  TAG: 10,
  ID: 11,
} as const;
export const TCA_BPF_FLAG_ACT_DIRECT = 1;

/** TC handles: the clsact qdisc and its ingress/egress hook points. */
export const TC_H_CLSACT = 0xfffffff1;
export const TC_H_MIN_INGRESS = 0xfff2;
export const TC_H_MIN_EGRESS = 0xfff3;
export const tcHandle = (major: number, minor: number): number =>
  ((major & 0xffff0000) | (minor & 0xffff)) >>> 0;

/** ETH_P_ALL, which tcm_info carries in network byte order. */
export const ETH_P_ALL = 0x0003;
