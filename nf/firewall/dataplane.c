// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * firewall: a transparent, stateful packet filter. Ordered rules on addresses, protocol, ports,
 * ICMP type and code, TCP flags, connection state and ingress interface decide what passes; what
 * no rule takes gets the instance's default policy. Classification is a bit-vector search whose
 * cost does not grow with the number of rules (fw_classify.h); connections are tracked in a
 * table several instances can share (px_conntrack.h), so that a firewall on the way in knows the
 * connections a firewall on the way out let through. The control plane (control.ts) compiles rule
 * sets, switches generations, and removes expired connections.
 */
#include <plexus.h>
#include "fw_abi.h"
#include "fw_parse.h"
#include "fw_classify.h"
#include "fw_reject.h"

/* What one packet's handling keeps: in a per-CPU slot, to leave stack for the search's frames. */
struct fw_state {
	struct fw_pkt p;
	struct px_ct_key k;
	struct fw_search s;
	struct fw_addr qs, qd; /* addresses an ICMP error quotes */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_state);
} fw_state SEC(".maps");

/* The connection an ICMP error quotes: RELATED when it is tracked, INVALID otherwise. */
static __always_inline __u32 fw_related(const struct px_ctx *pc, struct fw_state *st, void *ctmap, __u64 now)
{
	const struct fw_pkt *p = &st->p;
	void *data = px_data(pc), *end = px_data_end(pc);
	__u32 off = p->l4_off + 8, hlen;
	__u8 *in, *l4, proto;
	__be16 sport = 0, dport = 0;

	if (off > 1024)
		return PX_CT_INVALID;
	in = data + off;
	if (p->family == 4) {
		struct iphdr *ip = (struct iphdr *)in;

		if ((void *)(ip + 1) > end || ip->version != 4)
			return PX_CT_INVALID;
		hlen = ip->ihl * 4;
		if (hlen < 20 || hlen > 60)
			return PX_CT_INVALID;
		proto = ip->protocol;
		l4 = in + hlen;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)in;

		if ((void *)(ip6 + 1) > end)
			return PX_CT_INVALID;
		proto = ip6->nexthdr;
		l4 = (__u8 *)(ip6 + 1);
	}
	if ((void *)(l4 + 8) > end)
		return PX_CT_INVALID;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		sport = *(__be16 *)(l4 + 4); /* the quoted query's identifier */
		dport = sport;
	} else if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
		sport = *(__be16 *)l4;
		dport = *(__be16 *)(l4 + 2);
	}
	__builtin_memset(&st->qs, 0, sizeof(st->qs));
	__builtin_memset(&st->qd, 0, sizeof(st->qd));
	if (p->family == 4) {
		__builtin_memcpy(st->qs.b, in + 12, 4);
		__builtin_memcpy(st->qd.b, in + 16, 4);
	} else {
		__builtin_memcpy(st->qs.b, in + 8, 16);
		__builtin_memcpy(st->qd.b, in + 24, 16);
	}
	px_ct_key_init(&st->k, p->family, proto, st->qs.b, st->qd.b, sport, dport);
	return px_ct_related(ctmap, &st->k, now) ? PX_CT_RELATED : PX_CT_INVALID;
}

PX_NF(firewall)
{
	__u32 zero = 0, len = px_len(pc), ct = PX_CT_UNTRACKED, gen, action, how;
	struct fw_cfg *cfg = bpf_map_lookup_elem(&fw_cfg, &zero);
	struct fw_state *st = bpf_map_lookup_elem(&fw_state, &zero);
	const struct fw_rule_action *a;
	const struct fw_gen *g;
	struct px_ct_view v = {}; /* on the stack: it holds a pointer to the entry */
	struct fw_pkt *p;
	void *ctmap = 0;
	__u64 now = 0;
	int r;

	if (!cfg || !st)
		return px_next(pc);
	p = &st->p;
	__builtin_memset(p, 0, sizeof(*p));
#ifdef PX_HOOK_TC
	if (px_pull(pc, len < FW_PULL ? len : FW_PULL))
		return px_drop(pc, FW_DROP_MALFORMED);
#endif
	r = fw_parse(pc, p);
	if (r == FW_NOT_IP)
		return (cfg->flags & FW_CFG_DROP_NON_IP) ? px_drop(pc, FW_DROP_NOT_IP) : px_next(pc);
	if (r < 0)
		return px_drop(pc, FW_DROP_MALFORMED);
	if (p->icmp == FW_ICMP_ND && !(cfg->flags & FW_CFG_FILTER_ND))
		return px_next(pc);
	gen = cfg->gen & 1;
	g = bpf_map_lookup_elem(&fw_gens, &gen);
	if (!g)
		return px_next(pc);

	if ((cfg->flags & FW_CFG_CONNTRACK) && !p->frag && p->icmp != FW_ICMP_ND)
		ctmap = bpf_map_lookup_elem(&fw_ct_ref, &zero);
	if (ctmap) {
		now = bpf_ktime_get_coarse_ns();
		if (p->icmp == FW_ICMP_ERROR) {
			ct = fw_related(pc, st, ctmap, now);
			ctmap = 0; /* nothing to confirm */
		} else if (p->icmp == FW_ICMP_OTHER ||
			   (!p->l4 && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || p->proto == IPPROTO_SCTP ||
				       p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6))) {
			ct = PX_CT_INVALID;
			ctmap = 0;
		} else {
			int lo = px_ct_key_init(&st->k, p->family, p->proto, p->saddr, p->daddr, p->ct_sport, p->ct_dport);

			px_ct_track(ctmap, &st->k, lo, p->proto, px_ct_tcp_segment(p->tcp_flags), p->icmp != FW_ICMP_REPLY,
				    now, &v);
			ct = v.state;
		}
	}

	/* The interface the packet entered on (0 for the host's own packets in TC egress). */
	fw_classes_of(&st->s, gen, g, p, ct, pc->ctx->ingress_ifindex);
	a = fw_match(&st->s, gen, g, len);
	if (a) {
		action = a->action;
		how = a->reject;
	} else {
		fw_count(0, len);
		action = cfg->policy;
		how = cfg->reject_with;
	}
	if (action == FW_ACT_ACCEPT) {
		if (ctmap)
			px_ct_confirm(ctmap, &st->k, &v, p->proto, &cfg->ct, now);
		return px_next(pc);
	}
	if (action == FW_ACT_REJECT)
		return fw_reject(pc, p, cfg, how);
	return px_drop(pc, a ? FW_DROP_RULE : FW_DROP_POLICY);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
