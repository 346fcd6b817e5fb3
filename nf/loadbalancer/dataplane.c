// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loadbalancer: an L4 load balancer with ports. A packet to a virtual service (address, protocol,
 * port) that belongs to no connection yet is scheduled with Maglev consistent hashing of its
 * tuple over the service's lookup table (built by the control plane from the weighted backends in
 * service); the connection's entries are written at once, and every later packet costs one lookup:
 *
 * - DNAT: the destination becomes the backend's address and port, the frame goes out of the port
 *   the backend is reached through, to its MAC; the backend's replies (an entry keyed by their
 *   tuple) get the VIP back as their source and go out of the port the client came in through,
 *   to the MAC the client's frames came from.
 * - DSR: only the MACs change; the backend holds the VIP itself and answers the client directly.
 *
 * A TCP segment of a connection the table does not know (after a restart, an eviction) is
 * scheduled like a new one: consistent hashing sends it where its connection most likely went.
 * Everything else (ARP, neighbour discovery, traffic to the host, health-check replies) is passed
 * to the host stack of the interface it arrived on.
 */
#include <plexus.h>
#include "lb_abi.h"
#include "lb_parse.h"
#include "lb_xlate.h"

#define NS 1000000000ULL

/* One packet's working state: in a per-CPU slot, to spare the stack. */
struct lb_state {
	struct lb_pkt p;
	struct lb_tuple t;  /* the packet's tuple */
	struct lb_tuple rt; /* a new DNAT connection's reply tuple */
	struct lb_vip vip;
	struct lb_conn c;   /* a new connection's client-side entry */
	struct lb_conn rc;  /* and its reply entry */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_state);
} lb_state SEC(".maps");

static __always_inline void lb_stat(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&lb_stats, &i);

	if (c)
		(*c)++;
}

/* The flow hash Maglev indexes with (the tuple as the client sends it). */
static __always_inline __u32 lb_hash(const struct lb_tuple *t)
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

/* The connection's state after a segment with `flags` (enum lb_tcp_state). */
static __always_inline __u8 lb_tcp_next(__u8 state, __u8 flags, int reply)
{
	if (flags & 0x05) /* FIN or RST */
		return LB_TCP_CLOSING;
	if (state == LB_TCP_SYN && (flags & 0x10) && !(flags & 0x02) && !reply)
		return LB_TCP_ESTABLISHED; /* the client acknowledged: the handshake is through */
	if (state == LB_TCP_SYN && reply)
		return LB_TCP_SYN; /* a SYN-ACK changes nothing yet */
	return state;
}

static __always_inline __u32 lb_timeout(const struct lb_cfg *cfg, __u8 state)
{
	switch (state) {
	case LB_TCP_SYN:
		return cfg->tcp_syn;
	case LB_TCP_ESTABLISHED:
		return cfg->tcp;
	case LB_TCP_CLOSING:
		return cfg->tcp_fin;
	default:
		return cfg->udp;
	}
}

/* Moves a connection entry on after a packet (writes only what changes). */
static __always_inline void lb_touch(struct lb_conn *c, const struct lb_cfg *cfg, const struct lb_pkt *p, int reply,
				     __u64 now)
{
	__u8 state = p->proto == IPPROTO_TCP ? lb_tcp_next(c->state, p->tcp_flags, reply) : LB_UDP;
	__u64 expires = now + (__u64)lb_timeout(cfg, state) * NS;

	if (state != c->state) {
		c->state = state;
		c->expires = expires;
	} else if (expires > c->expires + NS || expires < c->expires) {
		c->expires = expires;
	}
}

/* Sends the packet of a known connection on. */
static __always_inline int lb_forward(const struct px_ctx *pc, const struct lb_pkt *p, const struct lb_conn *c)
{
	if (!(c->flags & LB_C_DSR) && lb_rewrite(pc, p, c->flags & LB_C_REPLY, c->new_addr, c->new_port))
		return px_drop(pc, LB_DROP_MALFORMED);
	if (lb_set_macs(pc, c->dmac, c->smac))
		return px_drop(pc, LB_DROP_MALFORMED);
	return px_redirect(pc, c->out_port);
}

/* Schedules a new connection to service `svc`: picks the backend, writes the entries. */
static __always_inline int lb_schedule(const struct px_ctx *pc, struct lb_state *st, const struct lb_svc *svc,
				       const struct lb_cfg *cfg, __u64 now)
{
	struct lb_pkt *p = &st->p;
	const struct lb_backend *b;
	__u32 idx = svc->index, slot, *bi;
	void *ring;
	__u8 *eth = px_data(pc);

	if (!svc->live)
		goto none;
	ring = bpf_map_lookup_elem(&lb_rings, &idx);
	if (!ring)
		goto none;
	slot = lb_hash(&st->t) % LB_RING;
	bi = bpf_map_lookup_elem(ring, &slot);
	if (!bi)
		goto none;
	slot = *bi;
	b = bpf_map_lookup_elem(&lb_backends, &slot);
	if (!b || !(b->flags & LB_B_USED))
		goto none;

	__builtin_memcpy(st->c.new_addr, b->addr, 16);
	st->c.new_port = b->port;
	st->c.flags = svc->mode == LB_MODE_DSR ? LB_C_DSR : 0;
	st->c.state = p->proto == IPPROTO_TCP ? LB_TCP_SYN : LB_UDP;
	__builtin_memcpy(st->c.dmac, b->mac, 6);
	__builtin_memcpy(st->c.smac, b->smac, 6);
	st->c.out_port = b->out_port;
	st->c.backend = slot;
	st->c.svc = idx;
	st->c.spare = 0;
	/* A segment of an unknown connection that is past its SYN: taken as established. */
	if (p->proto == IPPROTO_TCP && !(p->tcp_flags & 0x02))
		st->c.state = LB_TCP_ESTABLISHED;
	st->c.expires = now + (__u64)lb_timeout(cfg, st->c.state) * NS;

	if (svc->mode != LB_MODE_DSR) {
		/* Replies come from the backend to the client, and go back out where the client's
		 * frames came in, between the same two MACs. */
		if ((void *)(eth + 12) > px_data_end(pc))
			return px_drop(pc, LB_DROP_MALFORMED);
		st->rt.family = p->family;
		st->rt.proto = p->proto;
		st->rt.pad = 0;
		__builtin_memcpy(st->rt.saddr, b->addr, 16);
		__builtin_memcpy(st->rt.daddr, p->saddr, 16);
		st->rt.sport = b->port;
		st->rt.dport = p->sport;
		__builtin_memcpy(st->rc.new_addr, p->daddr, 16);
		st->rc.new_port = p->dport;
		st->rc.flags = LB_C_REPLY;
		st->rc.state = st->c.state;
		__builtin_memcpy(st->rc.dmac, eth + 6, 6);
		__builtin_memcpy(st->rc.smac, eth, 6);
		st->rc.out_port = pc->in_port;
		st->rc.backend = slot;
		st->rc.svc = idx;
		st->rc.spare = 0;
		st->rc.expires = st->c.expires;
		bpf_map_update_elem(&lb_conns, &st->rt, &st->rc, BPF_ANY);
	}
	bpf_map_update_elem(&lb_conns, &st->t, &st->c, BPF_ANY);
	lb_stat(LB_ST_NEW);
	return lb_forward(pc, p, &st->c);
none:
	lb_stat(LB_ST_NO_BACKEND);
	return px_drop(pc, LB_DROP_NO_BACKEND);
}

PX_NF(loadbalancer)
{
	__u32 zero = 0, len = px_len(pc);
	struct lb_cfg *cfg = bpf_map_lookup_elem(&lb_cfg, &zero);
	struct lb_state *st = bpf_map_lookup_elem(&lb_state, &zero);
	struct lb_conn *c;
	struct lb_svc *svc;
	struct lb_pkt *p;
	__u64 now;
	int r;

	if (!cfg || !st || !(cfg->flags & LB_CFG_ACTIVE))
		return px_pass_host(pc);
	p = &st->p;
	__builtin_memset(p, 0, sizeof(*p));
#ifdef PX_HOOK_TC
	if (px_pull(pc, len < LB_PULL ? len : LB_PULL))
		return px_drop(pc, LB_DROP_MALFORMED);
#endif
	r = lb_parse(pc, p);
	if (r == LB_NOT_IP)
		return px_pass_host(pc);
	if (r < 0)
		return px_drop(pc, LB_DROP_MALFORMED);
	if (!p->l4)
		return px_pass_host(pc);

	st->t.family = p->family;
	st->t.proto = p->proto;
	st->t.pad = 0;
	st->t.sport = p->sport;
	st->t.dport = p->dport;
	__builtin_memcpy(st->t.saddr, p->saddr, 16);
	__builtin_memcpy(st->t.daddr, p->daddr, 16);
	now = bpf_ktime_get_coarse_ns();

	c = bpf_map_lookup_elem(&lb_conns, &st->t);
	if (c && c->expires >= now) {
		int reply = c->flags & LB_C_REPLY;

		/* A new SYN on the tuple of a closing connection opens a new one: schedule it again. */
		if (!(reply || p->proto != IPPROTO_TCP || (p->tcp_flags & 0x12) != 0x02 ||
		      c->state != LB_TCP_CLOSING)) {
			lb_stat(LB_ST_RESCHEDULED);
		} else {
			lb_touch(c, cfg, p, reply, now);
			lb_stat(reply ? LB_ST_REPLIED : LB_ST_FORWARDED);
			return lb_forward(pc, p, c);
		}
	} else if (c && (c->flags & LB_C_REPLY)) {
		return px_pass_host(pc); /* an expired reply entry: the connection is gone */
	}

	st->vip.family = p->family;
	st->vip.proto = p->proto;
	st->vip.port = p->dport;
	__builtin_memcpy(st->vip.addr, p->daddr, 16);
	svc = bpf_map_lookup_elem(&lb_svcs, &st->vip);
	if (!svc)
		return px_pass_host(pc);
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & 0x04))
		return px_pass_host(pc); /* an RST opens nothing */
	return lb_schedule(pc, st, svc, cfg, now);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
