/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP and ICMPv6 errors (time exceeded, unreachable, fragmentation needed / packet too big),
 * built in the data plane from the offending packet itself: room for the new headers is added in
 * front, the original IP packet stays where it is and becomes the quote, the tail is cut to the
 * quote's length, and the error goes back out of the port the packet came in on, to the MAC it
 * came from. Generated here rather than in the control plane so that traceroute and unreachable
 * replies keep working at line rate and while the daemon is down; a GCRA rate limiter (like
 * Linux's icmp_msgs_per_sec / icmp_msgs_burst) bounds them.
 */
#ifndef __RTR_ICMP_H
#define __RTR_ICMP_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include "rtr_abi.h"
#include "rtr_pkt.h"

/* Quote as much of the packet as fits in 576 bytes (RFC 1812 4.3.2.3) / 1280 bytes (RFC 4443). */
#define RTR_ICMP4_QUOTE (576 - 20 - 8)
#define RTR_ICMP6_QUOTE (1280 - 40 - 8)
#define RTR_ICMP_TTL 64

/* The instance-wide rate limiter: a generic cell rate algorithm over one timestamp. */
static __always_inline int rtr_icmp_allowed(void)
{
	__u32 zero = 0;
	struct rtr_cfg *cfg = bpf_map_lookup_elem(&rtr_cfg, &zero);
	__u64 *tat = bpf_map_lookup_elem(&rtr_icmp_tat, &zero);
	__u64 now, t;

	if (!cfg || !tat || (cfg->flags & RTR_CFG_NO_ICMP_ERRORS))
		return 0;
	if (!cfg->icmp_interval_ns)
		return 1;
	now = bpf_ktime_get_ns();
	t = *tat;
	if (t < now)
		t = now;
	if (t - now > cfg->icmp_tolerance_ns)
		return 0;
	/* Racy across CPUs by design: at worst a few extra errors in a burst. */
	*tat = t + cfg->icmp_interval_ns;
	return 1;
}

/* Zero-pads msg[len..len+3] so that a checksum over a multiple of 4 bytes counts `len` bytes. */
static __always_inline int rtr_msg_pad(struct rtr_scratch *s, __u32 len)
{
	if (len > RTR_MSG_MAX - 4)
		return -1;
	s->msg[len] = 0;
	s->msg[len + 1] = 0;
	s->msg[len + 2] = 0;
	s->msg[len + 3] = 0;
	return 0;
}

/* Whether an error may be sent about this IPv4 packet (RFC 1812 4.3.2.7). */
static __always_inline int rtr_icmp4_may_reply(struct iphdr *ip, void *end, __u32 hlen)
{
	__u32 src = bpf_ntohl(ip->saddr), dst = bpf_ntohl(ip->daddr);
	__u8 *l4 = (__u8 *)ip + hlen;

	if (ip->frag_off & bpf_htons(0x1fff))
		return 0; /* a later fragment */
	if ((src >> 24) == 0 || (src >> 24) == 127 || (src >> 28) >= 0xe)
		return 0; /* the source is not a unicast host */
	if ((dst >> 28) == 0xe || dst == 0xffffffff)
		return 0;
	if (ip->protocol == IPPROTO_ICMP) {
		if ((void *)(l4 + 1) > end)
			return 0;
		/* Never about an ICMP error: only about queries (echo, timestamp, info, mask). */
		if (*l4 != 0 && *l4 != 8 && (*l4 < 13 || *l4 > 18))
			return 0;
	}
	return 1;
}

/* Where an error's source address comes from. */
enum rtr_err_src {
	RTR_SRC_PORT = 0, /* the ingress port's address (errors about transit packets) */
	RTR_SRC_DST = 1,  /* the packet's destination: one of ours (errors about local delivery) */
};

/*
 * Turns the IPv4 packet being handled into an ICMP error about it and sends it back; the packet
 * is counted as dropped with `reason` either way. `info` is the second word of the ICMP header
 * (the next-hop MTU for fragmentation needed), host order.
 */
static __always_inline int rtr_icmp4_error_from(struct px_ctx *pc, const struct rtr_port *in, __u8 type,
						__u8 code, __u32 info, __u32 reason, int from)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN_;
	struct iphdr *nip;
	struct rtr_scratch *s;
	__u64 hlen, q, have = px_len(pc);
	__u32 saddr = in->addr4;
	__s64 sum;

	px_count_drop(pc->slot, pc->in_port, PX_RX, reason);
	if ((void *)(ip + 1) > end)
		return PX_VERDICT_DROP;
	if (from == RTR_SRC_DST)
		saddr = ip->daddr;
	if (!saddr)
		return PX_VERDICT_DROP;
	hlen = ip->ihl * 4;
	if (hlen < 20 || hlen > 60 || !rtr_icmp4_may_reply(ip, end, hlen) || !rtr_icmp_allowed())
		return PX_VERDICT_DROP;
	s = rtr_scratch_get();
	if (!s)
		return PX_VERDICT_DROP;

	q = bpf_ntohs(ip->tot_len);
	if (have < ETH_HLEN_ + 20)
		return PX_VERDICT_DROP;
	if (q > have - ETH_HLEN_)
		q = have - ETH_HLEN_;
	if (q > RTR_ICMP4_QUOTE)
		q = RTR_ICMP4_QUOTE;
	rtr_opaque(q);
	if (q < 20 || q > RTR_ICMP4_QUOTE)
		return PX_VERDICT_DROP;

	/* New headers: Ethernet back to the sender, IP from this port's address. */
	__builtin_memcpy(s->hdr, eth->h_source, 6);
	__builtin_memcpy(s->hdr + 6, in->mac, 6);
	s->hdr[12] = 0x08;
	s->hdr[13] = 0x00;
	nip = (struct iphdr *)(s->hdr + ETH_HLEN_);
	nip->version = 4;
	nip->ihl = 5;
	nip->tos = 0xc0; /* internetwork control, as Linux sends errors */
	nip->tot_len = bpf_htons(20 + 8 + q);
	nip->id = (__u16)bpf_get_prandom_u32();
	nip->frag_off = 0;
	nip->ttl = RTR_ICMP_TTL;
	nip->protocol = IPPROTO_ICMP;
	nip->check = 0;
	nip->saddr = saddr;
	nip->daddr = ip->saddr;
	sum = bpf_csum_diff(0, 0, (__be32 *)nip, 20, 0);
	if (sum < 0)
		return PX_VERDICT_DROP;
	nip->check = rtr_csum_fold(sum);

	/* The ICMP message (header + quote) in scratch, to checksum it. */
	s->msg[0] = type;
	s->msg[1] = code;
	s->msg[2] = 0;
	s->msg[3] = 0;
	*(__u32 *)(s->msg + 4) = bpf_htonl(info);
	if (rtr_load(pc, ETH_HLEN_, s->msg + 8, q) || rtr_msg_pad(s, 8 + q))
		return PX_VERDICT_DROP;
	sum = rtr_csum_msg(s, (8 + q + 3) & ~3U, 0);
	if (sum < 0)
		return PX_VERDICT_DROP;
	*(__u16 *)(s->msg + 2) = rtr_csum_fold(sum);
	__builtin_memcpy(s->hdr + ETH_HLEN_ + 20, s->msg, 8);

	if (rtr_grow_head(pc, 20 + 8) || rtr_set_len(pc, ETH_HLEN_ + 20 + 8 + q) ||
	    rtr_store(pc, 0, s->hdr, ETH_HLEN_ + 20 + 8))
		return PX_VERDICT_DROP;
	return px_redirect(pc, pc->in_port);
}

static __always_inline int rtr_icmp4_error(struct px_ctx *pc, const struct rtr_port *in, __u8 type,
					   __u8 code, __u32 info, __u32 reason)
{
	return rtr_icmp4_error_from(pc, in, type, code, info, reason, RTR_SRC_PORT);
}

static __always_inline int rtr_ip6_is_mcast(const __u8 *a)
{
	return a[0] == 0xff;
}

static __always_inline int rtr_ip6_is_linklocal(const __u8 *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

static __always_inline int rtr_ip6_is_unspec(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1] | w[2] | w[3]);
}

static __always_inline int rtr_ip6_is_loopback(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1] | w[2]) && w[3] == bpf_htonl(1);
}

/* Sums the IPv6 pseudo-header (RFC 8200 8.1) for an upper-layer message of `len` bytes. */
static __always_inline __s64 rtr_csum_pseudo6(struct rtr_scratch *s, const __u8 *src, const __u8 *dst,
					      __u32 len, __u8 next)
{
	__builtin_memcpy(s->pseudo, src, 16);
	__builtin_memcpy(s->pseudo + 16, dst, 16);
	*(__u32 *)(s->pseudo + 32) = bpf_htonl(len);
	*(__u32 *)(s->pseudo + 36) = bpf_htonl(next);
	return bpf_csum_diff(0, 0, (__be32 *)s->pseudo, 40, 0);
}

/* Whether an ICMPv6 error may be sent about this packet (RFC 4443 2.4 (e)). */
static __always_inline int rtr_icmp6_may_reply(struct ipv6hdr *ip6, void *end, __u8 type)
{
	__u8 *l4 = (__u8 *)(ip6 + 1);

	if (rtr_ip6_is_mcast(ip6->saddr.in6_u.u6_addr8) || rtr_ip6_is_unspec(ip6->saddr.in6_u.u6_addr8) ||
	    rtr_ip6_is_loopback(ip6->saddr.in6_u.u6_addr8))
		return 0;
	/* Packet too big is the one error sent about multicast (for path MTU discovery). */
	if (rtr_ip6_is_mcast(ip6->daddr.in6_u.u6_addr8) && type != 2)
		return 0;
	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		if ((void *)(l4 + 1) > end)
			return 0;
		if (*l4 < 128)
			return 0; /* never about an ICMPv6 error */
	}
	return 1;
}

/* The IPv6 version of rtr_icmp4_error_from(). */
static __always_inline int rtr_icmp6_error_from(struct px_ctx *pc, const struct rtr_port *in, __u8 type,
						__u8 code, __u32 info, __u32 reason, int from)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + ETH_HLEN_;
	struct ipv6hdr *nip;
	struct rtr_scratch *s;
	const __u8 *saddr;
	__u64 q, have = px_len(pc);
	__s64 sum;

	px_count_drop(pc->slot, pc->in_port, PX_RX, reason);
	if ((void *)(ip6 + 1) > end)
		return PX_VERDICT_DROP;
	/* Answer a link-local source from the link-local address, others from the global one. */
	saddr = in->addr6;
	if (rtr_ip6_is_linklocal(ip6->saddr.in6_u.u6_addr8) || rtr_ip6_is_unspec(saddr))
		saddr = in->ll6;
	if (from == RTR_SRC_DST)
		saddr = ip6->daddr.in6_u.u6_addr8;
	if (rtr_ip6_is_unspec(saddr) || !rtr_icmp6_may_reply(ip6, end, type) || !rtr_icmp_allowed())
		return PX_VERDICT_DROP;
	s = rtr_scratch_get();
	if (!s)
		return PX_VERDICT_DROP;

	q = 40 + bpf_ntohs(ip6->payload_len);
	if (have < ETH_HLEN_ + 40)
		return PX_VERDICT_DROP;
	if (q > have - ETH_HLEN_)
		q = have - ETH_HLEN_;
	if (q > RTR_ICMP6_QUOTE)
		q = RTR_ICMP6_QUOTE;
	rtr_opaque(q);
	if (q < 40 || q > RTR_ICMP6_QUOTE)
		return PX_VERDICT_DROP;

	__builtin_memcpy(s->hdr, eth->h_source, 6);
	__builtin_memcpy(s->hdr + 6, in->mac, 6);
	s->hdr[12] = 0x86;
	s->hdr[13] = 0xdd;
	nip = (struct ipv6hdr *)(s->hdr + ETH_HLEN_);
	*(__u32 *)nip = bpf_htonl(0x60000000);
	nip->payload_len = bpf_htons(8 + q);
	nip->nexthdr = IPPROTO_ICMPV6;
	nip->hop_limit = RTR_ICMP_TTL;
	__builtin_memcpy(nip->saddr.in6_u.u6_addr8, saddr, 16);
	__builtin_memcpy(nip->daddr.in6_u.u6_addr8, ip6->saddr.in6_u.u6_addr8, 16);

	s->msg[0] = type;
	s->msg[1] = code;
	s->msg[2] = 0;
	s->msg[3] = 0;
	*(__u32 *)(s->msg + 4) = bpf_htonl(info);
	if (rtr_load(pc, ETH_HLEN_, s->msg + 8, q) || rtr_msg_pad(s, 8 + q))
		return PX_VERDICT_DROP;
	sum = rtr_csum_pseudo6(s, saddr, nip->daddr.in6_u.u6_addr8, 8 + q, IPPROTO_ICMPV6);
	if (sum < 0)
		return PX_VERDICT_DROP;
	sum = rtr_csum_msg(s, (8 + q + 3) & ~3U, sum);
	if (sum < 0)
		return PX_VERDICT_DROP;
	*(__u16 *)(s->msg + 2) = rtr_csum_fold(sum);
	__builtin_memcpy(s->hdr + ETH_HLEN_ + 40, s->msg, 8);

	if (rtr_grow_head(pc, 40 + 8) || rtr_set_len(pc, ETH_HLEN_ + 40 + 8 + q) ||
	    rtr_store(pc, 0, s->hdr, ETH_HLEN_ + 40 + 8))
		return PX_VERDICT_DROP;
	return px_redirect(pc, pc->in_port);
}

static __always_inline int rtr_icmp6_error(struct px_ctx *pc, const struct rtr_port *in, __u8 type,
					   __u8 code, __u32 info, __u32 reason)
{
	return rtr_icmp6_error_from(pc, in, type, code, info, reason, RTR_SRC_PORT);
}

#endif /* __RTR_ICMP_H */
