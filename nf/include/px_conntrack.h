/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking for plexus network functions: the key both directions of a connection share,
 * the entry kept per connection, the TCP state machine (the kernel conntrack's states and
 * transitions, without sequence-window checks), the timeouts and the packet's state (nftables'
 * `ct state`: new, established, related, invalid, untracked).
 *
 * The NF owns the map (any hash or LRU hash of struct px_ct_key -> struct px_ct_entry, e.g. the
 * inner map of an array of maps so that several instances share one table) and parses its packets;
 * this header only needs the tuple. A packet is tracked in two steps: px_ct_track() before the
 * NF decides (what the packet is to its connection), px_ct_confirm() once it lets the packet
 * through (a dropped packet changes nothing, so a blocked RST cannot close a connection).
 *
 *   struct px_ct_key k;
 *   int lo = px_ct_key_init(&k, 4, IPPROTO_TCP, saddr, daddr, sport, dport);
 *   struct px_ct_view v;
 *   px_ct_track(map, &k, lo, IPPROTO_TCP, px_ct_tcp_segment(flags), now, &v);
 *   if (v.state == PX_CT_ESTABLISHED ...) ...
 *   px_ct_confirm(map, &k, &v, IPPROTO_TCP, &timeouts, now);
 *
 * ICMP errors: px_ct_key_init() on the quoted packet's tuple and px_ct_related() say whether the
 * error belongs to a tracked connection. Timestamps are bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC,
 * jiffy resolution); an entry past `expires` counts as absent, and the control plane deletes it.
 */
#ifndef __PX_CONNTRACK_H
#define __PX_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* What a packet is to its connection. */
enum px_ct_state {
	PX_CT_NEW = 0,         /* opens a connection, or belongs to one that has seen no reply yet */
	PX_CT_ESTABLISHED = 1, /* belongs to a connection that has seen traffic both ways */
	PX_CT_RELATED = 2,     /* an ICMP error about a tracked connection */
	PX_CT_INVALID = 3,     /* fits no connection (e.g. a TCP ACK without one, a bad transition) */
	PX_CT_UNTRACKED = 4,   /* not tracked (fragments, neighbour discovery, tracking off) */
};
#define PX_CT_STATES 5

enum px_ct_dir {
	PX_CT_DIR_ORIGINAL = 0, /* from the endpoint that opened the connection */
	PX_CT_DIR_REPLY = 1,
};

/* TCP connection states, as the kernel's conntrack names them. */
enum px_ct_tcp {
	PX_TCP_NONE = 0,
	PX_TCP_SYN_SENT = 1,
	PX_TCP_SYN_RECV = 2,
	PX_TCP_ESTABLISHED = 3,
	PX_TCP_FIN_WAIT = 4,
	PX_TCP_CLOSE_WAIT = 5,
	PX_TCP_LAST_ACK = 6,
	PX_TCP_TIME_WAIT = 7,
	PX_TCP_CLOSE = 8,
	PX_TCP_SYN_SENT2 = 9, /* simultaneous open */
	PX_TCP_STATES = 10,
	PX_TCP_INVALID = 0xfe, /* the segment does not fit the state */
	PX_TCP_IGNORE = 0xff,  /* let it through, change nothing (e.g. a late SYN-ACK) */
};

/* What a TCP segment is to the state machine, from its flags. */
enum px_ct_seg {
	PX_SEG_SYN = 0,
	PX_SEG_SYNACK = 1,
	PX_SEG_FIN = 2,
	PX_SEG_ACK = 3,
	PX_SEG_RST = 4,
	PX_SEG_NONE = 5,
	PX_SEGS = 6,
};

/*
 * Both directions of a connection have one key: the endpoint that sorts lower (address, then
 * port) comes first. IPv4 addresses fill the first 4 bytes of the 16. ICMP queries use the
 * identifier as both ports.
 */
struct px_ct_key {
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u16 pad;
	__be16 port_lo;
	__be16 port_hi;
	__u8 addr_lo[16];
	__u8 addr_hi[16];
};

struct px_ct_entry {
	__u64 expires; /* coarse monotonic ns */
	__u8 tcp;      /* enum px_ct_tcp (TCP only) */
	__u8 flags;    /* PX_CT_F_* */
	__u16 spare;   /* (not "pad": a table's key and value fields need distinct names) */
	__u32 spare2;
};

#define PX_CT_F_ORIG_LO 1    /* the endpoint that opened the connection is the key's lo one */
#define PX_CT_F_SEEN_REPLY 2 /* a packet went the reply way */

/* Timeouts in seconds (the kernel's defaults: see px_ct_default_timeouts in the control planes). */
struct px_ct_timeouts {
	__u32 tcp[PX_TCP_STATES]; /* by TCP state */
	__u32 udp;                /* UDP before a reply */
	__u32 udp_stream;         /* UDP once replied */
	__u32 icmp;
	__u32 generic; /* other protocols */
};

/* What px_ct_track() found out. */
struct px_ct_view {
	struct px_ct_entry *e; /* the live entry, or NULL */
	__u8 state;            /* enum px_ct_state */
	__u8 dir;              /* enum px_ct_dir */
	__u8 tcp_next;         /* TCP: the state after this segment (or PX_TCP_IGNORE) */
	__u8 src_lo;           /* the packet comes from the key's lo endpoint */
	__u8 fresh;            /* px_ct_confirm() creates (or restarts) the entry */
	__u8 pad[3];
};

#define sNO PX_TCP_NONE
#define sSS PX_TCP_SYN_SENT
#define sSR PX_TCP_SYN_RECV
#define sES PX_TCP_ESTABLISHED
#define sFW PX_TCP_FIN_WAIT
#define sCW PX_TCP_CLOSE_WAIT
#define sLA PX_TCP_LAST_ACK
#define sTW PX_TCP_TIME_WAIT
#define sCL PX_TCP_CLOSE
#define sS2 PX_TCP_SYN_SENT2
#define sIV PX_TCP_INVALID
#define sIG PX_TCP_IGNORE

/*
 * [direction][segment][state] -> next state. Columns: NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT
 * CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE SYN_SENT2. A SYN reopens TIME_WAIT and CLOSE; SYN-ACKs
 * only come back; FIN moves towards LAST_ACK / TIME_WAIT; an RST closes; a segment without SYN,
 * FIN, ACK or RST is invalid.
 */
static const __u8 px_ct_tcp_table[2][PX_SEGS][PX_TCP_STATES] = {
	{
		/* original direction */
		/* SYN    */ { sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2 },
		/* SYNACK */ { sIV, sIV, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR },
		/* FIN    */ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
		/* ACK    */ { sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV },
		/* RST    */ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
		/* NONE   */ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
	},
	{
		/* reply direction */
		/* SYN    */ { sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2 },
		/* SYNACK */ { sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR },
		/* FIN    */ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
		/* ACK    */ { sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG },
		/* RST    */ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
		/* NONE   */ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV },
	},
};

#undef sNO
#undef sSS
#undef sSR
#undef sES
#undef sFW
#undef sCW
#undef sLA
#undef sTW
#undef sCL
#undef sS2
#undef sIV
#undef sIG

/* TCP header flag bits (byte 13 of the header). */
#define PX_TCPF_FIN 0x01
#define PX_TCPF_SYN 0x02
#define PX_TCPF_RST 0x04
#define PX_TCPF_PSH 0x08
#define PX_TCPF_ACK 0x10
#define PX_TCPF_URG 0x20

static __always_inline __u32 px_ct_tcp_segment(__u8 flags)
{
	if (flags & PX_TCPF_RST)
		return PX_SEG_RST;
	if (flags & PX_TCPF_SYN)
		return (flags & PX_TCPF_ACK) ? PX_SEG_SYNACK : PX_SEG_SYN;
	if (flags & PX_TCPF_FIN)
		return PX_SEG_FIN;
	if (flags & PX_TCPF_ACK)
		return PX_SEG_ACK;
	return PX_SEG_NONE;
}

/* Keeps the compiler from merging a bound check into a select the verifier cannot follow. */
#define px_ct_opaque(v) asm volatile("" : "+r"(v))

static __always_inline __u8 px_ct_tcp_next(__u32 state, __u32 dir, __u32 seg)
{
	__u32 i;

	if (state >= PX_TCP_STATES || seg >= PX_SEGS)
		return PX_TCP_INVALID;
	i = ((dir & 1) * PX_SEGS + seg) * PX_TCP_STATES + state;
	px_ct_opaque(i);
	if (i >= sizeof(px_ct_tcp_table))
		return PX_TCP_INVALID;
	return ((const __u8 *)px_ct_tcp_table)[i];
}

/* Compares two 16-byte addresses as big-endian numbers: <0, 0, >0. */
static __always_inline int px_ct_addr_cmp(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		__u32 p = bpf_ntohl(x[i]), q = bpf_ntohl(y[i]);

		if (p != q)
			return p < q ? -1 : 1;
	}
	return 0;
}

/*
 * Fills `k` for a packet from saddr:sport to daddr:dport (addresses as 16 bytes, IPv4 in the first
 * 4 and zeros after). Returns 1 when the packet's source is the key's lo endpoint.
 */
static __always_inline int px_ct_key_init(struct px_ct_key *k, __u8 family, __u8 proto, const __u8 *saddr,
					  const __u8 *daddr, __be16 sport, __be16 dport)
{
	int c = px_ct_addr_cmp(saddr, daddr);
	int src_lo = c < 0 || (c == 0 && bpf_ntohs(sport) <= bpf_ntohs(dport));

	k->family = family;
	k->proto = proto;
	k->pad = 0;
	if (src_lo) {
		__builtin_memcpy(k->addr_lo, saddr, 16);
		__builtin_memcpy(k->addr_hi, daddr, 16);
		k->port_lo = sport;
		k->port_hi = dport;
	} else {
		__builtin_memcpy(k->addr_lo, daddr, 16);
		__builtin_memcpy(k->addr_hi, saddr, 16);
		k->port_lo = dport;
		k->port_hi = sport;
	}
	return src_lo;
}

/* The direction of a packet coming from the lo (src_lo = 1) or hi endpoint of `e`'s key. */
static __always_inline __u32 px_ct_dir(const struct px_ct_entry *e, int src_lo)
{
	return ((e->flags & PX_CT_F_ORIG_LO) != 0) == (src_lo != 0) ? PX_CT_DIR_ORIGINAL : PX_CT_DIR_REPLY;
}

/* Seconds an entry lives after a packet, for its protocol and state. */
static __always_inline __u32 px_ct_timeout(const struct px_ct_timeouts *t, __u8 proto, __u32 tcp, int replied)
{
	switch (proto) {
	case IPPROTO_TCP:
		px_ct_opaque(tcp);
		if (tcp >= PX_TCP_STATES)
			return t->tcp[PX_TCP_CLOSE];
		return t->tcp[tcp];
	case IPPROTO_UDP:
		return replied ? t->udp_stream : t->udp;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return t->icmp;
	default:
		return t->generic;
	}
}

/*
 * Looks the packet's connection up and says what the packet is to it. `seg` is px_ct_tcp_segment()
 * for TCP; `opens` says whether a non-TCP packet may open a connection (UDP, ICMP queries and
 * other protocols may; ICMP replies may not). `map` is the connection table.
 */
static __always_inline void px_ct_track(void *map, const struct px_ct_key *k, int src_lo, __u8 proto, __u32 seg,
					int opens, __u64 now, struct px_ct_view *v)
{
	struct px_ct_entry *e = bpf_map_lookup_elem(map, k);
	__u32 dir, next;

	v->src_lo = src_lo;
	v->fresh = 0;
	v->tcp_next = PX_TCP_IGNORE;
	v->dir = PX_CT_DIR_ORIGINAL;
	if (e && e->expires < now)
		e = 0; /* expired: as if gone (the control plane deletes it) */
	v->e = e;
	if (!e) {
		if (proto == IPPROTO_TCP) {
			opens = seg == PX_SEG_SYN;
			v->tcp_next = PX_TCP_SYN_SENT;
		}
		v->state = opens ? PX_CT_NEW : PX_CT_INVALID;
		v->fresh = opens;
		return;
	}
	dir = px_ct_dir(e, src_lo);
	v->dir = dir;
	if (proto == IPPROTO_TCP) {
		next = px_ct_tcp_next(e->tcp, dir, seg);
		v->tcp_next = next;
		if (next == PX_TCP_INVALID) {
			v->state = PX_CT_INVALID;
			return;
		}
		/* A new SYN on a closed connection opens a new one on the same tuple. */
		if (seg == PX_SEG_SYN && next == PX_TCP_SYN_SENT && e->tcp >= PX_TCP_TIME_WAIT) {
			v->state = PX_CT_NEW;
			v->fresh = 1;
			v->dir = PX_CT_DIR_ORIGINAL;
			return;
		}
	}
	v->state = (dir == PX_CT_DIR_REPLY || (e->flags & PX_CT_F_SEEN_REPLY)) ? PX_CT_ESTABLISHED : PX_CT_NEW;
}

/* Records a packet that was let through: creates the entry or moves it on, and renews its timeout. */
static __always_inline void px_ct_confirm(void *map, const struct px_ct_key *k, const struct px_ct_view *v,
					  __u8 proto, const struct px_ct_timeouts *t, __u64 now)
{
	struct px_ct_entry *e = v->e;
	__u32 tcp, replied;
	__u64 expires;

	if (v->state != PX_CT_NEW && v->state != PX_CT_ESTABLISHED)
		return;
	if (v->fresh) {
		struct px_ct_entry n = {};

		n.tcp = proto == IPPROTO_TCP ? PX_TCP_SYN_SENT : 0;
		n.flags = v->src_lo ? PX_CT_F_ORIG_LO : 0;
		n.expires = now + (__u64)px_ct_timeout(t, proto, n.tcp, 0) * 1000000000ULL;
		bpf_map_update_elem(map, k, &n, BPF_ANY);
		return;
	}
	if (!e)
		return;
	tcp = e->tcp;
	if (proto == IPPROTO_TCP && v->tcp_next < PX_TCP_STATES)
		tcp = v->tcp_next;
	replied = (e->flags & PX_CT_F_SEEN_REPLY) || v->dir == PX_CT_DIR_REPLY;
	expires = now + (__u64)px_ct_timeout(t, proto, tcp, replied) * 1000000000ULL;
	/* Write only what changes (the deadline when it moves by a second or more): an entry hit by
	 * every packet of a flow stays a clean cache line. */
	if (tcp != e->tcp) {
		e->tcp = tcp;
		e->expires = expires;
	} else if (expires > e->expires + 1000000000ULL || expires < e->expires) {
		e->expires = expires;
	}
	if (replied && !(e->flags & PX_CT_F_SEEN_REPLY))
		e->flags |= PX_CT_F_SEEN_REPLY;
}

/* Whether the connection an ICMP error quotes (its key as px_ct_key_init() makes it) is tracked. */
static __always_inline int px_ct_related(void *map, const struct px_ct_key *quoted, __u64 now)
{
	struct px_ct_entry *e = bpf_map_lookup_elem(map, quoted);

	return e && e->expires >= now;
}

#endif /* __PX_CONNTRACK_H */
