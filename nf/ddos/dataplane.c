// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ddos: a transparent DDoS mitigator, meant to sit first on an interface's ingress (XDP). For each
 * packet, in this order:
 *
 *   1. the source address against the source prefixes (longest match): drop, or allow (trusted:
 *      nothing below applies);
 *   2. the destination address against the destination prefixes, the same way;
 *   3. the source's token bucket (per address, or per IPv4/IPv6 prefix of it);
 *   4. sanity: fragments (if configured), impossible TCP flag combinations;
 *   5. a SYN to a protected port: handed on, or answered here with a SYN cookie (ddos_syn.h).
 *
 * Everything else goes on unchanged. The prefix tries are swapped whole by the control plane
 * (control.ts) when a list changes; drops are counted by reason (the framework's counters and
 * ddos_stats), per prefix and per rate-limited source.
 */
#include <plexus.h>
#include "ddos_abi.h"
#include "ddos_maps.h"
#include "ddos_parse.h"
#include "ddos_rate.h"
#include "ddos_syn.h"

static __always_inline void ddos_count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&ddos_stats, &what);

	if (v)
		(*v)++;
}

static __always_inline int ddos_drop(const struct px_ctx *pc, __u32 reason)
{
	ddos_count(reason);
	return px_drop(pc, reason);
}

static __always_inline int ddos_pass(const struct px_ctx *pc, __u32 what)
{
	ddos_count(what);
	return px_next(pc);
}

/* The action of the longest prefix holding the address on one side (DDOS_ACT_NONE: none). */
static __always_inline __u32 ddos_lookup(const struct ddos_pkt *p, __u32 side, const __u8 *addr)
{
	struct ddos_pfx_val *v;
	void *trie;

	if (p->family == 4) {
		struct ddos_lpm4 k = { .prefixlen = 32 };

		trie = bpf_map_lookup_elem(&ddos_pfx4, &side);
		if (!trie)
			return DDOS_ACT_NONE;
		__builtin_memcpy(k.addr, addr, 4);
		v = bpf_map_lookup_elem(trie, &k);
	} else {
		struct ddos_lpm6 k = { .prefixlen = 128 };

		trie = bpf_map_lookup_elem(&ddos_pfx6, &side);
		if (!trie)
			return DDOS_ACT_NONE;
		__builtin_memcpy(k.addr, addr, 16);
		v = bpf_map_lookup_elem(trie, &k);
	}
	if (!v)
		return DDOS_ACT_NONE;
	__sync_fetch_and_add(&v->packets, 1);
	return v->action;
}

/* SYN with FIN or RST, FIN without ACK, no flags at all: no TCP stack sends these. */
static __always_inline int ddos_bad_flags(__u8 f)
{
	if ((f & DDOS_TCP_SYN) && (f & (DDOS_TCP_FIN | DDOS_TCP_RST)))
		return 1;
	if ((f & DDOS_TCP_FIN) && !(f & DDOS_TCP_ACK))
		return 1;
	return (f & 0x3f) == 0;
}

static __always_inline int ddos_port_protected(const struct ddos_cfg *cfg, __be16 port)
{
	__u32 n = bpf_ntohs(port);

	if (cfg->flags & DDOS_CFG_SYN_ALL_PORTS)
		return 1;
	return (cfg->syn_ports[(n >> 3) & 8191] >> (n & 7)) & 1;
}

PX_NF(ddos)
{
	__u32 zero = 0, len = px_len(pc), act;
	struct ddos_cfg *cfg = bpf_map_lookup_elem(&ddos_cfg, &zero);
	struct ddos_pkt p = {};
	__u64 now = 0;
	int r;

	if (!cfg)
		return px_next(pc);
#ifdef PX_HOOK_TC
	if (px_pull(pc, len < DDOS_PULL ? len : DDOS_PULL))
		return ddos_drop(pc, DDOS_DROP_MALFORMED);
#endif
	r = ddos_parse(px_data(pc), px_data_end(pc), len, &p);
	if (r == DDOS_NOT_IP)
		return (cfg->flags & DDOS_CFG_DROP_NON_IP) ? ddos_drop(pc, DDOS_DROP_NOT_IP) : ddos_pass(pc, DDOS_ST_PASSED);
	if (r < 0)
		return ddos_drop(pc, DDOS_DROP_MALFORMED);

	act = ddos_lookup(&p, DDOS_SRC, p.saddr);
	if (act == DDOS_ACT_DROP)
		return ddos_drop(pc, DDOS_DROP_SRC);
	if (act == DDOS_ACT_ALLOW)
		return ddos_pass(pc, DDOS_ST_SRC_ALLOWED);
	act = ddos_lookup(&p, DDOS_DST, p.daddr);
	if (act == DDOS_ACT_DROP)
		return ddos_drop(pc, DDOS_DROP_DST);
	if (act == DDOS_ACT_ALLOW)
		return ddos_pass(pc, DDOS_ST_DST_ALLOWED);

	if (cfg->flags & DDOS_CFG_RATE) {
		now = bpf_ktime_get_ns();
		if (!ddos_rate_ok(cfg, &p, now))
			return ddos_drop(pc, DDOS_DROP_RATE);
	}
	if (p.frag && (cfg->flags & DDOS_CFG_DROP_FRAGMENTS))
		return ddos_drop(pc, DDOS_DROP_FRAGMENT);
	if (p.proto != IPPROTO_TCP || !p.l4)
		return ddos_pass(pc, DDOS_ST_PASSED);
	if ((cfg->flags & DDOS_CFG_TCP_FLAGS) && ddos_bad_flags(p.tcp_flags))
		return ddos_drop(pc, DDOS_DROP_TCP_FLAGS);
	if ((p.tcp_flags & (DDOS_TCP_SYN | DDOS_TCP_ACK)) != DDOS_TCP_SYN || cfg->syn_mode == DDOS_SYN_OFF ||
	    !ddos_port_protected(cfg, p.dport))
		return ddos_pass(pc, DDOS_ST_PASSED);

	if (!now)
		now = bpf_ktime_get_ns();
	r = ddos_syn_decide(cfg, &p, now);
	if (r == DDOS_SYN_PASS)
		return ddos_pass(pc, DDOS_ST_SYN_PASSED);
	if (r == DDOS_SYN_PRIME)
		return ddos_pass(pc, DDOS_ST_SYN_PRIMED);
	r = ddos_syn_cookie(pc, &p);
	if (r == -1)
		return ddos_pass(pc, p.plain ? DDOS_ST_COOKIE_FAIL : DDOS_ST_SYN_ODD);
	if (r < 0)
		return ddos_drop(pc, DDOS_DROP_MALFORMED);
	/* The SYN is consumed (counted as a drop for its reason); its answer goes back. */
	ddos_count(DDOS_DROP_SYN_COOKIE);
	px_count_drop(pc->slot, pc->in_port, PX_RX, DDOS_DROP_SYN_COOKIE);
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, pc->in_port, PX_TP_DROP, DDOS_DROP_SYN_COOKIE);
	return ddos_send_back(pc);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
