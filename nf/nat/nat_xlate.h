/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rewriting a packet's addresses and ports with incremental checksum updates (RFC 1624): the
 * difference of the old and new words is computed once (bpf_csum_diff) and folded into the IPv4
 * header checksum and the TCP, UDP or ICMP checksum. In TC the kernel helpers apply it, so that
 * packets whose L4 checksum the device has still to finish (CHECKSUM_PARTIAL: the field holds the
 * pseudo-header sum only) get the address change and not the port change, as the kernel's own NAT
 * does; XDP frames always carry whole checksums and are patched in place.
 */
#ifndef __NAT_XLATE_H
#define __NAT_XLATE_H

#include "nat_parse.h"

/* What a packet's tuple becomes. */
struct nat_new {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
};

static __always_inline __u16 nat_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)((s & 0xffff) + (s >> 16));
}

/* The checksum field `old` after adding `diff` to what it covers. */
static __always_inline __u16 nat_csum_apply(__u16 old, __u64 diff)
{
	return (__u16)~nat_fold((__u64)(__u16)~old + diff);
}

/* Where the L4 checksum is (offset from the L4 header), 0 for none. */
static __always_inline __u32 nat_l4_csum_off(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return 6;
	default:
		return 2; /* ICMP, ICMPv6 */
	}
}

/*
 * Rewrites the packet parsed into `p` to `n`. Returns 0, or -1 when the headers are not where
 * they were (they were checked by the parser: this keeps the verifier's bounds).
 */
static __always_inline int nat_rewrite(const struct px_ctx *pc, const struct nat_pkt *p, const struct nat_new *n)
{
	__u32 l3 = p->l3_off, l4 = p->l4_off, csum_off = nat_l4_csum_off(p->proto);
	__be32 op[2] = {}, np[2] = {};
	__u64 ad, pd, l4d;
	int icmp = p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6;

	if (p->family == 4) {
		ad = (__u32)bpf_csum_diff((__be32 *)p->saddr, 4, (__be32 *)n->saddr, 4, 0);
		ad += (__u32)bpf_csum_diff((__be32 *)p->daddr, 4, (__be32 *)n->daddr, 4, 0);
	} else {
		ad = (__u32)bpf_csum_diff((__be32 *)p->saddr, 16, (__be32 *)n->saddr, 16, 0);
		ad += (__u32)bpf_csum_diff((__be32 *)p->daddr, 16, (__be32 *)n->daddr, 16, 0);
	}
	ad = nat_fold(ad);
	if (icmp) {
		/* The identifier is one word (followed by the sequence number, unchanged). */
		((__be16 *)op)[0] = p->sport;
		((__be16 *)np)[0] = n->sport;
	} else {
		((__be16 *)op)[0] = p->sport;
		((__be16 *)op)[1] = p->dport;
		((__be16 *)np)[0] = n->sport;
		((__be16 *)np)[1] = n->dport;
	}
	pd = nat_fold((__u32)bpf_csum_diff(op, 4, np, 4, 0));
	/* ICMPv4's checksum covers no pseudo-header. */
	l4d = p->proto == IPPROTO_ICMP ? pd : ad + pd;
	if (l3 > 64 || l4 > 600)
		return -1;

#ifdef PX_HOOK_XDP
	{
		void *data = px_data(pc), *end = px_data_end(pc);
		__u8 *ip = data + l3, *h = data + l4;

		if ((void *)(ip + 40) > end || (void *)(h + 20) > end) {
			/* Short frames: the parser saw at least 8 L4 bytes and a whole IP header. */
			if ((void *)(h + 8) > end || (void *)(ip + (p->family == 4 ? 20 : 40)) > end)
				return -1;
		}
		if (p->family == 4) {
			if ((void *)(ip + 20) > end)
				return -1;
			*(__u32 *)(ip + 12) = *(__u32 *)n->saddr;
			*(__u32 *)(ip + 16) = *(__u32 *)n->daddr;
			*(__u16 *)(ip + 10) = nat_csum_apply(*(__u16 *)(ip + 10), ad);
		} else {
			if ((void *)(ip + 40) > end)
				return -1;
			__builtin_memcpy(ip + 8, n->saddr, 16);
			__builtin_memcpy(ip + 24, n->daddr, 16);
		}
		if (icmp) {
			if ((void *)(h + 8) > end)
				return -1;
			*(__be16 *)(h + 4) = n->sport;
			*(__u16 *)(h + 2) = nat_csum_apply(*(__u16 *)(h + 2), l4d);
		} else if (p->proto == IPPROTO_UDP) {
			if ((void *)(h + 8) > end)
				return -1;
			*(__be16 *)h = n->sport;
			*(__be16 *)(h + 2) = n->dport;
			if (!p->udp_nocsum) {
				__u16 c = nat_csum_apply(*(__u16 *)(h + 6), l4d);

				*(__u16 *)(h + 6) = c ? c : 0xffff;
			}
		} else {
			if ((void *)(h + 20) > end)
				return -1;
			*(__be16 *)h = n->sport;
			*(__be16 *)(h + 2) = n->dport;
			*(__u16 *)(h + 16) = nat_csum_apply(*(__u16 *)(h + 16), l4d);
		}
	}
#else
	{
		__u64 mangled0 = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

		if (p->family == 4) {
			if (bpf_skb_store_bytes(pc->ctx, l3 + 12, n->saddr, 4, 0) ||
			    bpf_skb_store_bytes(pc->ctx, l3 + 16, n->daddr, 4, 0) ||
			    bpf_l3_csum_replace(pc->ctx, l3 + 10, 0, ad, 0))
				return -1;
		} else {
			if (bpf_skb_store_bytes(pc->ctx, l3 + 8, n->saddr, 16, 0) ||
			    bpf_skb_store_bytes(pc->ctx, l3 + 24, n->daddr, 16, 0))
				return -1;
		}
		if (icmp) {
			if (bpf_skb_store_bytes(pc->ctx, l4 + 4, &n->sport, 2, 0))
				return -1;
		} else if (bpf_skb_store_bytes(pc->ctx, l4, &n->sport, 4, 0)) {
			return -1;
		}
		if (p->udp_nocsum)
			return 0;
		if (p->proto != IPPROTO_ICMP &&
		    bpf_l4_csum_replace(pc->ctx, l4 + csum_off, 0, ad, BPF_F_PSEUDO_HDR | mangled0))
			return -1;
		if (bpf_l4_csum_replace(pc->ctx, l4 + csum_off, 0, pd, mangled0))
			return -1;
	}
#endif
	return 0;
}

/* Replaces an IPv6 address in place (NPT: checksum-neutral, so nothing else changes). */
static __always_inline int nat_set_addr6(const struct px_ctx *pc, __u32 off, const __u8 *addr)
{
	if (off > 128)
		return -1;
#ifdef PX_HOOK_XDP
	{
		void *data = px_data(pc), *end = px_data_end(pc);
		__u8 *a = data + off;

		if ((void *)(a + 16) > end)
			return -1;
		__builtin_memcpy(a, addr, 16);
		return 0;
	}
#else
	return bpf_skb_store_bytes(pc->ctx, off, addr, 16, 0) ? -1 : 0;
#endif
}

#endif /* __NAT_XLATE_H */
