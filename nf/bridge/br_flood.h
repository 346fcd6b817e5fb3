/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flooding (broadcast, multicast, unknown unicast) to every other port of the frame's VLAN, in
 * the kernel. TC: a clone per port, untagged ports first and tagged ones after, so the tag changes
 * once; the original goes to the last port. XDP: one broadcast through the VLAN's devmap, tagged,
 * with bridge_egress (dataplane.c) untagging it per port and counting it.
 */
#ifndef __BR_FLOOD_H
#define __BR_FLOOD_H

#include "br_vlan.h"

#ifdef PX_HOOK_TC
struct br_clone_ctx {
	const struct px_ctx *pc;
	const struct br_flood *fl;
	__u32 from;
	__u32 in_port;
};

/* bpf_loop callback: a copy to the from+i-th port of the list, unless it is the ingress port. */
static long br_clone_one(__u64 i, void *data)
{
	struct br_clone_ctx *c = data;
	__u32 idx = c->from + (__u32)i, port;

	if (idx >= PX_MAX_PORTS)
		return 1;
	port = c->fl->ports[idx];
	if (port != c->in_port)
		px_clone_to_port(c->pc, port);
	return 0;
}

/* bpf_loop, not an unrolled loop: 128 ports of clones and tag edits are too many paths to verify. */
static __always_inline int br_flood(const struct px_ctx *pc, struct br_frame *f)
{
	__u32 vid = f->vid, n, untagged, last;
	struct br_flood *fl = bpf_map_lookup_elem(&br_flood_list, &vid);
	struct br_clone_ctx c = { .pc = pc, .in_port = pc->in_port };

	if (!fl)
		return px_drop(pc, BR_DROP_NO_DEST);
	n = fl->count;
	untagged = fl->untagged;
	if (n == 0 || n > PX_MAX_PORTS || untagged > n)
		return px_drop(pc, BR_DROP_NO_DEST);
	/* The original goes to the last port that is not the ingress one (ports are listed once). */
	last = n - 1;
	if (fl->ports[last & (PX_MAX_PORTS - 1)] == pc->in_port) {
		if (last == 0)
			return px_drop(pc, BR_DROP_NO_DEST);
		last--;
	}
	c.fl = fl;
	if (untagged) {
		if (br_untag(pc, f))
			return px_drop(pc, BR_DROP_MALFORMED);
		c.from = 0;
		bpf_loop(untagged < last ? untagged : last, br_clone_one, &c, 0);
	}
	if (last >= untagged) {
		if (br_tag(pc, f, f->vid))
			return px_drop(pc, BR_DROP_MALFORMED);
		c.from = untagged;
		bpf_loop(last - untagged, br_clone_one, &c, 0);
	}
	return px_redirect(pc, fl->ports[last & (PX_MAX_PORTS - 1)]);
}
#endif

#ifdef PX_HOOK_XDP
static __always_inline int br_flood(const struct px_ctx *pc, struct br_frame *f)
{
	__u32 vid = f->vid;
	struct br_flood *fl = bpf_map_lookup_elem(&br_flood_list, &vid);
	void *devmap;
	struct br_meta *m;

	/* The ingress port is a member: fewer than two means nobody else. */
	if (!fl || fl->count < 2)
		return px_drop(pc, BR_DROP_NO_DEST);
	devmap = bpf_map_lookup_elem(&br_flood_xdp, &vid);
	if (!devmap)
		return px_drop(pc, BR_DROP_NO_DEST);
	if (br_tag(pc, f, f->vid))
		return px_drop(pc, BR_DROP_MALFORMED);
	/* Best effort: without metadata (generic XDP) only the ingress interface is excluded. */
	if (!bpf_xdp_adjust_meta(pc->ctx, -(int)sizeof(struct br_meta))) {
		m = (void *)(long)pc->ctx->data_meta;
		if ((void *)(m + 1) <= px_data(pc)) {
			m->magic = BR_META_MAGIC;
			m->in_port = pc->in_port;
		}
	}
	return px_broadcast(pc, devmap);
}
#endif

#endif /* __BR_FLOOD_H */
