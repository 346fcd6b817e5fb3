/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rewriting a packet for its connection: the MACs always, and in DNAT mode one endpoint (the
 * destination on the client's side, the source on the backend's) with incremental checksum updates
 * (RFC 1624). In TC the kernel's helpers apply the difference, so that a packet whose L4 checksum
 * the device has still to finish gets the pseudo-header change only; XDP frames carry whole
 * checksums and are patched in place.
 */
#ifndef __LB_XLATE_H
#define __LB_XLATE_H

#include "lb_parse.h"

static __always_inline __u16 lb_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)((s & 0xffff) + (s >> 16));
}

static __always_inline __u16 lb_csum_apply(__u16 old, __u64 diff)
{
	return (__u16)~lb_fold((__u64)(__u16)~old + diff);
}

/* The one's complement sum that turns a checksum over `from` into one over `to` (32-bit words). */
static __always_inline __u64 lb_diff32(__u32 from, __u32 to)
{
	return (__u64)(__u32)~from + to;
}

/* Sets the frame's destination and source MACs (12 bytes: dst then src). */
static __always_inline int lb_set_macs(const struct px_ctx *pc, const __u8 *dmac, const __u8 *smac)
{
#ifdef PX_HOOK_XDP
	void *data = px_data(pc), *end = px_data_end(pc);
	__u8 *h = data;

	if ((void *)(h + 12) > end)
		return -1;
	__builtin_memcpy(h, dmac, 6);
	__builtin_memcpy(h + 6, smac, 6);
	return 0;
#else
	__u8 m[12];

	__builtin_memcpy(m, dmac, 6);
	__builtin_memcpy(m + 6, smac, 6);
	return bpf_skb_store_bytes(pc->ctx, 0, m, 12, 0) ? -1 : 0;
#endif
}

/*
 * Replaces the destination (`src` == 0) or source address and port of the parsed packet with
 * addr:port. Returns 0, or -1 when the headers are not where the parser found them.
 */
static __always_inline int lb_rewrite(const struct px_ctx *pc, const struct lb_pkt *p, int src, const __u8 *addr,
				      __be16 port)
{
	__u32 l3 = p->l3_off, l4 = p->l4_off;
	__u32 a_off = p->family == 4 ? (src ? 12 : 16) : (src ? 8 : 24);
	__u32 p_off = src ? 0 : 2, c_off = p->proto == IPPROTO_TCP ? 16 : 6;
	const __u8 *old = src ? p->saddr : p->daddr;
	__u16 op = src ? p->sport : p->dport, np = port;
	__u64 ad, pd;

	/* One's complement differences summed inline (cheaper than bpf_csum_diff calls per packet). */
	ad = lb_diff32(((const __u32 *)old)[0], ((const __u32 *)addr)[0]);
	if (p->family != 4) {
		ad += lb_diff32(((const __u32 *)old)[1], ((const __u32 *)addr)[1]);
		ad += lb_diff32(((const __u32 *)old)[2], ((const __u32 *)addr)[2]);
		ad += lb_diff32(((const __u32 *)old)[3], ((const __u32 *)addr)[3]);
	}
	ad = lb_fold(ad);
	pd = lb_fold((__u64)(__u16)~op + np);
	if (l3 > 64 || l4 > 600)
		return -1;
#ifdef PX_HOOK_XDP
	{
		void *data = px_data(pc), *end = px_data_end(pc);
		__u8 *ip = data + l3, *h = data + l4;

		if (p->family == 4) {
			if ((void *)(ip + 20) > end)
				return -1;
			if (src)
				*(__u32 *)(ip + 12) = *(__u32 *)addr;
			else
				*(__u32 *)(ip + 16) = *(__u32 *)addr;
			*(__u16 *)(ip + 10) = lb_csum_apply(*(__u16 *)(ip + 10), ad);
		} else {
			if ((void *)(ip + 40) > end)
				return -1;
			if (src)
				__builtin_memcpy(ip + 8, addr, 16);
			else
				__builtin_memcpy(ip + 24, addr, 16);
		}
		if (p->proto == IPPROTO_TCP) {
			if ((void *)(h + 20) > end)
				return -1;
			if (src)
				*(__be16 *)h = port;
			else
				*(__be16 *)(h + 2) = port;
			*(__u16 *)(h + 16) = lb_csum_apply(*(__u16 *)(h + 16), ad + pd);
		} else {
			if ((void *)(h + 8) > end)
				return -1;
			if (src)
				*(__be16 *)h = port;
			else
				*(__be16 *)(h + 2) = port;
			if (!p->udp_nocsum) {
				__u16 c = lb_csum_apply(*(__u16 *)(h + 6), ad + pd);

				*(__u16 *)(h + 6) = c ? c : 0xffff;
			}
		}
	}
#else
	{
		__u64 mangled0 = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

		if (bpf_skb_store_bytes(pc->ctx, l3 + a_off, addr, p->family == 4 ? 4 : 16, 0))
			return -1;
		if (p->family == 4 && bpf_l3_csum_replace(pc->ctx, l3 + 10, 0, ad, 0))
			return -1;
		if (bpf_skb_store_bytes(pc->ctx, l4 + p_off, &port, 2, 0))
			return -1;
		if (p->udp_nocsum)
			return 0;
		if (bpf_l4_csum_replace(pc->ctx, l4 + c_off, 0, ad, BPF_F_PSEUDO_HDR | mangled0))
			return -1;
		if (bpf_l4_csum_replace(pc->ctx, l4 + c_off, 0, pd, mangled0))
			return -1;
	}
#endif
	return 0;
}

#endif /* __LB_XLATE_H */
