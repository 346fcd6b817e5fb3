/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv4: header checks (RFC 1812 5.2.2), local delivery (echo replies, port unreachable),
 * longest-prefix match, TTL, MTU, neighbour lookup, rewrite and redirect.
 */
#ifndef __RTR_IPV4_H
#define __RTR_IPV4_H

#include <linux/ip.h>
#include <linux/in.h>
#include "rtr_abi.h"
#include "rtr_pkt.h"
#include "rtr_icmp.h"
#include "rtr_fib.h"

/* From <linux/icmp.h>, which drags in libc headers. */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_NET_UNREACH 0
#define ICMP_HOST_UNREACH 1
#define ICMP_PORT_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMP_PKT_FILTERED 13
#define ICMP_EXC_TTL 0
#define IP_DF 0x4000

struct icmphdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u32 rest;
};

/* Whether the header checksum is right (options included). */
static __always_inline int rtr_ip4_csum_ok(struct px_ctx *pc, struct iphdr *ip, __u32 hlen)
{
	__u16 *w = (__u16 *)ip; /* the caller checked the first 20 bytes */
	struct rtr_scratch *s;
	__u64 sum = (__u32)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8] + w[9];
	__s64 opt;

	__u32 olen = (hlen - 20) & 0x3c;

	if (olen) {
		/* Options (rare): summed from a copy. */
		s = rtr_scratch_get();
		if (!s || olen < 4 || olen > 40 || rtr_load(pc, ETH_HLEN_ + 20, s->msg, olen))
			return 0;
		opt = bpf_csum_diff(0, 0, (__be32 *)s->msg, olen, 0);
		if (opt < 0)
			return 0;
		sum += (__u32)opt;
	}
	return rtr_csum_fold(sum) == 0;
}

/* Echo request to one of the router's addresses: answered in place, out of the port it came in. */
static __always_inline int rtr_echo4(struct px_ctx *pc, const struct rtr_port *port, struct ethhdr *eth,
				     struct iphdr *ip, struct icmphdr *icmp)
{
	__u32 a = ip->saddr;
	__u16 old;

	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, port->mac, 6);
	ip->saddr = ip->daddr;
	ip->daddr = a; /* swapping the addresses leaves both checksums as they are */
	old = *(__u16 *)&ip->ttl;
	ip->ttl = RTR_ICMP_TTL;
	ip->check = rtr_csum_replace2(ip->check, old, *(__u16 *)&ip->ttl);
	old = *(__u16 *)icmp;
	icmp->type = ICMP_ECHOREPLY;
	icmp->checksum = rtr_csum_replace2(icmp->checksum, old, *(__u16 *)icmp);
	return px_redirect(pc, pc->in_port);
}

static __always_inline int rtr_local4(struct px_ctx *pc, const struct rtr_port *port, struct ethhdr *eth,
				      struct iphdr *ip, void *end, __u32 hlen)
{
	struct icmphdr *icmp = (void *)ip + hlen;

	if (ip->frag_off & bpf_htons(0x3fff))
		return px_drop(pc, RTR_DROP_LOCAL); /* no reassembly here */
	if (ip->protocol == IPPROTO_ICMP) {
		if ((void *)(icmp + 1) > end)
			return px_drop(pc, RTR_DROP_MALFORMED);
		if (icmp->type == ICMP_ECHO && icmp->code == 0)
			return rtr_echo4(pc, port, eth, ip, icmp);
		return px_drop(pc, RTR_DROP_LOCAL);
	}
	/* No UDP service listens on the router: say so, as a host would (ends a traceroute). */
	if (ip->protocol == IPPROTO_UDP)
		return rtr_icmp4_error_from(pc, port, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, RTR_DROP_LOCAL,
					    RTR_SRC_DST);
	return px_drop(pc, RTR_DROP_LOCAL);
}

static __always_inline int rtr_ipv4(struct px_ctx *pc, const struct rtr_port *port, int l2_mcast)
{
	void *data, *end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct rtr_route4 rt;
	struct rtr_nkey4 nk;
	struct rtr_neigh *n;
	struct rtr_port *out;
	__u32 hlen, tot, dst, out_port, mask;

	if (rtr_pull(pc, ETH_HLEN_ + 60 + 8))
		return px_drop(pc, RTR_DROP_MALFORMED);
	data = px_data(pc);
	end = px_data_end(pc);
	eth = data;
	ip = data + ETH_HLEN_;
	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
		return px_drop(pc, RTR_DROP_MALFORMED);
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || ETH_HLEN_ + tot > px_len(pc) || !rtr_ip4_csum_ok(pc, ip, hlen))
		return px_drop(pc, RTR_DROP_MALFORMED);

	dst = ip->daddr;
	if (l2_mcast || (bpf_ntohl(dst) >> 28) == 0xe || dst == 0xffffffff)
		return px_drop(pc, RTR_DROP_NOT_ROUTABLE);
	if (!rtr_fib4_lookup(dst, &rt))
		return rtr_icmp4_error(pc, port, ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0, RTR_DROP_NO_ROUTE);

	switch (rt.type) {
	case RTR_RT_LOCAL:
		return rtr_local4(pc, port, eth, ip, end, hlen);
	case RTR_RT_CONNECTED:
		/* The subnet's broadcast address is not forwarded (no directed broadcast). */
		mask = rt.plen >= 32 ? 0xffffffff : ~(0xffffffffU >> (rt.plen & 31));
		if (rt.plen <= 30 && (bpf_ntohl(dst) | mask) == 0xffffffff)
			return px_drop(pc, RTR_DROP_NOT_ROUTABLE);
		nk.addr = dst;
		break;
	case RTR_RT_GATEWAY:
		nk.addr = rt.nh;
		break;
	case RTR_RT_UNREACHABLE:
		return rtr_icmp4_error(pc, port, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0, RTR_DROP_REJECT);
	case RTR_RT_PROHIBIT:
		return rtr_icmp4_error(pc, port, ICMP_DEST_UNREACH, ICMP_PKT_FILTERED, 0, RTR_DROP_REJECT);
	default:
		return px_drop(pc, RTR_DROP_REJECT);
	}

	if (ip->ttl <= 1)
		return rtr_icmp4_error(pc, port, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0, RTR_DROP_TTL);
	out_port = rt.port % PX_MAX_PORTS;
	out = bpf_map_lookup_elem(&rtr_ports, &out_port);
	if (!out || !out->enabled)
		return px_drop(pc, RTR_DROP_NO_ROUTE);
	if (out->mtu && tot > out->mtu && !rtr_is_gso(pc)) {
		if (ip->frag_off & bpf_htons(IP_DF))
			return rtr_icmp4_error(pc, port, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, out->mtu & 0xffff,
					       RTR_DROP_TOO_BIG);
		return px_drop(pc, RTR_DROP_TOO_BIG); /* no fragmentation in the data plane */
	}

	/* Decrement the TTL (RFC 1624 update, as Linux's ip_decrease_ttl()). */
	{
		__u32 check = ip->check;

		check += bpf_htons(0x0100);
		ip->check = (__u16)(check + (check >= 0xffff));
		ip->ttl--;
	}

	nk.port = out_port;
	n = bpf_map_lookup_elem(&rtr_neigh4, &nk);
	if (!n || n->state == RTR_N_INCOMPLETE) {
		if (n && (n->flags & RTR_NF_QUEUE_FULL))
			return px_drop(pc, RTR_DROP_UNRESOLVED);
		/* The control plane queues it, resolves the next hop and sends it on. */
		return px_to_cp(pc, RTR_CP_RESOLVE, out_port);
	}
	__builtin_memcpy(eth->h_dest, n->mac, 6);
	__builtin_memcpy(eth->h_source, out->mac, 6);
	return px_redirect(pc, out_port);
}

#endif /* __RTR_IPV4_H */
