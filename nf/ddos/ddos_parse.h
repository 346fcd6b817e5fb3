/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the DDoS mitigator: Ethernet with up to two VLAN tags, IPv4 (options
 * allowed) or IPv6 (through up to four extension headers), and the first bytes of the TCP or UDP
 * header. Only what the checks need: addresses, protocol, fragment state, TCP flags and ports.
 */
#ifndef __DDOS_PARSE_H
#define __DDOS_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>

/* Bytes made directly readable (and writable) in TC before parsing. */
#define DDOS_PULL 160

#define DDOS_TCP_FIN 0x01
#define DDOS_TCP_SYN 0x02
#define DDOS_TCP_RST 0x04
#define DDOS_TCP_PSH 0x08
#define DDOS_TCP_ACK 0x10
#define DDOS_TCP_URG 0x20

struct ddos_pkt {
	__u8 saddr[16]; /* IPv4: the first 4 bytes, zeros after */
	__u8 daddr[16];
	__u16 l2_len; /* where the IP header starts */
	__u16 l4_off; /* where the L4 header starts */
	__be16 sport;
	__be16 dport;
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u8 frag;  /* a fragment (any: first or later) */
	__u8 l4;    /* the first 4 bytes of the L4 header (TCP: 14) are in the frame */
	__u8 tcp_flags;
	__u8 plain; /* IPv4 without options, IPv6 without extension headers: a SYN can be answered */
	__u8 pad[2];
};

enum ddos_parse_result {
	DDOS_PARSED = 0,
	DDOS_NOT_IP = 1,
	DDOS_MALFORMED = -1,
};

static __always_inline int ddos_parse_l4(void *data, void *end, struct ddos_pkt *p)
{
	__u8 *l4;

	if (p->l4_off > 512)
		return DDOS_MALFORMED;
	l4 = data + p->l4_off;
	if (p->proto == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return DDOS_MALFORMED;
		p->tcp_flags = l4[13];
	} else if (p->proto == IPPROTO_UDP) {
		if ((void *)(l4 + 8) > end)
			return DDOS_MALFORMED;
	} else {
		return DDOS_PARSED;
	}
	p->sport = *(__be16 *)l4;
	p->dport = *(__be16 *)(l4 + 2);
	p->l4 = 1;
	return DDOS_PARSED;
}

/* `len` is the whole packet's length (in TC, `end` may stop at the linear part). */
static __always_inline int ddos_parse(void *data, void *end, __u32 len, struct ddos_pkt *p)
{
	struct ethhdr *eth = data;
	__u16 proto;
	__u32 l2 = sizeof(*eth);

	if ((void *)(eth + 1) > end)
		return DDOS_MALFORMED;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (data + l2 + 4 > end)
			return DDOS_MALFORMED;
		proto = *(__be16 *)(data + l2 + 2);
		l2 += 4;
	}
	p->l2_len = l2;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + l2;
		__u32 hlen;

		if ((void *)(ip + 1) > end || ip->version != 4)
			return DDOS_MALFORMED;
		hlen = ip->ihl * 4;
		if (hlen < 20 || bpf_ntohs(ip->tot_len) < hlen || l2 + bpf_ntohs(ip->tot_len) > len)
			return DDOS_MALFORMED;
		p->family = 4;
		p->proto = ip->protocol;
		__builtin_memcpy(p->saddr, &ip->saddr, 4);
		__builtin_memcpy(p->daddr, &ip->daddr, 4);
		p->plain = hlen == 20;
		p->l4_off = l2 + hlen;
		if (ip->frag_off & bpf_htons(0x3fff)) {
			p->frag = 1;
			if (ip->frag_off & bpf_htons(0x1fff))
				return DDOS_PARSED; /* a later fragment: no L4 header */
		}
		return ddos_parse_l4(data, end, p);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + l2;
		__u32 off = l2 + sizeof(*ip6);
		__u8 next;

		if ((void *)(ip6 + 1) > end || ip6->version != 6 ||
		    l2 + sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > len)
			return DDOS_MALFORMED;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		next = ip6->nexthdr;
		p->plain = 1;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u8 *h;

			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_FRAGMENT)
				break;
			p->plain = 0;
			if (off > 256)
				return DDOS_MALFORMED;
			h = data + off;
			if ((void *)(h + 8) > end)
				return DDOS_MALFORMED;
			if (next == IPPROTO_FRAGMENT) {
				p->frag = 1;
				next = h[0];
				off += 8;
				if (*(__be16 *)(h + 2) & bpf_htons(0xfff8)) {
					p->proto = next;
					p->l4_off = off;
					return DDOS_PARSED; /* a later fragment */
				}
				continue;
			}
			next = h[0];
			off += (h[1] + 1) * 8;
		}
		p->proto = next;
		p->l4_off = off;
		return ddos_parse_l4(data, end, p);
	}
	return DDOS_NOT_IP;
}

#endif /* __DDOS_PARSE_H */
