/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet access that reads the same in both hooks: bounded pulls, copies in and out, resizing,
 * and the ones'-complement checksum arithmetic the router needs.
 */
#ifndef __RTR_PKT_H
#define __RTR_PKT_H

#include <plexus.h>

#define ETH_HLEN_ 14

/* TC: makes up to `len` bytes directly readable (never more than the packet has). */
static __always_inline int rtr_pull(const struct px_ctx *pc, __u32 len)
{
	__u32 have = px_len(pc);

	return px_pull(pc, len < have ? len : have);
}

static __always_inline int rtr_load(const struct px_ctx *pc, __u32 off, void *to, __u32 len)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_load_bytes(pc->ctx, off, to, len);
#else
	return bpf_skb_load_bytes(pc->ctx, off, to, len);
#endif
}

static __always_inline int rtr_store(const struct px_ctx *pc, __u32 off, const void *from, __u32 len)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_store_bytes(pc->ctx, off, (void *)from, len);
#else
	return bpf_skb_store_bytes(pc->ctx, off, from, len, 0);
#endif
}

/* Adds `room` bytes in front of the packet (XDP headroom is always at least 256 bytes). */
static __always_inline int rtr_grow_head(const struct px_ctx *pc, __u32 room)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_adjust_head(pc->ctx, -(int)room);
#else
	return bpf_skb_change_head(pc->ctx, room, 0);
#endif
}

/* Makes the packet exactly `len` bytes long, cutting or extending at the tail. */
static __always_inline int rtr_set_len(const struct px_ctx *pc, __u32 len)
{
	__u32 cur = px_len(pc);

	if (len == cur)
		return 0;
#ifdef PX_HOOK_XDP
	return bpf_xdp_adjust_tail(pc->ctx, (int)len - (int)cur);
#else
	return bpf_skb_change_tail(pc->ctx, len, 0);
#endif
}

/*
 * Hides what the compiler knows about `v`, so that the range check that follows is kept and seen
 * by the verifier right where a helper needs it (the compiler otherwise folds it away or checks a
 * copy in another register).
 */
#define rtr_opaque(v) asm volatile("" : "+r"(v))

/*
 * TC: a GSO super-packet from a local stack, cut to the egress device's MTU later: its IP length
 * says nothing about what goes on the wire (Linux checks its segments, not it).
 */
static __always_inline int rtr_is_gso(const struct px_ctx *pc)
{
#ifdef PX_HOOK_TC
	return pc->ctx->gso_segs > 1;
#else
	return 0;
#endif
}

static __always_inline struct rtr_scratch *rtr_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rtr_scratch, &zero);
}

/* ---- checksums ---- */

static __always_inline __u16 rtr_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * RFC 1624 incremental update of a checksum field when one 16-bit word of the data it covers
 * changes from `old` to `new` (all three as they lie in memory).
 */
static __always_inline __u16 rtr_csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32) new;

	return rtr_csum_fold(sum);
}

/* One 512-byte-at-most piece of rtr_csum_msg(), at a constant offset. */
static __always_inline __s64 rtr_csum_piece(struct rtr_scratch *s, __u64 len, __u32 off, __s64 seed)
{
	__u64 n;

	if (seed < 0 || len <= off)
		return seed;
	n = len - off;
	rtr_opaque(n);
	if (n > 512)
		n = 512;
	n &= 0x3fc;
	if (n == 0)
		return seed;
	return bpf_csum_diff(0, 0, (__be32 *)(s->msg + off), n, (__u32)seed);
}

/*
 * Ones'-complement sum of msg[0..len) (len a multiple of 4, at most RTR_MSG_MAX) on top of
 * `seed`, unfolded. bpf_csum_diff() takes at most 512 bytes at a time.
 */
static __always_inline __s64 rtr_csum_msg(struct rtr_scratch *s, __u64 len, __s64 seed)
{
	seed = rtr_csum_piece(s, len, 0, seed);
	seed = rtr_csum_piece(s, len, 512, seed);
	return rtr_csum_piece(s, len, 1024, seed);
}

static __always_inline int rtr_mac_is_mcast(const __u8 *mac)
{
	return mac[0] & 1;
}

static __always_inline int rtr_mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

#endif /* __RTR_PKT_H */
