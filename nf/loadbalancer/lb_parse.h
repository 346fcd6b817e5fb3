/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the load balancer: Ethernet (up to two VLAN tags), IPv4 or IPv6 (extension
 * headers walked), and the TCP or UDP ports. Fragments and other protocols carry no tuple and are
 * left to the host.
 */
#ifndef __LB_PARSE_H
#define __LB_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>

/* Bytes made directly readable in TC before parsing. */
#define LB_PULL 128

struct lb_pkt {
	__u8 saddr[16]; /* IPv4: first 4 bytes, zeros after */
	__u8 daddr[16];
	__u16 l3_off;
	__u16 l4_off;
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 proto;
	__u8 l4; /* TCP or UDP ports are there (not a fragment) */
	__u8 tcp_flags;
	__u8 udp_nocsum; /* IPv4 UDP without a checksum */
	__u8 pad[3];
};

enum lb_parse_result {
	LB_PARSED = 0,
	LB_NOT_IP = 1,
	LB_MALFORMED = -1,
};

static __always_inline void lb_parse_l4(struct lb_pkt *p, __u8 *b, void *end)
{
	if (p->proto == IPPROTO_TCP) {
		if ((void *)(b + 20) > end)
			return;
		p->tcp_flags = b[13];
	} else if (p->proto == IPPROTO_UDP) {
		if ((void *)(b + 8) > end)
			return;
		p->udp_nocsum = p->family == 4 && *(__u16 *)(b + 6) == 0;
	} else {
		return;
	}
	p->sport = *(__be16 *)b;
	p->dport = *(__be16 *)(b + 2);
	p->l4 = 1;
}

static __always_inline int lb_parse(const struct px_ctx *pc, struct lb_pkt *p)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ethhdr *eth = data;
	__u16 proto;
	__u32 off = sizeof(*eth);
	int i;

	if ((void *)(eth + 1) > end)
		return LB_MALFORMED;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (data + off + 4 > end)
			return LB_MALFORMED;
		proto = *(__be16 *)(data + off + 2);
		off += 4;
	}
	p->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 hlen;

		if ((void *)(ip + 1) > end)
			return LB_MALFORMED;
		hlen = ip->ihl * 4;
		if (ip->version != 4 || hlen < 20 || hlen > 60)
			return LB_MALFORMED;
		p->family = 4;
		p->proto = ip->protocol;
		*(__u32 *)p->saddr = ip->saddr;
		*(__u32 *)p->daddr = ip->daddr;
		if (ip->frag_off & bpf_htons(0x3fff))
			return LB_PARSED;
		off += hlen;
		if (data + off > end)
			return LB_MALFORMED;
		p->l4_off = off;
		lb_parse_l4(p, data + off, end);
		return LB_PARSED;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		__u8 next;

		if ((void *)(ip6 + 1) > end)
			return LB_MALFORMED;
		if (ip6->version != 6)
			return LB_MALFORMED;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		next = ip6->nexthdr;
		off += sizeof(*ip6);
#pragma unroll
		for (i = 0; i < 4; i++) {
			__u8 *h;

			/* hop-by-hop, routing, destination options; a fragment header ends the walk */
			if (next != 0 && next != 43 && next != 60)
				break;
			if (off > 256)
				return LB_PARSED;
			h = data + off;
			if ((void *)(h + 8) > end)
				return LB_MALFORMED;
			next = h[0];
			off += ((__u32)h[1] + 1) * 8;
		}
		p->proto = next;
		if (off > 512 || data + off > end)
			return LB_PARSED;
		p->l4_off = off;
		lb_parse_l4(p, data + off, end);
		return LB_PARSED;
	}
	return LB_NOT_IP;
}

#endif /* __LB_PARSE_H */
