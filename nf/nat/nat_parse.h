/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the NAT: Ethernet (up to two VLAN tags), IPv4 or IPv6 (through its extension
 * headers), and the TCP, UDP or ICMP header: the tuple, where the headers and checksums are, and
 * what the packet is to connection tracking.
 */
#ifndef __NAT_PARSE_H
#define __NAT_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>

/* Bytes made directly readable in TC before parsing. */
#define NAT_PULL 128

enum nat_icmp_kind {
	NAT_ICMP_NONE = 0,  /* not ICMP */
	NAT_ICMP_QUERY = 1, /* echo request: opens a mapping */
	NAT_ICMP_REPLY = 2, /* echo reply */
	NAT_ICMP_OTHER = 3, /* errors, neighbour discovery, the rest: passed as they are */
};

struct nat_pkt {
	__u8 saddr[16]; /* IPv4: first 4 bytes, zeros after */
	__u8 daddr[16];
	__u16 l3_off;
	__u16 l4_off;
	__be16 sport; /* ICMP echo: the identifier, twice */
	__be16 dport;
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u8 l4; /* a translatable L4 header is there (TCP, UDP, ICMP echo; not a later fragment) */
	__u8 tcp_flags;
	__u8 icmp; /* enum nat_icmp_kind */
	__u8 udp_nocsum; /* IPv4 UDP without a checksum */
	__u8 pad[2];
};

enum nat_parse_result {
	NAT_PARSED = 0,
	NAT_NOT_IP = 1,
	NAT_MALFORMED = -1,
};

static __always_inline void nat_parse_l4(struct nat_pkt *p, __u8 *b, void *end)
{
	switch (p->proto) {
	case IPPROTO_TCP:
		if ((void *)(b + 20) > end)
			return;
		p->tcp_flags = b[13];
		break;
	case IPPROTO_UDP:
		if ((void *)(b + 8) > end)
			return;
		p->udp_nocsum = p->family == 4 && *(__u16 *)(b + 6) == 0;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((void *)(b + 8) > end)
			return;
		if (b[0] == (p->proto == IPPROTO_ICMP ? 8 : 128))
			p->icmp = NAT_ICMP_QUERY;
		else if (b[0] == (p->proto == IPPROTO_ICMP ? 0 : 129))
			p->icmp = NAT_ICMP_REPLY;
		else {
			p->icmp = NAT_ICMP_OTHER;
			return;
		}
		p->sport = *(__be16 *)(b + 4);
		p->dport = p->sport;
		p->l4 = 1;
		return;
	default:
		return;
	}
	p->sport = *(__be16 *)b;
	p->dport = *(__be16 *)(b + 2);
	p->l4 = 1;
}

/* Walks IPv6 extension headers; returns the L4 header's offset (protocol in p->proto) or -1. */
static __always_inline int nat_ipv6_exthdrs(struct nat_pkt *p, void *data, void *end, __u32 off, __u8 next)
{
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		__u8 *h;

		if (next != 0 && next != 43 && next != 60 && next != 44)
			break;
		if (off > 512)
			return -1;
		h = data + off;
		if ((void *)(h + 8) > end)
			return -1;
		if (next == 44) { /* fragments are not translated */
			p->proto = 44;
			return -1;
		}
		next = h[0];
		off += ((__u32)h[1] + 1) * 8;
	}
	p->proto = next;
	return (int)off;
}

/* Parses the frame (TC callers pull NAT_PULL bytes first). */
static __always_inline int nat_parse(const struct px_ctx *pc, struct nat_pkt *p)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ethhdr *eth = data;
	__u16 proto;
	__u32 off = sizeof(*eth);
	int i;

	if ((void *)(eth + 1) > end)
		return NAT_MALFORMED;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (data + off + 4 > end)
			return NAT_MALFORMED;
		proto = *(__be16 *)(data + off + 2);
		off += 4;
	}
	p->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 hlen;

		if ((void *)(ip + 1) > end)
			return NAT_MALFORMED;
		hlen = ip->ihl * 4;
		if (ip->version != 4 || hlen < 20 || hlen > 60)
			return NAT_MALFORMED;
		p->family = 4;
		p->proto = ip->protocol;
		*(__u32 *)p->saddr = ip->saddr;
		*(__u32 *)p->daddr = ip->daddr;
		/* Fragments (first or later) are not translated: no reassembly here. */
		if (ip->frag_off & bpf_htons(0x3fff))
			return NAT_PARSED;
		off += hlen;
		if (data + off > end)
			return NAT_MALFORMED;
		p->l4_off = off;
		nat_parse_l4(p, data + off, end);
		return NAT_PARSED;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		int l4;

		if ((void *)(ip6 + 1) > end)
			return NAT_MALFORMED;
		if (ip6->version != 6)
			return NAT_MALFORMED;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		l4 = nat_ipv6_exthdrs(p, data, end, off + sizeof(*ip6), ip6->nexthdr);
		if (l4 < 0 || l4 > 512)
			return NAT_PARSED; /* a fragment or headers we do not walk: no L4 fields */
		off = (__u32)l4;
		if (data + off > end)
			return NAT_PARSED;
		p->l4_off = off;
		nat_parse_l4(p, data + off, end);
		return NAT_PARSED;
	}
	return NAT_NOT_IP;
}

#endif /* __NAT_PARSE_H */
