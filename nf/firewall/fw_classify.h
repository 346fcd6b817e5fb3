/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The linear bit-vector search (see fw_abi.h): one lookup per field gives a class, the classes'
 * summaries say which 256-rule blocks can hold a rule matching every field, and the first of
 * those blocks whose ANDed words are not all zero holds the winning rule.
 */
#ifndef __FW_CLASSIFY_H
#define __FW_CLASSIFY_H

#include "fw_abi.h"
#include "fw_parse.h"

/* Searches per packet: "count" rules a packet can pass, plus the rule that decides. The control
 * plane refuses rule sets with more count rules than FW_MAX_COUNT_CHAIN - 1. */
#define FW_MAX_COUNT_CHAIN 8

static __always_inline __u64 fw_popcnt64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

/* Index of the lowest set bit (x != 0). */
static __always_inline __u32 fw_ctz64(__u64 x)
{
	return (__u32)fw_popcnt64((x & -x) - 1);
}

/* An address as the prefix lookups take it (a struct, so global functions know its size). */
struct fw_addr {
	__u8 b[16];
};

/*
 * The class of an IPv4 address in the source (field 0) or destination (1) prefix table: the
 * longest prefix first. Global functions: the verifier checks their loops once, not in every
 * context they are called from.
 */
__noinline __u32 fw_pfx4_class(const struct fw_gen *g, __u32 gen, __u32 field, const struct fw_addr *addr)
{
	struct fw_pfx4_key k = {};
	__u32 a, n, i;

	if (!g || !addr)
		return 0;
	field &= 1;
	k.gen = gen;
	k.field = field;
	a = bpf_ntohl(*(const __u32 *)addr->b);
	n = g->nlen[field][0];
	for (i = 0; i < 33 && i < n; i++) {
		__u32 plen = g->len4[field][i] & 63, *c;

		if (plen > 32)
			break;
		/* A shift of 32 is not defined: the 64-bit mask has the length's bits in its top half. */
		k.plen = plen;
		*(__u32 *)k.addr = bpf_htonl(a & (__u32)((0xffffffff00000000ULL >> plen) & 0xffffffffULL));
		c = bpf_map_lookup_elem(&fw_pfx4, &k);
		if (c)
			return *c;
	}
	return g->dflt[FW_F_SRC + field];
}

/* The class of an IPv6 address in the source (0) or destination (1) prefix table. */
__noinline __u32 fw_pfx6_class(const struct fw_gen *g, __u32 gen, __u32 field, const struct fw_addr *addr)
{
	struct fw_pfx6_key k = {};
	__u32 n, i, j;

	if (!g || !addr)
		return 0;
	field &= 1;
	k.gen = gen;
	k.field = field;
	n = g->nlen[field][1];
	for (i = 0; i < 129 && i < n; i++) {
		__u32 plen = g->len6[field][i], *c;

		if (plen > 128)
			break;
		k.plen = plen;
#pragma unroll
		for (j = 0; j < 4; j++) {
			__s32 bits = (__s32)plen - (__s32)(j * 32);
			__u64 m;

			bits = bits < 0 ? 0 : bits > 32 ? 32 : bits;
			m = (0xffffffff00000000ULL >> bits) & 0xffffffffULL;
			((__u32 *)k.addr)[j] = ((const __u32 *)addr->b)[j] & bpf_htonl((__u32)m);
		}
		c = bpf_map_lookup_elem(&fw_pfx6, &k);
		if (c)
			return *c;
	}
	return g->dflt6[field];
}

static __always_inline __u32 fw_array_class(void *map, __u32 index, __u32 fallback)
{
	__u32 *c = bpf_map_lookup_elem(map, &index);

	return c ? *c : fallback;
}

/* What the search looks at: the packet's class in every field, and where to start. */
struct fw_search {
	__u32 cls[FW_FIELDS];
	__u32 from;
};

/* The classes of a packet (`ct` its conntrack state), fields no rule uses get the all-rules class. */
static __always_inline void fw_classes_of(struct fw_search *s, __u32 gen, const struct fw_gen *g,
					  const struct fw_pkt *p, __u32 ct, __u32 ifindex)
{
	__u32 used = g->used, all = g->all, l4 = p->l4;
	__u32 key;

	s->from = 0;
	key = (p->family == 6 ? 4096 : 0) | (l4 ? 2048 : 0) | ((ct & 7) << 8) | p->proto;
	s->cls[FW_F_META] = (used & (1 << FW_F_META)) ? fw_array_class(&fw_meta, gen * FW_META_KEYS + key, all) : all;
	if (used & (1 << FW_F_SRC))
		s->cls[FW_F_SRC] = p->family == 6 ? fw_pfx6_class(g, gen, 0, (const struct fw_addr *)p->saddr)
						  : fw_pfx4_class(g, gen, 0, (const struct fw_addr *)p->saddr);
	else
		s->cls[FW_F_SRC] = all;
	if (used & (1 << FW_F_DST))
		s->cls[FW_F_DST] = p->family == 6 ? fw_pfx6_class(g, gen, 1, (const struct fw_addr *)p->daddr)
						  : fw_pfx4_class(g, gen, 1, (const struct fw_addr *)p->daddr);
	else
		s->cls[FW_F_DST] = all;
	s->cls[FW_F_SPORT] = (used & (1 << FW_F_SPORT))
				     ? fw_array_class(&fw_sport, gen * 65536 + (l4 ? p->sport : 0), all)
				     : all;
	s->cls[FW_F_DPORT] = (used & (1 << FW_F_DPORT))
				     ? fw_array_class(&fw_dport, gen * 65536 + (l4 ? p->dport : 0), all)
				     : all;
	s->cls[FW_F_FLAGS] = (used & (1 << FW_F_FLAGS)) ? fw_array_class(&fw_flags, gen * 256 + p->tcp_flags, all) : all;
	if (used & (1 << FW_F_IIF)) {
		struct fw_iif_key k = { .gen = gen, .ifindex = ifindex };
		__u32 *c = bpf_map_lookup_elem(&fw_iif, &k);

		s->cls[FW_F_IIF] = c ? *c : g->dflt[FW_F_IIF];
	} else {
		s->cls[FW_F_IIF] = all;
	}
}

/* The search's state across the blocks it visits (bpf_loop callback context). */
struct fw_walk {
	__u64 summary[FW_FIELDS];
	__u32 base[FW_FIELDS];
	__u32 first;          /* the block `from` falls in... */
	__u64 mask[FW_BLOCK_RULES / 64]; /* ...and which of its rules are at or after `from` */
	__u64 acc;            /* blocks left to visit: every class has some rule there */
	__s32 found;
	__u32 pad;
};

/* Kept in a per-CPU slot rather than on the stack: the frames of the packet handler, the search
 * and its callback must fit 512 bytes together. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_walk);
} fw_walk SEC(".maps");

/* Visits the next candidate block; returns 1 (stop) once a rule is found or none is left. */
static long fw_walk_block(__u64 i, void *ctx)
{
	__u32 zero = 0;
	struct fw_walk *w = bpf_map_lookup_elem(&fw_walk, &zero);
	__u64 acc, below, m0 = ~0ULL, m1 = ~0ULL, m2 = ~0ULL, m3 = ~0ULL;
	__u32 b, f;

	if (!w)
		return 1;
	acc = w->acc;
	if (!acc)
		return 1;
	b = fw_ctz64(acc) & (FW_BLOCKS - 1);
	below = (1ULL << b) - 1;
	w->acc = acc & (acc - 1);
#pragma unroll
	for (f = 0; f < FW_FIELDS; f++) {
		__u32 idx = w->base[f] + (__u32)fw_popcnt64(w->summary[f] & below);
		const struct fw_block *k = bpf_map_lookup_elem(&fw_blocks, &idx);

		if (!k)
			return 1;
		m0 &= k->w[0];
		m1 &= k->w[1];
		m2 &= k->w[2];
		m3 &= k->w[3];
	}
	if (b == w->first) {
		m0 &= w->mask[0];
		m1 &= w->mask[1];
		m2 &= w->mask[2];
		m3 &= w->mask[3];
	}
	if (m0)
		w->found = (__s32)(b * FW_BLOCK_RULES + fw_ctz64(m0));
	else if (m1)
		w->found = (__s32)(b * FW_BLOCK_RULES + 64 + fw_ctz64(m1));
	else if (m2)
		w->found = (__s32)(b * FW_BLOCK_RULES + 128 + fw_ctz64(m2));
	else if (m3)
		w->found = (__s32)(b * FW_BLOCK_RULES + 192 + fw_ctz64(m3));
	else
		return 0;
	return 1;
}

/*
 * The lowest rule index >= s->from that every class holds, or -1. A global function: the
 * verifier checks it once, not at every call; the blocks are visited with bpf_loop(), whose
 * callback is checked once too.
 */
__noinline int fw_search_rules(struct fw_search *s)
{
	__u32 zero = 0, from, lo, f, i;
	struct fw_walk *w = bpf_map_lookup_elem(&fw_walk, &zero);
	__u64 acc = ~0ULL;

	if (!s || !w)
		return -1;
	from = s->from;
	w->first = from / FW_BLOCK_RULES;
	if (w->first >= FW_BLOCKS)
		return -1;
	lo = from % FW_BLOCK_RULES;
#pragma unroll
	for (i = 0; i < FW_BLOCK_RULES / 64; i++)
		w->mask[i] = lo >= (i + 1) * 64 ? 0 : lo > i * 64 ? ~0ULL << (lo - i * 64) : ~0ULL;
#pragma unroll
	for (f = 0; f < FW_FIELDS; f++) {
		__u32 idx = s->cls[f];
		const struct fw_class *c = bpf_map_lookup_elem(&fw_classes, &idx);

		if (!c)
			return -1;
		w->summary[f] = c->summary;
		w->base[f] = c->base;
		acc &= c->summary;
	}
	w->acc = acc & (~0ULL << w->first);
	w->found = -1;
	bpf_loop(FW_BLOCKS, fw_walk_block, 0, 0);
	return w->found;
}

static __always_inline void fw_count(__u32 slot, __u32 len)
{
	struct fw_counter *c = bpf_map_lookup_elem(&fw_counters, &slot);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/*
 * The action of the first rule (in order) that takes the packet, counting it and the "count"
 * rules passed on the way; NULL when none does.
 */
static __always_inline const struct fw_rule_action *fw_match(struct fw_search *s, __u32 gen, const struct fw_gen *g,
							     __u32 len)
{
	__u32 n;

#pragma unroll
	for (n = 0; n < FW_MAX_COUNT_CHAIN; n++) {
		const struct fw_rule_action *a;
		__u32 idx;
		int r = fw_search_rules(s);

		/* The all-rules class has every bit set: with no rule looking at any field, the "match"
		 * can be past the last rule. */
		if (r < 0 || r >= FW_MAX_RULES || (__u32)r >= g->nrules)
			return 0;
		idx = gen * FW_MAX_RULES + (__u32)r;
		a = bpf_map_lookup_elem(&fw_actions, &idx);
		if (!a)
			return 0;
		fw_count(a->counter, len);
		if (a->action != FW_ACT_COUNT)
			return a;
		s->from = (__u32)r + 1;
	}
	return 0;
}

#endif /* __FW_CLASSIFY_H */
