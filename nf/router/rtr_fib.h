/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Route lookups for forwarding: the longest-prefix-match trie, behind the route cache when the
 * control plane has turned it on (large tables). The generation is read before the trie, so an
 * entry cached from a trie that changed meanwhile carries the old generation and is never used.
 */
#ifndef __RTR_FIB_H
#define __RTR_FIB_H

#include "rtr_abi.h"

static __always_inline struct rtr_cfg *rtr_cfg_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rtr_cfg, &zero);
}

/* Copies the route for `dst` (network order) into `out`; 0 when there is none. */
static __always_inline int rtr_fib4_lookup(__u32 dst, struct rtr_route4 *out)
{
	struct rtr_lpm4_key key = { .plen = 32, .addr = dst };
	struct rtr_cfg *cfg = rtr_cfg_get();
	struct rtr_rcache4 *c, v;
	struct rtr_route4 *r;
	__u32 gen;

	if (!cfg || !(cfg->flags & RTR_CFG_ROUTE_CACHE)) {
		r = bpf_map_lookup_elem(&rtr_fib4, &key);
		if (!r)
			return 0;
		*out = *r;
		return 1;
	}
	gen = *(volatile __u32 *)&cfg->fib_gen;
	c = bpf_map_lookup_elem(&rtr_rcache4, &dst);
	if (c) {
		v = *c;
		if (v.addr == dst && v.gen == gen) {
			*out = v.r;
			return 1;
		}
	}
	r = bpf_map_lookup_elem(&rtr_fib4, &key);
	if (!r)
		return 0;
	v.r = *r;
	v.addr = dst;
	v.gen = gen;
	bpf_map_update_elem(&rtr_rcache4, &dst, &v, BPF_ANY);
	*out = v.r;
	return 1;
}

static __always_inline int rtr_addr6_eq(const __u8 *a, const __u8 *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

static __always_inline int rtr_fib6_lookup(const __u8 *dst, struct rtr_route6 *out)
{
	struct rtr_lpm6_key key = { .plen = 128 };
	struct rtr_rcache6_key ck;
	struct rtr_cfg *cfg = rtr_cfg_get();
	struct rtr_rcache6 *c, v;
	struct rtr_route6 *r;
	__u32 gen;

	__builtin_memcpy(key.addr, dst, 16);
	if (!cfg || !(cfg->flags & RTR_CFG_ROUTE_CACHE)) {
		r = bpf_map_lookup_elem(&rtr_fib6, &key);
		if (!r)
			return 0;
		*out = *r;
		return 1;
	}
	gen = *(volatile __u32 *)&cfg->fib_gen;
	__builtin_memcpy(ck.addr, dst, 16);
	c = bpf_map_lookup_elem(&rtr_rcache6, &ck);
	if (c) {
		v = *c;
		if (rtr_addr6_eq(v.addr, ck.addr) && v.gen == gen) {
			*out = v.r;
			return 1;
		}
	}
	r = bpf_map_lookup_elem(&rtr_fib6, &key);
	if (!r)
		return 0;
	v.r = *r;
	__builtin_memcpy(v.addr, ck.addr, 16);
	v.gen = gen;
	v.pad = 0;
	bpf_map_update_elem(&rtr_rcache6, &ck, &v, BPF_ANY);
	*out = v.r;
	return 1;
}

#endif /* __RTR_FIB_H */
