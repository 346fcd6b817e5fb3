/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reject action: the packet is turned into its answer in place, a TCP reset (for TCP) or an
 * ICMP / ICMPv6 destination-unreachable quoting its first bytes, and sent back the way it came:
 * out of the interface it entered on (a redirect to that interface, or into the host when a TC
 * egress packet was the host's own). The answer comes from the packet's destination
 * address, as from the host it was meant for. Rejects are rate limited (a GCRA over one
 * timestamp, like Linux's icmp_msgs_per_sec); over the limit a rejected packet is only dropped.
 */
#ifndef __FW_REJECT_H
#define __FW_REJECT_H

#include "fw_abi.h"
#include "fw_parse.h"

#define FW_L2_MAX 22 /* Ethernet with two VLAN tags */
#define FW_QUOTE 128 /* bytes of the rejected packet an ICMP error quotes, at most */
#define FW_TTL 64

struct fw_scratch {
	__u8 l2[FW_L2_MAX + 2];
	__u8 hdr[40 + 20]; /* new IP header and TCP (20) or ICMP (8) header */
	__u8 pseudo[40];
	__u8 msg[8 + FW_QUOTE + 4]; /* ICMP header and quote, zero-padded to a multiple of 4 */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_scratch);
} fw_scratch SEC(".maps");

/* Hides a value's known range from the compiler so that the check after it reaches the verifier. */
#define fw_opaque(v) asm volatile("" : "+r"(v))

static __always_inline __u16 fw_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline int fw_reject_allowed(const struct fw_cfg *cfg)
{
	__u32 zero = 0;
	__u64 *tat = bpf_map_lookup_elem(&fw_reject_tat, &zero);
	__u64 now, t;

	if (!tat)
		return 0;
	if (!cfg->reject_interval_ns)
		return 1;
	now = bpf_ktime_get_ns();
	t = *tat < now ? now : *tat;
	if (t - now > cfg->reject_tolerance_ns)
		return 0;
	*tat = t + cfg->reject_interval_ns; /* racy across CPUs: at worst a few more in a burst */
	return 1;
}

static __always_inline int fw_load(const struct px_ctx *pc, __u32 off, void *to, __u32 len)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_load_bytes(pc->ctx, off, to, len);
#else
	return bpf_skb_load_bytes(pc->ctx, off, to, len);
#endif
}

static __always_inline int fw_store(const struct px_ctx *pc, __u32 off, const void *from, __u32 len)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_store_bytes(pc->ctx, off, (void *)from, len);
#else
	return bpf_skb_store_bytes(pc->ctx, off, from, len, 0);
#endif
}

static __always_inline int fw_grow_head(const struct px_ctx *pc, __u32 room)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_adjust_head(pc->ctx, -(int)room);
#else
	return bpf_skb_change_head(pc->ctx, room, 0);
#endif
}

static __always_inline int fw_set_len(const struct px_ctx *pc, __u32 len)
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

/* Sends the rebuilt packet back the way it came; the rejected packet is counted as dropped. */
static __always_inline int fw_send_back(const struct px_ctx *pc)
{
#ifdef PX_HOOK_XDP
	/* Not XDP_TX: a veth flushes XDP_TX frames to its peer only when the peer runs XDP too, so
	 * answers to a container would wait for unrelated traffic. A redirect is flushed at once. */
	return bpf_redirect(pc->ctx->ingress_ifindex, 0);
#else
	if (pc->ctx->ingress_ifindex)
		return bpf_redirect(pc->ctx->ingress_ifindex, 0);
	return bpf_redirect(pc->ctx->ifindex, BPF_F_INGRESS);
#endif
}

/* Copies the frame's L2 header with source and destination MACs swapped (tags kept). */
static __always_inline int fw_l2_reply(const struct px_ctx *pc, struct fw_scratch *s, __u32 l2)
{
	__u8 t[6];

	if (l2 < 14 || l2 > FW_L2_MAX)
		return -1;
	fw_opaque(l2);
	if (l2 < 14 || l2 > FW_L2_MAX)
		return -1;
	if (fw_load(pc, 0, s->l2, l2))
		return -1;
	__builtin_memcpy(t, s->l2, 6);
	__builtin_memcpy(s->l2, s->l2 + 6, 6);
	__builtin_memcpy(s->l2 + 6, t, 6);
	return 0;
}

/* Writes the new L2 header and `hlen` bytes of s->hdr after it. */
static __always_inline int fw_store_headers(const struct px_ctx *pc, struct fw_scratch *s, __u32 l2, __u32 hlen)
{
	fw_opaque(l2);
	if (l2 < 14 || l2 > FW_L2_MAX)
		return -1;
	if (fw_store(pc, 0, s->l2, l2))
		return -1;
	fw_opaque(hlen);
	if (hlen < 28 || hlen > sizeof(s->hdr))
		return -1;
	return fw_store(pc, l2, s->hdr, hlen);
}

static __always_inline int fw_is_unicast4(const __u8 *a)
{
	return a[0] != 0 && a[0] != 127 && a[0] < 224 && !(a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

static __always_inline int fw_is_unicast6(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return a[0] != 0xff && (w[0] | w[1] | w[2] | w[3]) != 0;
}

/* A TCP reset answering the TCP segment being handled. */
static __always_inline int fw_reject_tcp(const struct px_ctx *pc, const struct fw_pkt *p, struct fw_scratch *s)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	__u32 l2 = p->l2_len, l4 = p->l4_off, iplen, tcplen, seglen, seq, ack, ackv;
	__u8 *tcp = data + l4, *ip = data + l2, *t;
	__u8 flags;
	__s64 sum;

	if (l4 > 1024 || l2 > FW_L2_MAX)
		return -1;
	tcp = data + l4;
	ip = data + l2;
	if ((void *)(tcp + 20) > end || (void *)(ip + 40) > end)
		return -1;
	flags = tcp[13];
	if (flags & PX_TCPF_RST)
		return -1;
	seq = bpf_ntohl(*(__be32 *)(tcp + 4));
	ackv = bpf_ntohl(*(__be32 *)(tcp + 8));
	tcplen = (tcp[12] >> 4) * 4;
	if (p->family == 4) {
		iplen = bpf_ntohs(*(__be16 *)(ip + 2));
		seglen = iplen - (l4 - l2);
	} else {
		iplen = bpf_ntohs(*(__be16 *)(ip + 4)) + 40;
		seglen = iplen - (l4 - l2);
	}
	seglen = seglen > tcplen ? seglen - tcplen : 0;
	if (fw_l2_reply(pc, s, l2))
		return -1;

	/* The segment: from the port it was sent to, back to the sender. */
	t = s->hdr + (p->family == 4 ? 20 : 40);
	__builtin_memset(t, 0, 20);
	*(__u16 *)t = *(__u16 *)(tcp + 2);
	*(__u16 *)(t + 2) = *(__u16 *)tcp;
	if (flags & PX_TCPF_ACK) {
		*(__be32 *)(t + 4) = bpf_htonl(ackv);
		t[13] = PX_TCPF_RST;
	} else {
		ack = seq + seglen + ((flags & PX_TCPF_SYN) ? 1 : 0) + ((flags & PX_TCPF_FIN) ? 1 : 0);
		*(__be32 *)(t + 8) = bpf_htonl(ack);
		t[13] = PX_TCPF_RST | PX_TCPF_ACK;
	}
	t[12] = 5 << 4;

	if (p->family == 4) {
		__u8 *n = s->hdr;

		__builtin_memset(n, 0, 20);
		n[0] = 0x45;
		*(__be16 *)(n + 2) = bpf_htons(40);
		*(__be16 *)(n + 6) = bpf_htons(0x4000); /* don't fragment */
		n[8] = FW_TTL;
		n[9] = IPPROTO_TCP;
		__builtin_memcpy(n + 12, p->daddr, 4);
		__builtin_memcpy(n + 16, p->saddr, 4);
		sum = bpf_csum_diff(0, 0, (__be32 *)n, 20, 0);
		if (sum < 0)
			return -1;
		*(__u16 *)(n + 10) = fw_csum_fold(sum);
		__builtin_memset(s->pseudo, 0, 12);
		__builtin_memcpy(s->pseudo, p->daddr, 4);
		__builtin_memcpy(s->pseudo + 4, p->saddr, 4);
		s->pseudo[9] = IPPROTO_TCP;
		s->pseudo[11] = 20;
		sum = bpf_csum_diff(0, 0, (__be32 *)s->pseudo, 12, 0);
	} else {
		__u8 *n = s->hdr;

		__builtin_memset(n, 0, 8);
		n[0] = 0x60;
		*(__be16 *)(n + 4) = bpf_htons(20);
		n[6] = IPPROTO_TCP;
		n[7] = FW_TTL;
		__builtin_memcpy(n + 8, p->daddr, 16);
		__builtin_memcpy(n + 24, p->saddr, 16);
		__builtin_memset(s->pseudo, 0, 40);
		__builtin_memcpy(s->pseudo, p->daddr, 16);
		__builtin_memcpy(s->pseudo + 16, p->saddr, 16);
		s->pseudo[35] = 20;
		s->pseudo[39] = IPPROTO_TCP;
		sum = bpf_csum_diff(0, 0, (__be32 *)s->pseudo, 40, 0);
	}
	if (sum < 0)
		return -1;
	sum = bpf_csum_diff(0, 0, (__be32 *)t, 20, (__u32)sum);
	if (sum < 0)
		return -1;
	*(__u16 *)(t + 16) = fw_csum_fold(sum);

	iplen = p->family == 4 ? 40 : 60;
	if (fw_set_len(pc, l2 + iplen))
		return -1;
	return fw_store_headers(pc, s, l2, iplen);
}

/* An ICMP (v4) or ICMPv6 destination unreachable quoting the packet being handled. */
static __always_inline int fw_reject_icmp(const struct px_ctx *pc, const struct fw_pkt *p, struct fw_scratch *s,
					  __u32 how)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	__u32 l2 = p->l2_len, hlen = p->family == 4 ? 20 : 40, have = px_len(pc);
	__u8 *ip = data + l2;
	__u8 type, code;
	__u64 q;
	__s64 sum;

	if (l2 > FW_L2_MAX)
		return -1;
	ip = data + l2;
	if ((void *)(ip + 20) > end || (p->family == 6 && (void *)(ip + 40) > end))
		return -1;
	if (p->frag)
		return -1;
	if (p->family == 4) {
		if (!fw_is_unicast4(p->saddr) || !fw_is_unicast4(p->daddr) || p->daddr[0] >= 224)
			return -1;
		if (p->proto == IPPROTO_ICMP && p->icmp != FW_ICMP_QUERY)
			return -1; /* never about an ICMP error or reply */
		type = 3;
		code = how == FW_REJ_ADMIN_PROHIB ? 13 : how == FW_REJ_HOST_UNREACH ? 1 : how == FW_REJ_NET_UNREACH ? 0 : 3;
		q = bpf_ntohs(*(__be16 *)(ip + 2));
	} else {
		if (!fw_is_unicast6(p->saddr) || !fw_is_unicast6(p->daddr))
			return -1;
		if (p->proto == IPPROTO_ICMPV6 && p->icmp != FW_ICMP_QUERY)
			return -1;
		type = 1;
		code = how == FW_REJ_ADMIN_PROHIB ? 1 : how == FW_REJ_HOST_UNREACH ? 3 : how == FW_REJ_NET_UNREACH ? 0 : 4;
		q = bpf_ntohs(*(__be16 *)(ip + 4)) + 40;
	}
	if (have < l2 + hlen)
		return -1;
	if (q > have - l2)
		q = have - l2;
	if (q > FW_QUOTE)
		q = FW_QUOTE;
	fw_opaque(q);
	if (q < 20 || q > FW_QUOTE)
		return -1;
	if (fw_l2_reply(pc, s, l2))
		return -1;

	/* ICMP header and quote, checksummed in scratch. */
	__builtin_memset(s->msg, 0, 8);
	s->msg[0] = type;
	s->msg[1] = code;
	if (fw_load(pc, l2, s->msg + 8, q))
		return -1;
	*(__u32 *)(s->msg + 8 + q) = 0; /* pad to a multiple of 4 (the sum ignores zeros) */
	if (p->family == 4) {
		__u8 *n = s->hdr;

		__builtin_memset(n, 0, 20);
		n[0] = 0x45;
		n[1] = 0xc0;
		*(__be16 *)(n + 2) = bpf_htons(20 + 8 + q);
		n[8] = FW_TTL;
		n[9] = IPPROTO_ICMP;
		__builtin_memcpy(n + 12, p->daddr, 4);
		__builtin_memcpy(n + 16, p->saddr, 4);
		sum = bpf_csum_diff(0, 0, (__be32 *)n, 20, 0);
		if (sum < 0)
			return -1;
		*(__u16 *)(n + 10) = fw_csum_fold(sum);
		sum = 0;
	} else {
		__u8 *n = s->hdr;

		__builtin_memset(n, 0, 8);
		n[0] = 0x60;
		*(__be16 *)(n + 4) = bpf_htons(8 + q);
		n[6] = IPPROTO_ICMPV6;
		n[7] = 255;
		__builtin_memcpy(n + 8, p->daddr, 16);
		__builtin_memcpy(n + 24, p->saddr, 16);
		__builtin_memset(s->pseudo, 0, 40);
		__builtin_memcpy(s->pseudo, p->daddr, 16);
		__builtin_memcpy(s->pseudo + 16, p->saddr, 16);
		*(__be32 *)(s->pseudo + 32) = bpf_htonl(8 + q);
		s->pseudo[39] = IPPROTO_ICMPV6;
		sum = bpf_csum_diff(0, 0, (__be32 *)s->pseudo, 40, 0);
		if (sum < 0)
			return -1;
	}
	{
		__u64 n = (8 + q + 3) & ~3ULL;

		fw_opaque(n);
		if (n < 28 || n > 8 + FW_QUOTE + 4)
			return -1;
		sum = bpf_csum_diff(0, 0, (__be32 *)s->msg, n, (__u32)sum);
	}
	if (sum < 0)
		return -1;
	*(__u16 *)(s->msg + 2) = fw_csum_fold(sum);
	__builtin_memcpy(s->hdr + hlen, s->msg, 8);

	if (fw_grow_head(pc, hlen + 8) || fw_set_len(pc, l2 + hlen + 8 + q))
		return -1;
	return fw_store_headers(pc, s, l2, hlen + 8);
}

/*
 * Answers the packet being handled as `how` says (FW_REJ_*) and returns the verdict: the answer
 * on its way back, or a drop when no answer may be sent (rate limit, an error about an error...).
 */
static __always_inline int fw_reject(const struct px_ctx *pc, const struct fw_pkt *p, const struct fw_cfg *cfg,
				     __u32 how)
{
	__u32 zero = 0;
	struct fw_scratch *s;
	int r = -1;

	px_count_drop(pc->slot, pc->in_port, PX_RX, FW_DROP_REJECT);
	if (!p->l4 || !fw_reject_allowed(cfg))
		return PX_VERDICT_DROP;
	s = bpf_map_lookup_elem(&fw_scratch, &zero);
	if (!s)
		return PX_VERDICT_DROP;
	if (how == FW_REJ_AUTO)
		how = p->proto == IPPROTO_TCP ? FW_REJ_TCP_RESET : FW_REJ_PORT_UNREACH;
	if (how == FW_REJ_TCP_RESET) {
		if (p->proto != IPPROTO_TCP)
			how = FW_REJ_PORT_UNREACH;
		else
			r = fw_reject_tcp(pc, p, s);
	}
	if (how != FW_REJ_TCP_RESET)
		r = fw_reject_icmp(pc, p, s, how);
	return r ? PX_VERDICT_DROP : fw_send_back(pc);
}

#endif /* __FW_REJECT_H */
