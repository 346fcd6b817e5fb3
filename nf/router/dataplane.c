// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * router: an IPv4 and IPv6 router. Ports have addresses (connected routes); static routes point
 * at next hops; the longest-prefix match, ARP and neighbour-discovery answers for the router's own
 * addresses, TTL / hop-limit handling, echo replies and ICMP errors all happen here. Only
 * next-hop resolution (sending solicitations and holding the packets that wait for them) is the
 * control plane's (control.ts), because the kernel cannot hold a packet.
 */
#include <plexus.h>
#include "rtr_abi.h"
#include "rtr_pkt.h"
#include "rtr_arp.h"
#include "rtr_ipv4.h"
#include "rtr_ipv6.h"

PX_NF(router)
{
	__u32 in_port = pc->in_port % PX_MAX_PORTS;
	struct rtr_port *port = bpf_map_lookup_elem(&rtr_ports, &in_port);
	struct ethhdr *eth;
	__u16 proto;
	int mcast;

	if (!port || !port->enabled)
		return px_drop(pc, RTR_DROP_NO_PORT);
	if (rtr_pull(pc, ETH_HLEN_))
		return px_drop(pc, RTR_DROP_MALFORMED);
	eth = px_data(pc);
	if ((void *)(eth + 1) > px_data_end(pc))
		return px_drop(pc, RTR_DROP_MALFORMED);
	mcast = rtr_mac_is_mcast(eth->h_dest);
	/* A frame for another host on the segment (e.g. flooded by a bridge) is not ours to route. */
	if (!mcast && !rtr_mac_eq(eth->h_dest, port->mac))
		return px_drop(pc, RTR_DROP_NOT_FOR_ROUTER);
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_IP))
		return rtr_ipv4(pc, port, mcast);
	if (proto == bpf_htons(ETH_P_IPV6))
		return rtr_ipv6(pc, port, mcast);
	if (proto == bpf_htons(ETH_P_ARP))
		return rtr_arp(pc, port);
	return px_drop(pc, RTR_DROP_PROTO);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
