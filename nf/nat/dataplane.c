// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nat: a transparent, stateful address and port translator. The first packet of a connection
 * (TCP SYN, UDP, ICMP echo request) that matches a rule gets a mapping: source NAT to an address
 * or a pool with a port picked without collisions, masquerade, destination NAT and port
 * forwarding; both directions' session entries are written at once and every later packet of the
 * connection, either way, is one hash lookup and an incremental checksum update. IPv6 prefix
 * translation (RFC 6296) is stateless. Connection state and timeouts come from px_conntrack.h, in a
 * table the instances of a zone share with their session table, so that the instance that maps a
 * connection on the way out and the one that translates its replies on the way in agree.
 *
 * Port allocation: a new mapping claims its reply tuple by inserting the reply entry with
 * BPF_NOEXIST, which the kernel makes atomic across CPUs; the first candidate is the
 * connection's own port, then up to NAT_PROBES ports from a point hashed from the tuple. Only the
 * whole reply tuple must be unique, so one outside port serves many destinations. A candidate
 * still held by a connection that has expired (the control plane collects those only every few
 * seconds) is taken over, as the kernel's NAT finds such a tuple free once conntrack dropped it.
 */
#include <plexus.h>
#include "nat_abi.h"
#include "nat_parse.h"
#include "nat_xlate.h"

/* One packet's working state: in a per-CPU slot, to spare the stack. */
struct nat_state {
	struct nat_pkt p;
	struct nat_tuple t;   /* the packet's tuple */
	struct nat_tuple rt;  /* a new mapping's reply tuple */
	struct nat_tuple ot;  /* the original tuple of an expired mapping being taken over */
	struct nat_sess os;   /* a new mapping's original entry */
	struct nat_sess rs;   /* and its reply entry */
	struct nat_new n;     /* what the packet becomes */
	struct px_ct_key k;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_state);
} nat_state SEC(".maps");

#include "nat_icmp.h"

static __always_inline void nat_stat(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&nat_stats, &i);

	if (c)
		(*c)++;
}

static __always_inline __u32 nat_hash(const struct nat_tuple *t)
{
	const __u32 *s = (const __u32 *)t->saddr, *d = (const __u32 *)t->daddr;
	__u32 h = 0x9e3779b9 ^ (((__u32)t->sport << 16) | t->dport) ^ t->proto;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		h ^= s[i];
		h *= 0x85ebca6b;
		h ^= h >> 13;
		h ^= d[i];
		h *= 0xc2b2ae35;
		h ^= h >> 16;
	}
	return h;
}

/* Whether addr falls in prefix/mask (16 bytes each). */
static __always_inline int nat_in_prefix(const __u8 *addr, const __u8 *prefix, const __u8 *mask)
{
	const __u32 *a = (const __u32 *)addr, *p = (const __u32 *)prefix, *m = (const __u32 *)mask;

	return ((a[0] & m[0]) == p[0]) & ((a[1] & m[1]) == p[1]) & ((a[2] & m[2]) == p[2]) &
	       ((a[3] & m[3]) == p[3]);
}

/* addr with its prefix (mask) replaced by `prefix`, plus the NPT checksum adjustment `adj`. */
static __always_inline void nat_npt_map(__u8 *out, const __u8 *addr, const __u8 *prefix, const __u8 *mask,
					__u32 word, __u16 adj)
{
	__u32 *o = (__u32 *)out;
	const __u32 *a = (const __u32 *)addr, *p = (const __u32 *)prefix, *m = (const __u32 *)mask;
	__u16 *w = (__u16 *)out;
	__u32 v;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++)
		o[i] = (a[i] & ~m[i]) | p[i];
	word &= 7;
	v = (__u32)bpf_ntohs(w[word]) + adj;
	v = (v & 0xffff) + (v >> 16);
	if (v == 0xffff)
		v = 0;
	w[word] = bpf_htons((__u16)v);
}

static __always_inline int nat_port_ok(__u16 port, __u16 lo, __u16 hi)
{
	return port >= lo && port <= hi;
}

/* The first rule that takes the packet, or NULL. */
static __always_inline const struct nat_rule *nat_match(const struct nat_cfg *cfg, const struct nat_rules *rs,
							const struct nat_pkt *p, __u32 gen, int *inbound_npt)
{
	__u32 n = cfg->count[gen & 1], i;
	__u16 sport = bpf_ntohs(p->sport), dport = bpf_ntohs(p->dport);
	int icmp = p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6;

	for (i = 0; i < NAT_MAX_RULES; i++) {
		const struct nat_rule *r;

		if (i >= n)
			break;
		r = &rs->r[i];
		if (r->family != p->family)
			continue;
		if (r->kind == NAT_NPT) {
			/* Both ways: inside sources go out, outside destinations come back in. */
			if (nat_in_prefix(p->saddr, r->src, r->src_mask)) {
				*inbound_npt = 0;
				return r;
			}
			if (nat_in_prefix(p->daddr, r->to, r->src_mask)) {
				*inbound_npt = 1;
				return r;
			}
			continue;
		}
		if (!p->l4 || (r->proto && r->proto != p->proto))
			continue;
		if (!nat_in_prefix(p->saddr, r->src, r->src_mask) || !nat_in_prefix(p->daddr, r->dst, r->dst_mask))
			continue;
		if (!icmp && (!nat_port_ok(sport, r->sport_lo, r->sport_hi) || !nat_port_ok(dport, r->dport_lo, r->dport_hi)))
			continue;
		/* A port rule does not take ICMP (that has no ports) unless it says any port. */
		if (icmp && (r->sport_lo || r->sport_hi != 0xffff || r->dport_lo || r->dport_hi != 0xffff))
			continue;
		return r;
	}
	return 0;
}

/* addr = base + k on the low 32 bits (the last word of the 16 bytes, or the first for IPv4). */
static __always_inline void nat_addr_plus(__u8 *out, const __u8 *base, __u32 family, __u32 k)
{
	__u32 *o = (__u32 *)out;
	__u32 w = family == 4 ? 0 : 3;

	__builtin_memcpy(out, base, 16);
	w &= 3;
	o[w] = bpf_htonl(bpf_ntohl(o[w]) + k);
}

/* Fills the reply tuple for the new tuple in st->n (reply packets come from its destination). */
static __always_inline void nat_reply_tuple(struct nat_state *st)
{
	st->rt.family = st->t.family;
	st->rt.proto = st->t.proto;
	st->rt.pad = 0;
	__builtin_memcpy(st->rt.saddr, st->n.daddr, 16);
	__builtin_memcpy(st->rt.daddr, st->n.saddr, 16);
	st->rt.sport = st->n.dport;
	st->rt.dport = st->n.sport;
}

/* Loose pick-up: a mapped connection whose conntrack entry is gone gets one back, as established. */
static __always_inline void nat_ct_pickup(void *ct, const struct px_ct_key *k, int from_orig, int src_lo, __u8 proto,
					  const struct px_ct_timeouts *to, __u64 now)
{
	struct px_ct_entry e = {};
	int orig_lo = from_orig ? src_lo : !src_lo;

	e.tcp = proto == IPPROTO_TCP ? PX_TCP_ESTABLISHED : 0;
	e.flags = (orig_lo ? PX_CT_F_ORIG_LO : 0) | PX_CT_F_SEEN_REPLY;
	e.expires = now + (__u64)px_ct_timeout(to, proto, e.tcp, 1) * 1000000000ULL;
	bpf_map_update_elem(ct, k, &e, BPF_ANY);
}

/*
 * Conntrack for a packet of mapped connection s: tracked as its opener sees it (before the original
 * direction's translation, after the reply direction's). When the packet changes nothing but the
 * deadline, and the deadline is seconds away, s is marked so that like packets skip conntrack for
 * the rest of the epoch: a lookup in the conntrack table per packet costs a mapped flow about as
 * much as the rest of its translation, mostly in cache misses. The deadline then lags by at most an
 * epoch (it is written only when it moves by a second anyway); a TCP state change clears the mark
 * of both directions.
 */
static __always_inline void nat_track(struct nat_state *st, struct nat_sess *s, void *sess, void *ct,
				      const struct px_ct_timeouts *to, __u32 seg, int opens, int reply, __u64 now)
{
	struct nat_pkt *p = &st->p;
	struct px_ct_view v = {}; /* on the stack: it holds a pointer to the entry */
	int lo, steady, moved;

	if (reply)
		lo = px_ct_key_init(&st->k, p->family, p->proto, st->n.saddr, st->n.daddr, st->n.sport, st->n.dport);
	else
		lo = px_ct_key_init(&st->k, p->family, p->proto, p->saddr, p->daddr, p->sport, p->dport);
	px_ct_track(ct, &st->k, lo, p->proto, seg, opens, now, &v);
	if (!v.e && !v.fresh) {
		nat_ct_pickup(ct, &st->k, !reply, lo, p->proto, to, now);
		nat_stat(NAT_ST_STALE);
		return;
	}
	steady = v.e && !v.fresh && (v.state == PX_CT_NEW || v.state == PX_CT_ESTABLISHED) &&
		 (p->proto != IPPROTO_TCP || (seg == PX_SEG_ACK && v.tcp_next == v.e->tcp)) &&
		 (v.dir == PX_CT_DIR_ORIGINAL || (v.e->flags & PX_CT_F_SEEN_REPLY));
	moved = p->proto == IPPROTO_TCP && v.e && v.tcp_next < PX_TCP_STATES && v.tcp_next != v.e->tcp;
	px_ct_confirm(ct, &st->k, &v, p->proto, to, now);
	if (steady && v.e->expires >= now + 2000000000ULL)
		s->ct_epoch = NAT_CT_EPOCH(now);
	else if (s->ct_epoch)
		s->ct_epoch = 0;
	if (moved) {
		/* The TCP state moved: the other direction's next segment must see it too. Its entry's
		 * key is this packet's rewrite, reversed (in either direction). */
		struct nat_sess *o;

		st->ot.family = p->family;
		st->ot.proto = p->proto;
		st->ot.pad = 0;
		__builtin_memcpy(st->ot.saddr, st->n.daddr, 16);
		__builtin_memcpy(st->ot.daddr, st->n.saddr, 16);
		st->ot.sport = st->n.dport;
		st->ot.dport = st->n.sport;
		o = bpf_map_lookup_elem(sess, &st->ot);
		if (o && o->ct_epoch)
			o->ct_epoch = 0;
	}
}

/*
 * Frees reply tuple st->rt when the mapping holding it belongs to an expired (or untracked)
 * connection: its two session entries and its conntrack entry go, as the control plane's
 * collection would remove them. Returns 1 when the tuple is free to claim again.
 */
static __always_inline int nat_reclaim(struct nat_state *st, void *sess, void *ct, __u64 now)
{
	struct nat_sess *old = bpf_map_lookup_elem(sess, &st->rt);
	struct px_ct_entry *e;

	if (!old || !(old->flags & NAT_S_REPLY))
		return 0;
	/* The reply entry's rewrite is the old connection's original tuple, reversed. */
	st->ot.family = st->rt.family;
	st->ot.proto = st->rt.proto;
	st->ot.pad = 0;
	__builtin_memcpy(st->ot.saddr, old->new_daddr, 16);
	__builtin_memcpy(st->ot.daddr, old->new_saddr, 16);
	st->ot.sport = old->new_dport;
	st->ot.dport = old->new_sport;
	px_ct_key_init(&st->k, st->ot.family, st->ot.proto, st->ot.saddr, st->ot.daddr, st->ot.sport, st->ot.dport);
	e = bpf_map_lookup_elem(ct, &st->k);
	if (e && e->expires >= now)
		return 0;
	bpf_map_delete_elem(sess, &st->ot);
	if (e)
		bpf_map_delete_elem(ct, &st->k);
	bpf_map_delete_elem(sess, &st->rt);
	nat_stat(NAT_ST_RECLAIMED);
	return 1;
}

/* Claims reply tuple st->rt with entry st->rs: 0, -EEXIST (held by a live connection) or another error. */
static __always_inline int nat_claim(struct nat_state *st, void *sess, void *ct, __u64 now)
{
	int err = bpf_map_update_elem(sess, &st->rt, &st->rs, BPF_NOEXIST);

	/* Deleted then inserted with BPF_NOEXIST: of two CPUs taking over one tuple, one wins. */
	if (err == -17 && nat_reclaim(st, sess, ct, now))
		err = bpf_map_update_elem(sess, &st->rt, &st->rs, BPF_NOEXIST);
	return err;
}

/*
 * Creates the mapping of a new connection with rule r; on success st->n holds what the packet
 * becomes. Returns 0 or a drop reason.
 */
static __always_inline int nat_create(struct nat_state *st, const struct nat_rule *r, void *sess, void *ct,
				      __u64 now)
{
	struct nat_pkt *p = &st->p;
	__u32 h = nat_hash(&st->t), i, span, start;
	__u16 lo = r->to_port_lo, hi = r->to_port_hi, want;
	int err, src = r->kind == NAT_SNAT || r->kind == NAT_MASQ;

	__builtin_memcpy(st->n.saddr, p->saddr, 16);
	__builtin_memcpy(st->n.daddr, p->daddr, 16);
	st->n.sport = p->sport;
	st->n.dport = p->dport;
	if (src) {
		/* One pool address per inside host (hashed from its address), as Linux does by default. */
		if (r->to_count) {
			struct nat_tuple a = {};

			__builtin_memcpy(a.saddr, p->saddr, 16);
			nat_addr_plus(st->n.saddr, r->to, p->family, nat_hash(&a) % r->to_count);
		}
	} else {
		if (r->to_count)
			nat_addr_plus(st->n.daddr, r->to, p->family, h % r->to_count);
		if (lo) {
			/* A port range maps a range (dport_lo -> lo, ...); one port takes them all. */
			__u16 d = bpf_ntohs(p->dport) - r->dport_lo;

			st->n.dport = bpf_htons(hi > lo && d <= hi - lo ? lo + d : lo);
			if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6)
				st->n.dport = p->dport;
		}
	}

	st->os.flags = src ? NAT_S_SRC : NAT_S_DST;
	st->os.kind = r->kind;
	st->os.rule = r->id;
	st->os.spare = 0;
	st->os.ct_epoch = 0;
	st->os.created = now;
	st->rs.flags = NAT_S_REPLY | (src ? NAT_S_DST : NAT_S_SRC);
	st->rs.kind = r->kind;
	st->rs.rule = r->id;
	st->rs.spare = 0;
	st->rs.ct_epoch = 0;
	st->rs.created = now;
	/* Replies become the reverse of the original tuple. */
	__builtin_memcpy(st->rs.new_saddr, p->daddr, 16);
	__builtin_memcpy(st->rs.new_daddr, p->saddr, 16);
	st->rs.new_sport = p->dport;
	st->rs.new_dport = p->sport;

	if (src) {
		/* Ports: keep the connection's own when it is in the range, else probe. */
		if (!lo && !hi) {
			lo = 1024;
			hi = 65535;
			if (bpf_ntohs(p->sport) < 1024) {
				lo = 1;
				hi = 1023;
			}
		}
		span = (__u32)hi - lo + 1;
		start = h % span;
		want = bpf_ntohs(p->sport);
		for (i = 0; i <= NAT_PROBES; i++) {
			__u16 port;

			if (i == 0) {
				if (!nat_port_ok(want, lo, hi))
					continue;
				port = want;
			} else {
				port = lo + (__u16)((start + i * 7919) % span);
			}
			st->n.sport = bpf_htons(port);
			if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6)
				st->n.dport = st->n.sport; /* the identifier is both "ports" */
			nat_reply_tuple(st);
			err = nat_claim(st, sess, ct, now);
			if (!err)
				goto claimed;
			if (err != -17) /* -EEXIST: taken, try the next; anything else: full */
				return NAT_DROP_TABLE_FULL;
		}
		return NAT_DROP_NO_PORT;
	}
	nat_reply_tuple(st);
	err = nat_claim(st, sess, ct, now);
	if (err)
		return err == -17 ? NAT_DROP_NO_PORT : NAT_DROP_TABLE_FULL;
claimed:
	__builtin_memcpy(st->os.new_saddr, st->n.saddr, 16);
	__builtin_memcpy(st->os.new_daddr, st->n.daddr, 16);
	st->os.new_sport = st->n.sport;
	st->os.new_dport = st->n.dport;
	err = bpf_map_update_elem(sess, &st->t, &st->os, BPF_NOEXIST);
	if (err) {
		/* Another CPU mapped the same connection first (or the table is full): take ours back. */
		bpf_map_delete_elem(sess, &st->rt);
		return err == -17 ? -1 : NAT_DROP_TABLE_FULL;
	}
	return 0;
}

/* IPv6 prefix translation: rewrites the source (out) or destination (in) prefix. */
static __always_inline int nat_npt(const struct px_ctx *pc, struct nat_state *st, const struct nat_rule *r,
				   int inbound)
{
	struct nat_pkt *p = &st->p;

	if (inbound) {
		nat_npt_map(st->n.daddr, p->daddr, r->src, r->src_mask, r->npt_word, (__u16)~r->npt_adj);
		if (nat_set_addr6(pc, p->l3_off + 24, st->n.daddr))
			return px_drop(pc, NAT_DROP_MALFORMED);
	} else {
		nat_npt_map(st->n.saddr, p->saddr, r->to, r->src_mask, r->npt_word, r->npt_adj);
		if (nat_set_addr6(pc, p->l3_off + 8, st->n.saddr))
			return px_drop(pc, NAT_DROP_MALFORMED);
	}
	nat_stat(NAT_ST_NPT);
	return px_next(pc);
}

PX_NF(nat)
{
	__u32 zero = 0, len = px_len(pc), gen;
	struct nat_cfg *cfg = bpf_map_lookup_elem(&nat_cfg, &zero);
	struct nat_state *st = bpf_map_lookup_elem(&nat_state, &zero);
	struct px_ct_view v = {}; /* on the stack: it holds a pointer to the entry */
	const struct nat_rules *rs;
	const struct nat_rule *r;
	struct nat_sess *s;
	struct nat_pkt *p;
	void *sess, *ct;
	__u64 now;
	int lo, opens = 0, inbound = 0, reply;
	__u32 seg;

	if (!cfg || !st || !(cfg->flags & NAT_CFG_ACTIVE))
		return px_next(pc);
	p = &st->p;
	__builtin_memset(p, 0, sizeof(*p));
#ifdef PX_HOOK_TC
	if (px_pull(pc, len < NAT_PULL ? len : NAT_PULL))
		return px_drop(pc, NAT_DROP_MALFORMED);
#endif
	lo = nat_parse(pc, p);
	if (lo == NAT_NOT_IP)
		return px_next(pc);
	if (lo < 0)
		return px_drop(pc, NAT_DROP_MALFORMED);

	sess = bpf_map_lookup_elem(&nat_sess_ref, &zero);
	ct = bpf_map_lookup_elem(&nat_ct_ref, &zero);
	if (!sess || !ct)
		return px_next(pc);
	now = bpf_ktime_get_coarse_ns();

	if (p->icmp == NAT_ICMP_OTHER) {
		lo = nat_icmp_error(pc, st, sess);
		if (lo < 0)
			return px_drop(pc, NAT_DROP_MALFORMED);
		if (lo > 0) {
			nat_stat(NAT_ST_ICMP_ERROR);
			return px_next(pc);
		}
	}
	if (p->l4) {
		st->t.family = p->family;
		st->t.proto = p->proto;
		st->t.pad = 0;
		st->t.sport = p->sport;
		st->t.dport = p->dport;
		__builtin_memcpy(st->t.saddr, p->saddr, 16);
		__builtin_memcpy(st->t.daddr, p->daddr, 16);
		opens = p->proto == IPPROTO_UDP || p->icmp == NAT_ICMP_QUERY;

		s = bpf_map_lookup_elem(sess, &st->t);
		if (s) {
			/* A mapped connection: translate, and keep its conntrack entry moving. */
			reply = s->flags & NAT_S_REPLY;
			__builtin_memcpy(st->n.saddr, s->new_saddr, 16);
			__builtin_memcpy(st->n.daddr, s->new_daddr, 16);
			st->n.sport = s->new_sport;
			st->n.dport = s->new_dport;
			seg = px_ct_tcp_segment(p->tcp_flags);
			if (s->ct_epoch != NAT_CT_EPOCH(now) || (p->proto == IPPROTO_TCP && seg != PX_SEG_ACK))
				nat_track(st, s, sess, ct, &cfg->ct, seg, opens && !reply, reply, now);
			/* else: a packet of this direction found nothing to change this ~second, and this one
			 * (no SYN, FIN or RST) would not either: conntrack is skipped. */
			if (nat_rewrite(pc, p, &st->n))
				return px_drop(pc, NAT_DROP_MALFORMED);
			nat_stat(NAT_ST_TRANSLATED);
			return px_next(pc);
		}
	}

	/* No mapping: a rule may make one (for packets that open connections) or translate a prefix. */
	gen = cfg->gen & 1;
	rs = bpf_map_lookup_elem(&nat_rules, &gen);
	if (!rs)
		return px_next(pc);
	r = nat_match(cfg, rs, p, gen, &inbound);
	if (!r)
		return px_next(pc);
	if (r->kind == NAT_NPT)
		return nat_npt(pc, st, r, inbound);
	if (!p->l4)
		return px_next(pc);
	if (p->proto == IPPROTO_TCP ? px_ct_tcp_segment(p->tcp_flags) != PX_SEG_SYN : !opens)
		return px_next(pc);

	lo = nat_create(st, r, sess, ct, now);
	if (lo < 0) {
		/* Lost a race for this very connection: use the winner's mapping. */
		s = bpf_map_lookup_elem(sess, &st->t);
		if (!s)
			return px_next(pc);
		__builtin_memcpy(st->n.saddr, s->new_saddr, 16);
		__builtin_memcpy(st->n.daddr, s->new_daddr, 16);
		st->n.sport = s->new_sport;
		st->n.dport = s->new_dport;
	} else if (lo > 0) {
		nat_stat(lo == NAT_DROP_NO_PORT ? NAT_ST_NO_PORT : NAT_ST_FULL);
		return px_drop(pc, lo);
	} else {
		nat_stat(NAT_ST_CREATED);
	}
	lo = px_ct_key_init(&st->k, p->family, p->proto, p->saddr, p->daddr, p->sport, p->dport);
	px_ct_track(ct, &st->k, lo, p->proto, px_ct_tcp_segment(p->tcp_flags), 1, now, &v);
	px_ct_confirm(ct, &st->k, &v, p->proto, &cfg->ct, now);
	if (nat_rewrite(pc, p, &st->n))
		return px_drop(pc, NAT_DROP_MALFORMED);
	nat_stat(NAT_ST_TRANSLATED);
	return px_next(pc);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
