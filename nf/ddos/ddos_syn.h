/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SYN flood protection. A SYN to a protected port is either handed on to the server or answered
 * here with a SYN-ACK whose sequence number is a SYN cookie made by the kernel's own function
 * (bpf_tcp_raw_gen_syncookie_ipv4/6): no state is kept for it. The client's ACK then goes on to
 * the server like any packet, and the server's TCP stack checks the cookie and creates the
 * connection. That works because:
 *
 *   - the cookie is the kernel's (same secret, same clock, same MSS table) as long as the server
 *     runs on this host, in any network namespace;
 *   - the server has net.ipv4.tcp_syncookies=2, so it accepts cookie ACKs... but only on a
 *     listening socket that sent cookies itself in the last two minutes (tcp_synq_no_recent_overflow).
 *     Hence "priming": every protected destination (address and port) gets one SYN through at
 *     least every prime interval (30 s), which the server answers with a cookie of its own, and
 *     from then on it takes the cookies made here. A primed SYN is a real client's: it simply
 *     completes its handshake with the server.
 *
 * Modes: "always" answers every SYN but the priming ones; "auto" hands on up to `synThreshold`
 * SYNs per second to each destination and answers the excess. The SYN-ACK carries only an MSS
 * option (the one the cookie encodes): without timestamps the cookie has nowhere to keep window
 * scaling and SACK, so connections made through a cookie run without them, as with the kernel's
 * own cookies when the client sends no timestamps.
 */
#ifndef __DDOS_SYN_H
#define __DDOS_SYN_H

#include <plexus.h>
#include "ddos_maps.h"
#include "ddos_parse.h"
#include "ddos_rate.h"

#define DDOS_TTL 64
#define DDOS_SYNACK_TCP 24 /* header and MSS option */

enum ddos_syn_verdict {
	DDOS_SYN_COOKIE = 0,
	DDOS_SYN_PASS = 1,
	DDOS_SYN_PRIME = 2,
};

struct ddos_scratch {
	__u8 ip[40];
	__u8 th[60];
	__u8 pseudo[40];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ddos_scratch);
} ddos_scratch SEC(".maps");

/* Hides a value's range from the compiler so that the check after it reaches the verifier. */
#define ddos_opaque(v) asm volatile("" : "+r"(v))

/* Whether a SYN to this destination goes on (and why) or is answered with a cookie. */
static __always_inline int ddos_syn_decide(const struct ddos_cfg *cfg, const struct ddos_pkt *p, __u64 now)
{
	struct ddos_svc_key k = { .family = p->family, .port = p->dport };
	struct ddos_svc *s;

	__builtin_memcpy(k.addr, p->daddr, 16);
	s = bpf_map_lookup_elem(&ddos_syn, &k);
	if (!s) {
		/* A destination not seen lately: its first SYN goes through (and primes it). */
		struct ddos_svc ns = { .tat = now + cfg->syn_interval_ns, .passed_ns = now, .passed = 1 };

		bpf_map_update_elem(&ddos_syn, &k, &ns, BPF_NOEXIST);
		return cfg->syn_mode == DDOS_SYN_AUTO ? DDOS_SYN_PASS : DDOS_SYN_PRIME;
	}
	if (cfg->syn_mode == DDOS_SYN_AUTO && ddos_gcra(&s->tat, now, cfg->syn_interval_ns, cfg->syn_tolerance_ns)) {
		s->passed++;
		s->passed_ns = now;
		return DDOS_SYN_PASS;
	}
	if (now - s->passed_ns >= cfg->prime_ns) {
		s->passed++;
		s->passed_ns = now;
		return DDOS_SYN_PRIME;
	}
	s->cookies++;
	return DDOS_SYN_COOKIE;
}

static __always_inline __u16 ddos_fold(__s64 sum)
{
	__u64 s = (__u64)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline int ddos_load(const struct px_ctx *pc, __u32 off, void *to, __u32 len)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_load_bytes(pc->ctx, off, to, len);
#else
	return bpf_skb_load_bytes(pc->ctx, off, to, len);
#endif
}

/* Makes the frame `len` bytes long, its headers directly writable. */
static __always_inline int ddos_set_len(const struct px_ctx *pc, __u32 len)
{
	__u32 cur = px_len(pc);

#ifdef PX_HOOK_XDP
	return len == cur ? 0 : bpf_xdp_adjust_tail(pc->ctx, (int)len - (int)cur);
#else
	if (len != cur && bpf_skb_change_tail(pc->ctx, len, 0))
		return -1;
	return bpf_skb_pull_data(pc->ctx, len);
#endif
}

/* Sends the answer back out of the interface the SYN came in on. */
static __always_inline int ddos_send_back(const struct px_ctx *pc)
{
#ifdef PX_HOOK_XDP
	/* A redirect rather than XDP_TX: on veth, XDP_TX frames reach the peer only if it runs XDP. */
	return bpf_redirect(pc->ctx->ingress_ifindex, 0);
#else
	if (pc->ctx->ingress_ifindex)
		return bpf_redirect(pc->ctx->ingress_ifindex, 0);
	return bpf_redirect(pc->ctx->ifindex, BPF_F_INGRESS); /* the host's own SYN (egress) */
#endif
}

/*
 * Turns the SYN into its SYN-ACK with a cookie, in place. Returns 0 when the frame is the answer,
 * -1 when the SYN cannot be answered here (IP options, IPv6 extension headers, no cookie) and the
 * frame is unchanged, -2 when rewriting failed half-way (the frame must be dropped).
 */
static __always_inline int ddos_syn_cookie(const struct px_ctx *pc, const struct ddos_pkt *p)
{
	__u32 zero = 0, l2 = p->l2_len, iphl = p->family == 4 ? 20 : 40, seq;
	__u64 thl; /* 64-bit: a 32-bit copy's zero-extension would lose the bounds check */
	struct ddos_scratch *s = bpf_map_lookup_elem(&ddos_scratch, &zero);
	void *data = px_data(pc), *end = px_data_end(pc);
	__u8 *th, *ip, mac[12];
	__u16 sport, dport, mss;
	__s64 ck, sum;

	if (!s || !p->plain || l2 > 22 || p->l4_off != l2 + iphl)
		return -1;
	th = data + p->l4_off;
	if ((void *)(th + 20) > end)
		return -1;
	thl = (th[12] >> 4) * 4;
	ddos_opaque(thl);
	if (thl < 20 || thl > 60)
		return -1;
	if (ddos_load(pc, p->l4_off, s->th, thl))
		return -1;
	if (p->family == 4) {
		if (ddos_load(pc, l2, s->ip, 20))
			return -1;
		ck = bpf_tcp_raw_gen_syncookie_ipv4((struct iphdr *)s->ip, (struct tcphdr *)s->th, thl);
	} else {
		if (ddos_load(pc, l2, s->ip, 40))
			return -1;
		ck = bpf_tcp_raw_gen_syncookie_ipv6((struct ipv6hdr *)s->ip, (struct tcphdr *)s->th, thl);
	}
	if (ck < 0)
		return -1;
	seq = bpf_ntohl(*(__be32 *)(s->th + 4));
	sport = *(__u16 *)s->th;
	dport = *(__u16 *)(s->th + 2);
	mss = (__u16)(ck >> 32);
	if ((void *)((__u8 *)data + 12) > end)
		return -1;
	__builtin_memcpy(mac, data + 6, 6);
	__builtin_memcpy(mac + 6, data, 6);

	if (ddos_set_len(pc, l2 + iphl + DDOS_SYNACK_TCP))
		return -2;
	data = px_data(pc);
	end = px_data_end(pc);
	ddos_opaque(l2);
	if (l2 > 22)
		return -2;
	ip = data + l2;
	if ((void *)((__u8 *)data + 12) > end)
		return -2;
	__builtin_memcpy(data, mac, 12);

	if (p->family == 4) {
		if ((void *)(ip + 20 + DDOS_SYNACK_TCP) > end)
			return -2;
		th = ip + 20;
		__builtin_memset(ip, 0, 20);
		ip[0] = 0x45;
		*(__be16 *)(ip + 2) = bpf_htons(20 + DDOS_SYNACK_TCP);
		*(__be16 *)(ip + 6) = bpf_htons(0x4000); /* don't fragment */
		ip[8] = DDOS_TTL;
		ip[9] = IPPROTO_TCP;
		__builtin_memcpy(ip + 12, s->ip + 16, 4);
		__builtin_memcpy(ip + 16, s->ip + 12, 4);
		sum = bpf_csum_diff(0, 0, (__be32 *)ip, 20, 0);
		if (sum < 0)
			return -2;
		*(__u16 *)(ip + 10) = ddos_fold(sum);
		__builtin_memset(s->pseudo, 0, 12);
		__builtin_memcpy(s->pseudo, ip + 12, 8);
		s->pseudo[9] = IPPROTO_TCP;
		s->pseudo[11] = DDOS_SYNACK_TCP;
		sum = bpf_csum_diff(0, 0, (__be32 *)s->pseudo, 12, 0);
	} else {
		if ((void *)(ip + 40 + DDOS_SYNACK_TCP) > end)
			return -2;
		th = ip + 40;
		__builtin_memset(ip, 0, 8);
		ip[0] = 0x60;
		*(__be16 *)(ip + 4) = bpf_htons(DDOS_SYNACK_TCP);
		ip[6] = IPPROTO_TCP;
		ip[7] = DDOS_TTL;
		__builtin_memcpy(ip + 8, s->ip + 24, 16);
		__builtin_memcpy(ip + 24, s->ip + 8, 16);
		__builtin_memset(s->pseudo, 0, 40);
		__builtin_memcpy(s->pseudo, ip + 8, 32);
		s->pseudo[35] = DDOS_SYNACK_TCP;
		s->pseudo[39] = IPPROTO_TCP;
		sum = bpf_csum_diff(0, 0, (__be32 *)s->pseudo, 40, 0);
	}
	if (sum < 0)
		return -2;
	*(__u16 *)th = dport;
	*(__u16 *)(th + 2) = sport;
	*(__be32 *)(th + 4) = bpf_htonl((__u32)ck);
	*(__be32 *)(th + 8) = bpf_htonl(seq + 1);
	th[12] = (DDOS_SYNACK_TCP / 4) << 4;
	th[13] = DDOS_TCP_SYN | DDOS_TCP_ACK;
	*(__be16 *)(th + 14) = bpf_htons(65535);
	*(__u32 *)(th + 16) = 0; /* checksum and urgent pointer */
	th[20] = 2; /* MSS */
	th[21] = 4;
	*(__be16 *)(th + 22) = bpf_htons(mss);
	sum = bpf_csum_diff(0, 0, (__be32 *)th, DDOS_SYNACK_TCP, (__u32)sum);
	if (sum < 0)
		return -2;
	*(__u16 *)(th + 16) = ddos_fold(sum);
	return 0;
}

#endif /* __DDOS_SYN_H */
