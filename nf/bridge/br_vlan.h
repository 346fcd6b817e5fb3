/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * 802.1Q: reading a frame's tag, the port rules that decide which VLAN a frame is in and whether
 * it may leave a port, and adding, rewriting or removing the tag in either hook.
 *
 * TC: a tag that came in from the wire is usually already in the skb (vlan_present/vlan_tci),
 * not in the data; bpf_skb_vlan_push/pop handle both places. XDP: the tag is always in the data
 * and is edited there.
 */
#ifndef __BR_VLAN_H
#define __BR_VLAN_H

#include "br_abi.h"

#define BR_ETH_HLEN 14
#define BR_VLAN_HLEN 4
#define BR_ETH_P_8021Q 0x8100
#define BR_VID_MASK 0x0fff

/* An 802.1Q tag, where the ethertype of an untagged frame would be (offset 12). */
struct br_vlan_tag {
	__be16 tpid;
	__be16 tci;
};
#define BR_TAG_OFF 12

/* What the bridge knows about the frame in hand. */
struct br_frame {
	__u8 dst[6];
	__u8 src[6];
	__u16 tci;   /* TCI of the frame's 802.1Q tag as it is now (when tagged) */
	__u16 vid;   /* the VLAN the frame is in (after ingress filtering) */
	__u8 tagged; /* carries an outer 802.1Q tag now */
};

/* Reads the addresses and the outer 802.1Q tag. -1 when the frame is too short. */
static __always_inline int br_parse(const struct px_ctx *pc, struct br_frame *f)
{
	void *data, *end;
	struct ethhdr *eth;
	struct br_vlan_tag *tag;

	if (px_len(pc) < BR_ETH_HLEN || px_pull(pc, BR_ETH_HLEN))
		return -1;
	data = px_data(pc);
	end = px_data_end(pc);
	eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(f->dst, eth->h_dest, 6);
	__builtin_memcpy(f->src, eth->h_source, 6);
	f->tagged = 0;
	f->tci = 0;
	f->vid = 0;
#ifdef PX_HOOK_TC
	if (pc->ctx->vlan_present) {
		/* An outer tag of another kind (802.1ad) is payload to an 802.1Q bridge: untagged. */
		if (pc->ctx->vlan_proto == bpf_htons(BR_ETH_P_8021Q)) {
			f->tagged = 1;
			f->tci = pc->ctx->vlan_tci;
		}
		return 0;
	}
#endif
	if (eth->h_proto != bpf_htons(BR_ETH_P_8021Q))
		return 0;
	if (px_len(pc) < BR_ETH_HLEN + BR_VLAN_HLEN || px_pull(pc, BR_ETH_HLEN + BR_VLAN_HLEN))
		return -1;
	data = px_data(pc);
	end = px_data_end(pc);
	tag = data + BR_TAG_OFF;
	if ((void *)(tag + 1) > end)
		return -1;
	f->tagged = 1;
	f->tci = bpf_ntohs(tag->tci);
	return 0;
}

/* ---- port membership ---- */

static __always_inline int br_vlan_member(const struct br_port *p, __u32 vid)
{
	if (p->mode == BR_MODE_DEFAULT)
		return vid == 1;
	return (p->vlans[(vid >> 6) & 63] >> (vid & 63)) & 1;
}

/* The VLAN a port sends and receives untagged (0: none). */
static __always_inline __u32 br_pvid(const struct br_port *p)
{
	return p->mode == BR_MODE_DEFAULT ? 1 : p->pvid;
}

/*
 * The VLAN a frame arriving on port `p` belongs to, or 0 when the port does not accept it, as the
 * Linux bridge with vlan_filtering does: untagged and priority-tagged frames go to the port's
 * untagged VLAN (a trunk without a native VLAN refuses them); tagged frames need the port to be
 * a member of their VLAN.
 */
static __always_inline __u32 br_ingress_vlan(const struct br_port *p, const struct br_frame *f)
{
	__u32 vid = f->tagged ? (f->tci & BR_VID_MASK) : 0;

	if (vid == 0)
		return br_pvid(p);
	if (vid > BR_VLAN_MAX)
		return 0;
	return br_vlan_member(p, vid) ? vid : 0;
}

/* ---- editing the tag ---- */

#ifdef PX_HOOK_XDP
static __always_inline int br_xdp_pop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 macs[12];

	if (data + BR_ETH_HLEN + BR_VLAN_HLEN > end)
		return -1;
	__builtin_memcpy(macs, data, 12);
	if (bpf_xdp_adjust_head(ctx, BR_VLAN_HLEN))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + BR_ETH_HLEN > end)
		return -1;
	__builtin_memcpy(data, macs, 12);
	return 0;
}

static __always_inline int br_xdp_push(struct xdp_md *ctx, __u16 tci)
{
	void *data, *end;
	struct br_vlan_tag *tag;
	__u8 macs[12];

	if (bpf_xdp_adjust_head(ctx, -BR_VLAN_HLEN))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + BR_ETH_HLEN + BR_VLAN_HLEN > end)
		return -1;
	/* The addresses move to the front; the ethertype stays where it was, now after the tag. */
	__builtin_memcpy(macs, data + BR_VLAN_HLEN, 12);
	__builtin_memcpy(data, macs, 12);
	tag = data + BR_TAG_OFF;
	tag->tpid = bpf_htons(BR_ETH_P_8021Q);
	tag->tci = bpf_htons(tci);
	return 0;
}

static __always_inline int br_xdp_set_tci(struct xdp_md *ctx, __u16 tci)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct br_vlan_tag *tag = data + BR_TAG_OFF;

	if ((void *)(tag + 1) > end)
		return -1;
	tag->tci = bpf_htons(tci);
	return 0;
}
#endif

/* Leaves the frame without an 802.1Q tag. */
static __always_inline int br_untag(const struct px_ctx *pc, struct br_frame *f)
{
	if (!f->tagged)
		return 0;
#ifdef PX_HOOK_TC
	if (bpf_skb_vlan_pop(pc->ctx))
		return -1;
#else
	if (br_xdp_pop(pc->ctx))
		return -1;
#endif
	f->tagged = 0;
	return 0;
}

/* Leaves the frame tagged for `vid`, keeping the priority (PCP, DEI) it came with. */
static __always_inline int br_tag(const struct px_ctx *pc, struct br_frame *f, __u32 vid)
{
	__u16 tci = (f->tci & ~BR_VID_MASK) | (vid & BR_VID_MASK);

	if (f->tagged && (f->tci & BR_VID_MASK) == vid)
		return 0;
#ifdef PX_HOOK_TC
	if (f->tagged && bpf_skb_vlan_pop(pc->ctx))
		return -1;
	if (bpf_skb_vlan_push(pc->ctx, bpf_htons(BR_ETH_P_8021Q), tci))
		return -1;
#else
	if (f->tagged ? br_xdp_set_tci(pc->ctx, tci) : br_xdp_push(pc->ctx, tci))
		return -1;
#endif
	f->tagged = 1;
	f->tci = tci;
	return 0;
}

/* Tags or untags the frame as port `p` sends frames of the frame's VLAN. */
static __always_inline int br_egress_tag(const struct px_ctx *pc, struct br_frame *f, const struct br_port *p)
{
	return br_pvid(p) == f->vid ? br_untag(pc, f) : br_tag(pc, f, f->vid);
}

#endif /* __BR_VLAN_H */
