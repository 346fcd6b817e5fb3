/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-source rate limits: a token bucket per source address (or per prefix of it: IPv6 attackers
 * own whole /64s), kept as a GCRA theoretical arrival time in an LRU hash. A source may send
 * `burst` packets back to back and `rate` per second on average. The read-modify-write is not
 * atomic: two CPUs handling the same source at the same instant may let one packet too many
 * through, never fewer.
 */
#ifndef __DDOS_RATE_H
#define __DDOS_RATE_H

#include "ddos_maps.h"
#include "ddos_parse.h"

/* Keeps the first `bits` bits of a 16-byte address (bits 0..128). */
static __always_inline void ddos_mask(__u8 *a, __u32 bits)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		__u32 lo = i * 8;

		if (bits <= lo)
			a[i] = 0;
		else if (bits < lo + 8)
			a[i] &= (__u8)(0xff << (lo + 8 - bits));
	}
}

/* A GCRA step: whether a packet at `now` conforms, moving *tat on if it does. */
static __always_inline int ddos_gcra(__u64 *tat, __u64 now, __u64 interval, __u64 tolerance)
{
	__u64 t = *tat < now ? now : *tat;

	if (t - now > tolerance)
		return 0;
	*tat = t + interval;
	return 1;
}

/* Whether the packet's source is within its rate (1) or over it (0). */
static __always_inline int ddos_rate_ok(const struct ddos_cfg *cfg, const struct ddos_pkt *p, __u64 now)
{
	struct ddos_src_key k = { .family = p->family };
	struct ddos_bucket *b;

	__builtin_memcpy(k.addr, p->saddr, 16);
	ddos_mask(k.addr, p->family == 4 ? cfg->rate_prefix4 : cfg->rate_prefix6);
	b = bpf_map_lookup_elem(&ddos_rate, &k);
	if (!b) {
		struct ddos_bucket nb = { .tat = now + cfg->rate_interval_ns, .passed = 1 };

		bpf_map_update_elem(&ddos_rate, &k, &nb, BPF_NOEXIST);
		return 1;
	}
	if (ddos_gcra(&b->tat, now, cfg->rate_interval_ns, cfg->rate_tolerance_ns)) {
		b->passed++;
		return 1;
	}
	b->dropped++;
	return 0;
}

#endif /* __DDOS_RATE_H */
