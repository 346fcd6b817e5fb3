// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bridge: an 802.1Q learning bridge. MAC learning with aging, static entries, VLAN access and
 * trunk ports, and flooding of broadcast, multicast and unknown unicast, all in the kernel. The
 * control plane (control.ts) keeps the port and flood tables in step with the ports, frees aged
 * entries and serves the fdb table.
 */
#include <plexus.h>
#include "br_abi.h"
#include "br_vlan.h"
#include "br_fdb.h"
#include "br_flood.h"

/* 01:80:c2:00:00:0X, the IEEE 802.1D reserved group addresses. */
static __always_inline int br_link_local(const __u8 *d)
{
	return d[0] == 0x01 && d[1] == 0x80 && d[2] == 0xc2 && d[3] == 0 && d[4] == 0 && (d[5] & 0xf0) == 0;
}

static __always_inline int br_zero_mac(const __u8 *m)
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

static __always_inline struct br_port *br_port_get(__u32 port)
{
	return bpf_map_lookup_elem(&br_port, &port);
}

/* Known unicast: out of the destination's port, tagged as that port wants. */
static __always_inline int br_forward(const struct px_ctx *pc, struct br_frame *f, __u32 port)
{
	struct br_port *p = br_port_get(port);

	if (!p || !br_vlan_member(p, f->vid))
		return px_drop(pc, BR_DROP_VLAN_EGRESS);
	if (br_egress_tag(pc, f, p))
		return px_drop(pc, BR_DROP_MALFORMED);
	return px_redirect(pc, port);
}

PX_NF(bridge)
{
	struct br_frame f;
	struct br_port *in;
	__u64 now;
	int port;

	if (br_parse(pc, &f))
		return px_drop(pc, BR_DROP_MALFORMED);
	if ((f.src[0] & 1) || br_zero_mac(f.src))
		return px_drop(pc, BR_DROP_INVALID_SRC);
	in = br_port_get(pc->in_port);
	if (!in)
		return px_drop(pc, BR_DROP_MALFORMED);
	f.vid = br_ingress_vlan(in, &f);
	if (!f.vid)
		return px_drop(pc, BR_DROP_VLAN_INGRESS);

	now = bpf_ktime_get_coarse_ns();
	br_learn(f.src, f.vid, pc->in_port, now);

	if (f.dst[0] & 1) {
		/* Without STP, BPDUs (…:00) pass like the Linux bridge's; the other reserved ones stop. */
		if (br_link_local(f.dst) && f.dst[5] != 0)
			return px_drop(pc, BR_DROP_LINK_LOCAL);
		return br_flood(pc, &f);
	}
	port = br_fdb_port(f.dst, f.vid, now);
	if (port < 0)
		return br_flood(pc, &f);
	if ((__u32)port == pc->in_port)
		return px_drop(pc, BR_DROP_SAME_PORT);
	return br_forward(pc, &f, port);
}

#ifdef PX_HOOK_XDP
/*
 * Runs once per port a flooded frame is broadcast to (a devmap egress program): drops the copy
 * for the port it came in on and for ports no longer in the VLAN (a devmap being brought up to
 * date), untags it for ports that send the VLAN untagged, and counts it as the port's TX (the
 * framework cannot see broadcast copies).
 */
SEC("xdp/devmap")
int bridge_egress(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->egress_ifindex;
	struct br_ifport *ifp = bpf_map_lookup_elem(&br_ifports, &ifindex);
	void *data, *end, *meta;
	struct br_vlan_tag *tag;
	struct br_port *p;
	struct br_meta *m;
	__u32 vid, port;

	if (!ifp)
		return XDP_DROP;
	port = ifp->port;
	meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	m = meta;
	if ((void *)(m + 1) <= data && m->magic == BR_META_MAGIC) {
		if (m->in_port == port)
			return XDP_DROP;
		bpf_xdp_adjust_meta(ctx, sizeof(struct br_meta));
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	tag = data + BR_TAG_OFF;
	if ((void *)(tag + 1) > end || tag->tpid != bpf_htons(BR_ETH_P_8021Q))
		return XDP_DROP;
	vid = bpf_ntohs(tag->tci) & BR_VID_MASK;
	p = br_port_get(port);
	if (!p || !br_vlan_member(p, vid))
		return XDP_DROP;
	if (br_pvid(p) == vid && br_xdp_pop(ctx))
		return XDP_DROP;
	px_count(ifp->slot, port, PX_TX, ctx->data_end - ctx->data);
	return XDP_PASS;
}
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";
