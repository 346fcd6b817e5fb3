/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Neighbour lookups and learning, and the "is this address on that port's link" test that guards
 * learning (like Linux, a router only learns neighbours on its connected subnets).
 */
#ifndef __RTR_NEIGH_H
#define __RTR_NEIGH_H

#include "rtr_abi.h"
#include "rtr_pkt.h"

static __always_inline int rtr_on_link4(__u32 port, __u32 addr)
{
	struct rtr_lpm4_key k = { .plen = 32, .addr = addr };
	struct rtr_route4 *r = bpf_map_lookup_elem(&rtr_fib4, &k);

	return r && r->type == RTR_RT_CONNECTED && r->port == port;
}

static __always_inline int rtr_on_link6(__u32 port, const __u8 *addr)
{
	struct rtr_lpm6_key k = { .plen = 128 };
	struct rtr_route6 *r;

	/* Link-local addresses are on every link. */
	if (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80)
		return 1;
	__builtin_memcpy(k.addr, addr, 16);
	r = bpf_map_lookup_elem(&rtr_fib6, &k);
	return r && r->type == RTR_RT_CONNECTED && r->port == port;
}

static __always_inline void rtr_neigh_set(void *map, const void *key, const __u8 *mac)
{
	struct rtr_neigh *n = bpf_map_lookup_elem(map, key);
	struct rtr_neigh v = {};

	if (n && n->state == RTR_N_PERMANENT)
		return;
	if (n && n->state != RTR_N_INCOMPLETE && rtr_mac_eq(n->mac, mac)) {
		/* Same MAC: refresh in place (no allocation); an INCOMPLETE entry is replaced whole. */
		n->state = RTR_N_REACHABLE;
		n->confirmed = bpf_ktime_get_ns();
		return;
	}
	__builtin_memcpy(v.mac, mac, 6);
	v.state = RTR_N_REACHABLE;
	v.confirmed = bpf_ktime_get_ns();
	bpf_map_update_elem(map, key, &v, BPF_ANY);
}

/* Learns (port, addr) -> mac from a request addressed to the router (ARP request, NS). */
static __always_inline void rtr_learn4(__u32 port, __u32 addr, const __u8 *mac)
{
	struct rtr_nkey4 k = { .port = port, .addr = addr };

	rtr_neigh_set(&rtr_neigh4, &k, mac);
}

static __always_inline void rtr_learn6(__u32 port, const __u8 *addr, const __u8 *mac)
{
	struct rtr_nkey6 k = { .port = port };

	__builtin_memcpy(k.addr, addr, 16);
	rtr_neigh_set(&rtr_neigh6, &k, mac);
}

#endif /* __RTR_NEIGH_H */
