/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet (with up to two VLAN tags), IPv4 (with options) or IPv6 (through its
 * extension headers), then the TCP, UDP, SCTP, ICMP or ICMPv6 header, into the fields the rules
 * look at and the tuple connection tracking needs.
 */
#ifndef __FW_PARSE_H
#define __FW_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include "fw_abi.h"

/* Bytes made directly readable in TC before parsing: headers and an ICMP error's quote. */
#define FW_PULL 256

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* What an ICMP message is to connection tracking. */
enum fw_icmp_kind {
	FW_ICMP_NONE = 0,  /* not ICMP */
	FW_ICMP_QUERY = 1, /* echo (and other) requests: may open a connection */
	FW_ICMP_REPLY = 2, /* their replies */
	FW_ICMP_ERROR = 3, /* errors that quote a packet: related to its connection */
	FW_ICMP_ND = 4,    /* IPv6 neighbour discovery and multicast listener messages */
	FW_ICMP_OTHER = 5,
};

struct fw_pkt {
	__u8 saddr[16]; /* IPv4: first 4 bytes, zeros after */
	__u8 daddr[16];
	__u16 l2_len; /* Ethernet header and tags: where the IP header starts */
	__u16 l4_off;
	__u16 sport;   /* host order; ICMP: type */
	__u16 dport;   /* host order; ICMP: code */
	__be16 ct_sport; /* conntrack ports: as on the wire; ICMP queries and replies: the id twice */
	__be16 ct_dport;
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u8 l4; /* the L4 header is there (not a later fragment, not cut short) */
	__u8 tcp_flags;
	__u8 frag; /* a later fragment */
	__u8 icmp; /* enum fw_icmp_kind */
	__u8 pad[2];
};

enum fw_parse_result {
	FW_PARSED = 0,
	FW_NOT_IP = 1,
	FW_MALFORMED = -1,
};

static __always_inline int fw_icmp4_kind(__u8 type)
{
	switch (type) {
	case 8:  /* echo */
	case 13: /* timestamp */
	case 15: /* information */
	case 17: /* address mask */
		return FW_ICMP_QUERY;
	case 0:
	case 14:
	case 16:
	case 18:
		return FW_ICMP_REPLY;
	case 3:  /* destination unreachable */
	case 4:  /* source quench */
	case 5:  /* redirect */
	case 11: /* time exceeded */
	case 12: /* parameter problem */
		return FW_ICMP_ERROR;
	default:
		return FW_ICMP_OTHER;
	}
}

static __always_inline int fw_icmp6_kind(__u8 type)
{
	if (type == 128)
		return FW_ICMP_QUERY;
	if (type == 129)
		return FW_ICMP_REPLY;
	if (type >= 1 && type <= 4)
		return FW_ICMP_ERROR;
	if ((type >= 130 && type <= 137) || type == 143)
		return FW_ICMP_ND;
	return FW_ICMP_OTHER;
}

/* Reads the L4 header at l4 (proto already known) into p. */
static __always_inline void fw_parse_l4(struct fw_pkt *p, void *l4, void *end)
{
	__u8 *b = l4;

	switch (p->proto) {
	case IPPROTO_TCP:
		if ((void *)(b + 20) > end)
			return;
		p->tcp_flags = b[13];
		/* fallthrough */
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if ((void *)(b + 8) > end)
			return;
		p->ct_sport = *(__be16 *)b;
		p->ct_dport = *(__be16 *)(b + 2);
		p->sport = bpf_ntohs(p->ct_sport);
		p->dport = bpf_ntohs(p->ct_dport);
		p->l4 = 1;
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((void *)(b + 8) > end)
			return;
		p->sport = b[0];
		p->dport = b[1];
		p->icmp = p->proto == IPPROTO_ICMP ? fw_icmp4_kind(b[0]) : fw_icmp6_kind(b[0]);
		if (p->icmp == FW_ICMP_QUERY || p->icmp == FW_ICMP_REPLY) {
			p->ct_sport = *(__be16 *)(b + 4);
			p->ct_dport = p->ct_sport;
		}
		p->l4 = 1;
		return;
	default:
		return;
	}
}

/*
 * Walks IPv6 extension headers from `off` (the byte after the fixed header); returns the offset
 * of the L4 header (its protocol in p->proto), or -1 if malformed. Offsets stay small scalars,
 * so that the verifier can bound the packet pointers made from them.
 */
static __always_inline int fw_ipv6_exthdrs(struct fw_pkt *p, void *data, void *end, __u32 off, __u8 next)
{
	int i;

#pragma unroll
	for (i = 0; i < 6; i++) {
		__u8 *h;
		__u32 len;

		if (next != 0 && next != 43 && next != 60 && next != 44 && next != 51)
			break;
		if (off > 1024)
			return -1;
		h = data + off;
		if ((void *)(h + 8) > end)
			return -1;
		if (next == 44) { /* fragment */
			if (bpf_ntohs(*(__be16 *)(h + 2)) & 0xfff8)
				p->frag = 1;
			len = 8;
		} else if (next == 51) { /* authentication header */
			len = ((__u32)h[1] + 2) * 4;
		} else { /* hop-by-hop, routing, destination options */
			len = ((__u32)h[1] + 1) * 8;
		}
		next = h[0];
		off += len;
		if (p->frag)
			break;
	}
	p->proto = next;
	return (int)off;
}

/* Parses the frame; TC callers pull FW_PULL bytes (or the whole frame) first. */
static __always_inline int fw_parse(const struct px_ctx *pc, struct fw_pkt *p)
{
	void *data = px_data(pc), *end = px_data_end(pc);
	struct ethhdr *eth = data;
	__u16 proto;
	__u32 off = sizeof(*eth);
	int i;

	if ((void *)(eth + 1) > end)
		return FW_MALFORMED;
	proto = eth->h_proto;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (data + off + 4 > end)
			return FW_MALFORMED;
		proto = *(__be16 *)(data + off + 2);
		off += 4;
	}
	p->l2_len = off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 hlen;

		if ((void *)(ip + 1) > end)
			return FW_MALFORMED;
		hlen = ip->ihl * 4;
		if (ip->version != 4 || hlen < 20)
			return FW_MALFORMED;
		p->family = 4;
		p->proto = ip->protocol;
		*(__u32 *)p->saddr = ip->saddr;
		*(__u32 *)p->daddr = ip->daddr;
		if (ip->frag_off & bpf_htons(0x1fff)) {
			p->frag = 1;
			return FW_PARSED;
		}
		if (hlen > 60)
			return FW_MALFORMED;
		off += hlen;
		if (data + off > end)
			return FW_MALFORMED;
		fw_parse_l4(p, data + off, end);
		p->l4_off = off;
		return FW_PARSED;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		int l4;

		if ((void *)(ip6 + 1) > end)
			return FW_MALFORMED;
		if (ip6->version != 6)
			return FW_MALFORMED;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		l4 = fw_ipv6_exthdrs(p, data, end, off + sizeof(*ip6), ip6->nexthdr);
		if (l4 < 0)
			return FW_MALFORMED;
		if (p->frag)
			return FW_PARSED;
		off = (__u32)l4;
		if (off > 1024)
			return FW_PARSED; /* headers longer than we look at: no L4 fields */
		if (data + off > end)
			return FW_PARSED; /* headers run past what we can see: no L4 fields */
		fw_parse_l4(p, data + off, end);
		p->l4_off = off;
		return FW_PARSED;
	}
	return FW_NOT_IP;
}

#endif /* __FW_PARSE_H */
