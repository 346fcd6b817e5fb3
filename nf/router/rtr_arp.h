/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ARP: requests for the router's address on the port they arrive on are answered here (and teach
 * the sender); replies to the router and gratuitous announcements go to the control plane, which
 * owns resolution (it holds the packets waiting for them).
 */
#ifndef __RTR_ARP_H
#define __RTR_ARP_H

#include "rtr_abi.h"
#include "rtr_pkt.h"
#include "rtr_neigh.h"

struct rtr_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline int rtr_arp(struct px_ctx *pc, const struct rtr_port *port)
{
	void *data, *end;
	struct ethhdr *eth;
	struct rtr_arp *a;
	struct rtr_lpm4_key tk = { .plen = 32 };
	struct rtr_route4 *t;
	__u32 spa, tpa;
	__u16 op;
	int ours;

	if (rtr_pull(pc, ETH_HLEN_ + sizeof(*a)))
		return px_drop(pc, RTR_DROP_MALFORMED);
	data = px_data(pc);
	end = px_data_end(pc);
	eth = data;
	a = data + ETH_HLEN_;
	if ((void *)(a + 1) > end)
		return px_drop(pc, RTR_DROP_MALFORMED);
	if (a->htype != bpf_htons(1) || a->ptype != bpf_htons(ETH_P_IP) || a->hlen != 6 || a->plen != 4)
		return px_drop(pc, RTR_DROP_MALFORMED);
	op = bpf_ntohs(a->op);
	__builtin_memcpy(&spa, a->spa, 4);
	__builtin_memcpy(&tpa, a->tpa, 4);
	if (rtr_mac_is_mcast(a->sha))
		return px_drop(pc, RTR_DROP_MALFORMED);

	tk.addr = tpa;
	t = bpf_map_lookup_elem(&rtr_fib4, &tk);
	ours = t && t->type == RTR_RT_LOCAL && t->port == pc->in_port && spa != tpa;

	if (op == 1 && ours) {
		if (spa && rtr_on_link4(pc->in_port, spa))
			rtr_learn4(pc->in_port, spa, a->sha);
		/* The request becomes the reply, in place. */
		__builtin_memcpy(eth->h_dest, a->sha, 6);
		__builtin_memcpy(eth->h_source, port->mac, 6);
		a->op = bpf_htons(2);
		__builtin_memcpy(a->tha, a->sha, 6);
		__builtin_memcpy(a->tpa, &spa, 4);
		__builtin_memcpy(a->sha, port->mac, 6);
		__builtin_memcpy(a->spa, &tpa, 4);
		return px_redirect(pc, pc->in_port);
	}
	/* A reply to the router: resolution (or a probe) answered. */
	if (op == 2 && ours && rtr_on_link4(pc->in_port, spa))
		return px_to_cp(pc, RTR_CP_NEIGH, pc->in_port);
	/* A neighbour announcing itself (gratuitous ARP): only about one we know, so a flood of
	 * announcements from strangers never reaches the control plane. */
	if (spa == tpa && spa && (op == 1 || op == 2) && rtr_on_link4(pc->in_port, spa)) {
		struct rtr_nkey4 nk = { .port = pc->in_port, .addr = spa };

		if (bpf_map_lookup_elem(&rtr_neigh4, &nk))
			return px_to_cp(pc, RTR_CP_NEIGH, pc->in_port);
	}
	return px_drop(pc, RTR_DROP_NOT_FOR_ROUTER);
}

#endif /* __RTR_ARP_H */
