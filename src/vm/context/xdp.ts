// struct xdp_md, and the frame an XDP program sees, laid out as BPF_PROG_TEST_RUN lays it out:
// a 4096-byte frame, 256 bytes of headroom (minus any metadata), the packet, and the tailroom the
// kernel keeps for skb_shared_info. Packet pointers in the context are linear-memory addresses.
import { AccessTable } from "./access.js";

export const XdpMd = {
  DATA: 0,
  DATA_END: 4,
  DATA_META: 8,
  INGRESS_IFINDEX: 12,
  RX_QUEUE_INDEX: 16,
  EGRESS_IFINDEX: 20,
  SIZE: 24,
} as const;

export const XDP_PACKET_HEADROOM = 256;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86_64. */
export const XDP_TAILROOM = 320;
export const XDP_FRAME_SIZE = 4096;
/** sizeof(struct xdp_frame): the part of the headroom adjust_head and adjust_meta cannot take. */
export const XDP_FRAME_STRUCT = 40;
/** Metadata length limit of xdp_metalen_invalid(). */
export const XDP_META_MAX = 255;

/** Every xdp_md field is read-only and read as a whole u32. */
export const xdpAccess = new AccessTable(XdpMd.SIZE)
  .u32Whole(XdpMd.DATA)
  .u32Whole(XdpMd.DATA_END)
  .u32Whole(XdpMd.DATA_META)
  .u32Whole(XdpMd.INGRESS_IFINDEX)
  .u32Whole(XdpMd.RX_QUEUE_INDEX)
  .u32Whole(XdpMd.EGRESS_IFINDEX);
