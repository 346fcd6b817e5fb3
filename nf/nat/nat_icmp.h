/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors about mapped connections (RFC 5508 section 4.2, RFC 5382): an error quotes the
 * packet that caused it, as that packet was on the wire where the error was made. The quoted
 * packet is translated as a packet of the other direction would be (its reverse is looked up in
 * the session table), the error's destination (the quoted packet's sender) and, when the error
 * comes from the quoted packet's destination, its source follow, and every checksum is updated
 * incrementally: the outer IPv4 header's, the ICMP message's (which covers the quote, and for
 * ICMPv6 the outer addresses), and the quote's own IPv4 header, UDP, TCP or ICMP checksum where the
 * quote holds it. So "fragmentation needed" / "packet too big" reach the inside host (path MTU
 * discovery through the NAT), and so do traceroute's time-exceeded and port-unreachable errors.
 *
 * Both hooks write the packet directly: TC callers have pulled NAT_PULL bytes (which also makes the
 * skb writable), and the changes are checksum-neutral over the whole packet, so a CHECKSUM_COMPLETE
 * sum stays right.
 */
#ifndef __NAT_ICMP_H
#define __NAT_ICMP_H

#include "nat_xlate.h"

/* One's complement difference of a 16-bit word changing from `from` to `to`. */
static __always_inline __u64 nat_d16(__u16 from, __u16 to)
{
	return (__u64)(__u16)~from + to;
}

/* One's complement difference of an address (4 or 16 bytes) changing from `from` to `to`. */
static __always_inline __u64 nat_daddr(__u8 family, __u8 *from, __u8 *to)
{
	if (family == 4)
		return (__u32)bpf_csum_diff((__be32 *)from, 4, (__be32 *)to, 4, 0);
	return (__u32)bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);
}

static __always_inline int nat_is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

/* Whether a (4 or 16 byte) address equals another, both zero-padded to 16. */
static __always_inline int nat_addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/*
 * Translates the ICMP error parsed into st->p when it quotes a mapped connection. Returns 1 when it
 * did, 0 when the packet is not such an error (it then goes on as any other), -1 when the packet
 * is not where the parser saw it.
 */
static __always_inline int nat_icmp_error(const struct px_ctx *pc, struct nat_state *st, void *sess)
{
	struct nat_pkt *p = &st->p;
	struct nat_tuple *q = &st->t; /* the quoted packet's reverse: what its answers would carry */
	void *data = px_data(pc), *end = px_data_end(pc);
	__u32 l3 = p->l3_off, l4 = p->l4_off, ihl, in_csum = 0;
	__u8 *ip, *icmp, *in, *inl4, inproto;
	struct nat_sess *s;
	__u64 dq, dp, dmsg, dout = 0;
	__u16 old, new;
	int from_dst;

	if (l3 > 64 || l4 > 200)
		return 0;
	ip = data + l3;
	icmp = data + l4;
	if ((void *)(icmp + 8) > end || !nat_is_icmp_error(p->proto, icmp[0]))
		return 0;
	in = icmp + 8;
	__builtin_memset(q, 0, sizeof(*q));
	q->family = p->family;
	if (p->family == 4) {
		if ((void *)(in + 20) > end || (in[0] >> 4) != 4)
			return 0;
		ihl = (in[0] & 15) * 4;
		if (ihl < 20 || ihl > 60 || (*(__be16 *)(in + 6) & bpf_htons(0x1fff)))
			return 0;
		inproto = in[9];
		*(__u32 *)q->saddr = *(__u32 *)(in + 16);
		*(__u32 *)q->daddr = *(__u32 *)(in + 12);
	} else {
		if ((void *)(in + 40) > end || (in[0] >> 4) != 6)
			return 0;
		ihl = 40;
		inproto = in[6];
		__builtin_memcpy(q->saddr, in + 24, 16);
		__builtin_memcpy(q->daddr, in + 8, 16);
	}
	inl4 = in + ihl;
	if ((void *)(inl4 + 8) > end)
		return 0;
	q->proto = inproto;
	if (inproto == IPPROTO_TCP || inproto == IPPROTO_UDP) {
		q->sport = *(__be16 *)(inl4 + 2);
		q->dport = *(__be16 *)inl4;
	} else if ((inproto == IPPROTO_ICMP && (inl4[0] == 8 || inl4[0] == 0)) ||
		   (inproto == IPPROTO_ICMPV6 && (inl4[0] == 128 || inl4[0] == 129))) {
		q->sport = *(__be16 *)(inl4 + 4);
		q->dport = q->sport;
	} else {
		return 0;
	}
	/* The error goes back to the quoted packet's sender. */
	if (!nat_addr_eq(p->daddr, q->daddr))
		return 0;
	s = bpf_map_lookup_elem(sess, q);
	if (!s)
		return 0;
	from_dst = nat_addr_eq(p->saddr, q->saddr);

	/* The quote becomes the reverse of what its reverse becomes. */
	dq = nat_daddr(p->family, q->daddr, s->new_daddr) + nat_daddr(p->family, q->saddr, s->new_saddr);
	if (inproto == IPPROTO_TCP || inproto == IPPROTO_UDP)
		dp = nat_d16(q->dport, s->new_dport) + nat_d16(q->sport, s->new_sport);
	else
		dp = nat_d16(q->sport, s->new_dport);
	dq = nat_fold(dq);
	dp = nat_fold(dp);
	dmsg = dq + dp;
	/* Bounds again: the verifier does not know the family is the one checked above. */
	if (p->family == 4) {
		if ((void *)(in + 20) > end)
			return -1;
		__builtin_memcpy(in + 12, s->new_daddr, 4);
		__builtin_memcpy(in + 16, s->new_saddr, 4);
		old = *(__u16 *)(in + 10);
		new = nat_csum_apply(old, dq);
		*(__u16 *)(in + 10) = new;
		dmsg += nat_d16(old, new);
	} else {
		if ((void *)(in + 40) > end)
			return -1;
		__builtin_memcpy(in + 8, s->new_daddr, 16);
		__builtin_memcpy(in + 24, s->new_saddr, 16);
	}
	if ((void *)(inl4 + 8) > end)
		return -1;
	if (inproto == IPPROTO_TCP || inproto == IPPROTO_UDP) {
		*(__be16 *)inl4 = s->new_dport;
		*(__be16 *)(inl4 + 2) = s->new_sport;
		in_csum = inproto == IPPROTO_UDP ? 6 : 16;
	} else {
		*(__be16 *)(inl4 + 4) = s->new_dport;
		in_csum = 2;
	}
	/* The quote's own L4 checksum, when it is there (ICMPv4's covers no pseudo-header). */
	if (in_csum == 16 && (void *)(inl4 + 18) > end)
		in_csum = 0;
	if (in_csum) {
		__u16 *c = (__u16 *)(inl4 + (in_csum & 31));

		if ((void *)(c + 1) > end)
			return -1;
		old = *c;
		if (!(inproto == IPPROTO_UDP && p->family == 4 && !old)) {
			new = nat_csum_apply(old, inproto == IPPROTO_ICMP ? dp : dq + dp);
			if (inproto == IPPROTO_UDP && !new)
				new = 0xffff;
			*c = new;
			dmsg += nat_d16(old, new);
		}
	}

	/* The outer header: the destination (the quote's new source), and the source when the quoted
	 * packet's destination answered itself (the quote's new destination). */
	if (p->family == 4) {
		if ((void *)(ip + 20) > end)
			return -1;
		__builtin_memcpy(ip + 16, s->new_daddr, 4);
		dout = nat_daddr(4, p->daddr, s->new_daddr);
		if (from_dst) {
			__builtin_memcpy(ip + 12, s->new_saddr, 4);
			dout += nat_daddr(4, p->saddr, s->new_saddr);
		}
		dout = nat_fold(dout);
		*(__u16 *)(ip + 10) = nat_csum_apply(*(__u16 *)(ip + 10), dout);
	} else {
		if ((void *)(ip + 40) > end)
			return -1;
		__builtin_memcpy(ip + 24, s->new_daddr, 16);
		dout = nat_daddr(6, p->daddr, s->new_daddr);
		if (from_dst) {
			__builtin_memcpy(ip + 8, s->new_saddr, 16);
			dout += nat_daddr(6, p->saddr, s->new_saddr);
		}
		/* ICMPv6's checksum covers the outer addresses. */
		dmsg += nat_fold(dout);
	}
	if ((void *)(icmp + 8) > end)
		return -1;
	*(__u16 *)(icmp + 2) = nat_csum_apply(*(__u16 *)(icmp + 2), nat_fold(dmsg));
	return 1;
}

#endif /* __NAT_ICMP_H */
