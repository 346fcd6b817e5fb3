/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6 neighbour discovery (RFC 4861) for the router's own addresses: neighbour solicitations are
 * validated (checksum included) and answered here with a neighbour advertisement, teaching the
 * router the sender; advertisements go to the control plane, which owns resolution. In the data
 * plane because the checksum is cheap to get right here (bpf_csum_diff over the pseudo-header and
 * a message of a few dozen bytes) and hosts must reach their gateway while the daemon is down.
 */
#ifndef __RTR_ND_H
#define __RTR_ND_H

#include <linux/ipv6.h>
#include <linux/in.h>
#include "rtr_abi.h"
#include "rtr_pkt.h"
#include "rtr_icmp.h"
#include "rtr_neigh.h"

#define RTR_ND_NS 135
#define RTR_ND_NA 136
#define RTR_ND_MAX 256 /* longest ND message checked (options included) */
#define RTR_NA_LEN 32  /* NA header (24) + target link-layer address option (8) */

/*
 * Loads the ICMPv6 message into scratch and checks its checksum and the ND basics: hop limit 255
 * and code 0 (RFC 4861 7.1). Returns the message length, or 0 when invalid.
 */
static __always_inline __u32 rtr_nd_valid(struct px_ctx *pc, struct rtr_scratch *s, struct ipv6hdr *ip6)
{
	__u32 len = bpf_ntohs(ip6->payload_len);
	__s64 sum;

	if (ip6->hop_limit != 255 || len < 24 || len > RTR_ND_MAX)
		return 0;
	if (rtr_load(pc, ETH_HLEN_ + 40, s->msg, len) || rtr_msg_pad(s, len))
		return 0;
	if (s->msg[1] != 0)
		return 0;
	sum = rtr_csum_pseudo6(s, ip6->saddr.in6_u.u6_addr8, ip6->daddr.in6_u.u6_addr8, len, IPPROTO_ICMPV6);
	if (sum < 0)
		return 0;
	sum = rtr_csum_msg(s, (len + 3) & ~3U, sum);
	if (sum < 0 || rtr_csum_fold(sum) != 0)
		return 0;
	return len;
}

/* The source link-layer address option of a solicitation in scratch (NULL if none). */
static __always_inline __u8 *rtr_nd_sllao(struct rtr_scratch *s, __u32 len)
{
	__u32 off = 24;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 olen;

		if (off + 8 > len || off > RTR_ND_MAX)
			return 0;
		olen = s->msg[off + 1] * 8;
		if (!olen)
			return 0; /* malformed option */
		if (s->msg[off] == 1 && olen == 8)
			return s->msg + off + 2;
		off += olen;
	}
	return 0;
}

/* A neighbour solicitation (multicast to the solicited-node group, or unicast to the router). */
static __always_inline int rtr_nd_solicit(struct px_ctx *pc, const struct rtr_port *port)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + ETH_HLEN_;
	struct rtr_lpm6_key tk = { .plen = 128 };
	struct rtr_route6 *t;
	struct rtr_scratch *s = rtr_scratch_get();
	struct ipv6hdr *nip;
	__u8 *lla, *h;
	__u32 len;
	__s64 sum;

	if (!s || (void *)(ip6 + 1) > end)
		return px_drop(pc, RTR_DROP_MALFORMED);
	len = rtr_nd_valid(pc, s, ip6);
	if (!len || rtr_ip6_is_mcast(s->msg + 8))
		return px_drop(pc, RTR_DROP_MALFORMED);
	__builtin_memcpy(tk.addr, s->msg + 8, 16);
	t = bpf_map_lookup_elem(&rtr_fib6, &tk);
	if (!t || t->type != RTR_RT_LOCAL || t->port != pc->in_port)
		return px_drop(pc, RTR_DROP_NOT_FOR_ROUTER);
	/* Duplicate address detection probes (from ::) are not answered: no DAD here. */
	if (rtr_ip6_is_unspec(ip6->saddr.in6_u.u6_addr8))
		return px_drop(pc, RTR_DROP_NOT_FOR_ROUTER);
	lla = rtr_nd_sllao(s, len);
	if (lla && rtr_on_link6(pc->in_port, ip6->saddr.in6_u.u6_addr8))
		rtr_learn6(pc->in_port, ip6->saddr.in6_u.u6_addr8, lla);

	/* The advertisement: solicited, override, from a router (RFC 4861 7.2.4). */
	h = s->hdr;
	__builtin_memcpy(h, lla ? lla : eth->h_source, 6);
	__builtin_memcpy(h + 6, port->mac, 6);
	h[12] = 0x86;
	h[13] = 0xdd;
	nip = (struct ipv6hdr *)(h + ETH_HLEN_);
	*(__u32 *)nip = bpf_htonl(0x60000000);
	nip->payload_len = bpf_htons(RTR_NA_LEN);
	nip->nexthdr = IPPROTO_ICMPV6;
	nip->hop_limit = 255;
	__builtin_memcpy(nip->saddr.in6_u.u6_addr8, tk.addr, 16);
	__builtin_memcpy(nip->daddr.in6_u.u6_addr8, ip6->saddr.in6_u.u6_addr8, 16);
	/* msg[8..24) already holds the target. */
	s->msg[0] = RTR_ND_NA;
	s->msg[1] = 0;
	s->msg[2] = 0;
	s->msg[3] = 0;
	*(__u32 *)(s->msg + 4) = bpf_htonl(0xe0000000);
	s->msg[24] = 2; /* target link-layer address */
	s->msg[25] = 1;
	__builtin_memcpy(s->msg + 26, port->mac, 6);
	sum = rtr_csum_pseudo6(s, tk.addr, nip->daddr.in6_u.u6_addr8, RTR_NA_LEN, IPPROTO_ICMPV6);
	if (sum < 0)
		return px_drop(pc, RTR_DROP_MALFORMED);
	sum = bpf_csum_diff(0, 0, (__be32 *)s->msg, RTR_NA_LEN, (__u32)sum);
	if (sum < 0)
		return px_drop(pc, RTR_DROP_MALFORMED);
	*(__u16 *)(s->msg + 2) = rtr_csum_fold(sum);

	if (rtr_set_len(pc, ETH_HLEN_ + 40 + RTR_NA_LEN) || rtr_store(pc, 0, h, ETH_HLEN_ + 40) ||
	    rtr_store(pc, ETH_HLEN_ + 40, s->msg, RTR_NA_LEN))
		return PX_VERDICT_DROP;
	return px_redirect(pc, pc->in_port);
}

/* A neighbour advertisement: to the control plane if it may concern a neighbour of this port. */
static __always_inline int rtr_nd_advert(struct px_ctx *pc)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ipv6hdr *ip6 = data + ETH_HLEN_;
	struct rtr_scratch *s = rtr_scratch_get();

	if (!s || (void *)(ip6 + 1) > end)
		return px_drop(pc, RTR_DROP_MALFORMED);
	if (!rtr_nd_valid(pc, s, ip6) || rtr_ip6_is_mcast(s->msg + 8))
		return px_drop(pc, RTR_DROP_MALFORMED);
	if (!rtr_on_link6(pc->in_port, s->msg + 8))
		return px_drop(pc, RTR_DROP_NOT_FOR_ROUTER);
	return px_to_cp(pc, RTR_CP_NEIGH, pc->in_port);
}

#endif /* __RTR_ND_H */
