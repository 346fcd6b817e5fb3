/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6: neighbour discovery, local delivery (echo replies, port unreachable), longest-prefix
 * match, hop limit, MTU (routers never fragment: packet too big), neighbour lookup, rewrite and
 * redirect.
 */
#ifndef __RTR_IPV6_H
#define __RTR_IPV6_H

#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include "rtr_abi.h"
#include "rtr_pkt.h"
#include "rtr_icmp.h"
#include "rtr_nd.h"
#include "rtr_fib.h"

static __always_inline int rtr_echo6(struct px_ctx *pc, const struct rtr_port *port, struct ethhdr *eth,
				     struct ipv6hdr *ip6, struct icmp6hdr *icmp)
{
	struct in6_addr a = ip6->saddr;
	__u16 old;

	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, port->mac, 6);
	ip6->saddr = ip6->daddr; /* the pseudo-header sum does not change with the order */
	ip6->daddr = a;
	ip6->hop_limit = RTR_ICMP_TTL;
	old = *(__u16 *)icmp;
	icmp->icmp6_type = ICMPV6_ECHO_REPLY;
	icmp->icmp6_cksum = rtr_csum_replace2(icmp->icmp6_cksum, old, *(__u16 *)icmp);
	return px_redirect(pc, pc->in_port);
}

static __always_inline int rtr_local6(struct px_ctx *pc, const struct rtr_port *port, struct ethhdr *eth,
				      struct ipv6hdr *ip6, void *end)
{
	struct icmp6hdr *icmp = (void *)(ip6 + 1);

	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		if ((void *)(icmp + 1) > end)
			return px_drop(pc, RTR_DROP_MALFORMED);
		if (icmp->icmp6_type == ICMPV6_ECHO_REQUEST && icmp->icmp6_code == 0)
			return rtr_echo6(pc, port, eth, ip6, icmp);
		if (icmp->icmp6_type == RTR_ND_NS)
			return rtr_nd_solicit(pc, port); /* unicast reachability probe */
		if (icmp->icmp6_type == RTR_ND_NA)
			return rtr_nd_advert(pc);
		return px_drop(pc, RTR_DROP_LOCAL);
	}
	if (ip6->nexthdr == IPPROTO_UDP)
		return rtr_icmp6_error_from(pc, port, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0, RTR_DROP_LOCAL,
					    RTR_SRC_DST);
	return px_drop(pc, RTR_DROP_LOCAL);
}

static __always_inline int rtr_ipv6(struct px_ctx *pc, const struct rtr_port *port, int l2_mcast)
{
	void *data, *end;
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	struct icmp6hdr *icmp;
	struct rtr_route6 rt;
	int found;
	struct rtr_nkey6 nk;
	struct rtr_neigh *n;
	struct rtr_port *out;
	__u32 tot, out_port;

	if (rtr_pull(pc, ETH_HLEN_ + 40 + 8))
		return px_drop(pc, RTR_DROP_MALFORMED);
	data = px_data(pc);
	end = px_data_end(pc);
	eth = data;
	ip6 = data + ETH_HLEN_;
	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return px_drop(pc, RTR_DROP_MALFORMED);
	tot = 40 + bpf_ntohs(ip6->payload_len);
	if (ETH_HLEN_ + tot > px_len(pc))
		return px_drop(pc, RTR_DROP_MALFORMED);

	if (rtr_ip6_is_mcast(ip6->daddr.in6_u.u6_addr8)) {
		/* Only neighbour discovery is taken from multicast: solicitations for the router's
		 * addresses (to their solicited-node group) and unsolicited advertisements. */
		icmp = (void *)(ip6 + 1);
		if (ip6->nexthdr == IPPROTO_ICMPV6 && (void *)(icmp + 1) <= end) {
			if (icmp->icmp6_type == RTR_ND_NS)
				return rtr_nd_solicit(pc, port);
			if (icmp->icmp6_type == RTR_ND_NA)
				return rtr_nd_advert(pc);
		}
		return px_drop(pc, RTR_DROP_NOT_ROUTABLE);
	}
	if (l2_mcast)
		return px_drop(pc, RTR_DROP_NOT_ROUTABLE);

	found = rtr_fib6_lookup(ip6->daddr.in6_u.u6_addr8, &rt);
	if (found && rt.type == RTR_RT_LOCAL)
		return rtr_local6(pc, port, eth, ip6, end);
	/* Link-local addresses never leave their link (RFC 4291 2.5.6). */
	if (rtr_ip6_is_linklocal(ip6->daddr.in6_u.u6_addr8) || rtr_ip6_is_linklocal(ip6->saddr.in6_u.u6_addr8) ||
	    rtr_ip6_is_unspec(ip6->saddr.in6_u.u6_addr8) || rtr_ip6_is_loopback(ip6->daddr.in6_u.u6_addr8))
		return px_drop(pc, RTR_DROP_NOT_ROUTABLE);
	if (!found)
		return rtr_icmp6_error(pc, port, ICMPV6_DEST_UNREACH, ICMPV6_NOROUTE, 0, RTR_DROP_NO_ROUTE);

	switch (rt.type) {
	case RTR_RT_CONNECTED:
		__builtin_memcpy(nk.addr, ip6->daddr.in6_u.u6_addr8, 16);
		break;
	case RTR_RT_GATEWAY:
		__builtin_memcpy(nk.addr, rt.nh, 16);
		break;
	case RTR_RT_UNREACHABLE:
		return rtr_icmp6_error(pc, port, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0, RTR_DROP_REJECT);
	case RTR_RT_PROHIBIT:
		return rtr_icmp6_error(pc, port, ICMPV6_DEST_UNREACH, ICMPV6_ADM_PROHIBITED, 0, RTR_DROP_REJECT);
	default:
		return px_drop(pc, RTR_DROP_REJECT);
	}

	if (ip6->hop_limit <= 1)
		return rtr_icmp6_error(pc, port, ICMPV6_TIME_EXCEED, ICMPV6_EXC_HOPLIMIT, 0, RTR_DROP_TTL);
	out_port = rt.port % PX_MAX_PORTS;
	out = bpf_map_lookup_elem(&rtr_ports, &out_port);
	if (!out || !out->enabled)
		return px_drop(pc, RTR_DROP_NO_ROUTE);
	if (out->mtu && tot > out->mtu && !rtr_is_gso(pc))
		return rtr_icmp6_error(pc, port, ICMPV6_PKT_TOOBIG, 0, out->mtu, RTR_DROP_TOO_BIG);

	ip6->hop_limit--;
	nk.port = out_port;
	n = bpf_map_lookup_elem(&rtr_neigh6, &nk);
	if (!n || n->state == RTR_N_INCOMPLETE) {
		if (n && (n->flags & RTR_NF_QUEUE_FULL))
			return px_drop(pc, RTR_DROP_UNRESOLVED);
		return px_to_cp(pc, RTR_CP_RESOLVE, out_port);
	}
	__builtin_memcpy(eth->h_dest, n->mac, 6);
	__builtin_memcpy(eth->h_source, out->mac, 6);
	return px_redirect(pc, out_port);
}

#endif /* __RTR_IPV6_H */
