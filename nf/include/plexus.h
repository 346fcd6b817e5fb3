/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The plexus data-plane framework: what every network function's C code includes.
 *
 * A network function is one program per hook, built from the same source twice, with
 * -DPX_HOOK_XDP and with -DPX_HOOK_TC. Its entry point is written with PX_NF():
 *
 *   PX_NF(repeater)
 *   {
 *           return px_redirect(pc, pc->in_port == 0 ? 1 : 0);
 *   }
 *
 * `pc` (struct px_ctx) carries the hook context, the instance's slot and the port the packet
 * came in on. The NF ends every packet with one of px_redirect(), px_drop(), px_pass_host(),
 * px_to_cp(), px_next() (transparent NFs) or, for several destinations, px_clone_to_port() (TC)
 * / px_broadcast() (XDP). The framework counts packets, bytes and drops per port and direction
 * in all of them. See docs/design/hypervisor.md for how hops, slots and the patch panels work.
 *
 * Any of these steps can also be traced, packet by packet: see "per-packet trace" below.
 */
#ifndef __PLEXUS_H
#define __PLEXUS_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#if defined(PX_HOOK_XDP) == defined(PX_HOOK_TC)
#error "build network functions with exactly one of -DPX_HOOK_XDP or -DPX_HOOK_TC"
#endif

/* Limits shared with the control plane (src/core/dataplane/abi.ts). */
#define PX_MAX_SLOTS 256
#define PX_MAX_PORTS 128
#define PX_MAX_HOPS 16
#define PX_DROP_REASONS 16
#define PX_CP_MAXLEN 1536

/* Where a packet goes next. */
enum px_hop_kind {
	PX_HOP_DROP = 0,  /* nothing connected: drop */
	PX_HOP_PASS = 1,  /* to the host stack (ingress) or on to the wire (egress) */
	PX_HOP_IFACE = 2, /* out of a host interface */
	PX_HOP_SLOT = 3,  /* into an instance through one of its ports */
};

struct px_hop {
	__u32 kind;
	/* IFACE: the interface to send out of. SLOT: the link veth that reaches the same port,
	 * for multi-destination sends that a tail call cannot do. */
	__u32 ifindex;
	__u16 slot;
	__u16 port;
	__u32 flags;
};

struct px_port {
	struct px_hop out; /* where a packet sent out of this port goes */
};

enum px_dir {
	PX_RX = 0, /* into the instance (or, on a host interface, arriving from the wire) */
	PX_TX = 1, /* out of the instance (or leaving through a host interface) */
};

struct px_iface_key {
	__u32 ifindex;
	__u32 dir;
};

/* Per-packet metadata, carried across tail calls in a per-CPU slot. */
struct px_md {
	__u16 slot;
	__u16 port;
	__u16 hops;
	__u16 flags;
};

struct px_counter {
	__u64 packets;
	__u64 bytes;
	__u64 drops;
};

/* Drop reasons 0..11 belong to the network function (named in its manifest). */
enum px_drop_reason {
	PX_DROP_NF = 0,
	PX_DROP_TO_CP = 12,       /* handed to the control plane */
	PX_DROP_LOOP = 13,        /* more than PX_MAX_HOPS instances on one packet's path */
	PX_DROP_NO_INSTANCE = 14, /* the next slot holds no program */
	PX_DROP_PORT_DOWN = 15,   /* sent out of a port with no peer */
};

/* Slow-path record: this header, then cap_len bytes of the packet. */
struct px_event {
	__u16 type; /* PX_EV_PACKET */
	__u16 slot;
	__u16 port;
	__u16 reason;
	__u32 pkt_len;
	__u32 cap_len;
	__u64 tstamp;
	__u32 user; /* NF-defined value (e.g. the next hop it wants resolved) */
	__u32 pad;
	__u8 data[PX_CP_MAXLEN];
};
#define PX_EV_PACKET 1

/*
 * Per-packet trace. A packet whose metadata carries PX_MD_TRACE leaves a struct px_trace record in
 * px_events at every framework step: entering an instance (by tail call), leaving one of its
 * ports, being passed on by a transparent instance, dropped (with the reason), handed to the host
 * stack or the wire, redirected out of an interface, sent to the control plane, copied or
 * broadcast. Together they say which instances and ports a packet crossed and what became of it.
 *
 * Whoever decides that a packet is worth tracing (the capture NF, for the packets its filter
 * selects) calls px_trace_start(). The flag lives in px_md, so it follows the packet through tail
 * calls; it is cleared when the next packet enters from an interface or the injector (px_go with
 * hops == 0), and it does not cross a link veth (a packet entering the other hook starts clean).
 * A packet that is not traced costs one test of pc->flags per step.
 *
 * The records share px_events with slow-path packets: readers tell them apart by `type`.
 */
#define PX_EV_TRACE 2
#define PX_MD_TRACE 0x0001
/* Bits 8..15 of px_md.flags: a number the tracer gives the packet, to tell packets apart. */
#define PX_MD_TRACE_ID_SHIFT 8
#define PX_MD_TRACE_BITS 0xff01

enum px_trace_point {
	PX_TP_START = 1,     /* tracing began in this instance */
	PX_TP_ENTER = 2,     /* entered slot:port (by tail call) */
	PX_TP_TX = 3,        /* sent out of slot:port */
	PX_TP_NEXT = 4,      /* passed on by transparent instance slot */
	PX_TP_DROP = 5,      /* dropped at slot:port; arg: the drop reason */
	PX_TP_PASS = 6,      /* left the framework: to the host stack (ingress) or the wire (egress) */
	PX_TP_IFACE = 7,     /* redirected out of a host interface; arg: its ifindex */
	PX_TP_TO_CP = 8,     /* handed to slot's control plane; arg: the reason */
	PX_TP_CLONE = 9,     /* a copy sent out of slot:port (TC multi-destination send) */
	PX_TP_BROADCAST = 10, /* broadcast by slot to a devmap (XDP multi-destination send) */
};

struct px_trace {
	__u16 type; /* PX_EV_TRACE */
	__u16 slot;
	__u16 port;
	__u16 point; /* enum px_trace_point */
	__u32 pkt_len;
	__u32 arg;
	__u64 tstamp; /* CLOCK_MONOTONIC ns */
	__u16 trace_id; /* the number px_trace_start() gave the packet */
	__u16 cpu;      /* records of one packet come from one CPU, in order */
	__u16 hops;     /* instances entered so far */
	__u16 pad;
};

/* ---- shared maps: one of each per daemon, pinned by name under <bpffs>/plexus/ ---- */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, PX_MAX_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
#ifdef PX_HOOK_XDP
} px_patch_xdp SEC(".maps");
#define PX_PATCH px_patch_xdp
#else
} px_patch_tc SEC(".maps");
#define PX_PATCH px_patch_tc
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct px_md);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_md SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct px_iface_key);
	__type(value, struct px_hop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PX_MAX_SLOTS * PX_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct px_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PX_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct px_hop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_after SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PX_MAX_SLOTS * PX_MAX_PORTS * 2);
	__type(key, __u32);
	__type(value, struct px_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PX_MAX_SLOTS * PX_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_events SEC(".maps");

/* Scratch space for building slow-path records (a packet does not fit the 512-byte stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct px_event);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_scratch SEC(".maps");

/* ---- the hook, abstracted ---- */

#ifdef PX_HOOK_XDP
#define PX_CTX struct xdp_md
#define PX_SEC "xdp"
#define PX_VERDICT_DROP XDP_DROP
#define PX_VERDICT_PASS XDP_PASS
#else
#define PX_CTX struct __sk_buff
#define PX_SEC "tc"
#define PX_VERDICT_DROP TC_ACT_SHOT
/* TCX_NEXT: let the next program at the hook (or the stack) have it. */
#define PX_VERDICT_PASS (-1)
#endif

struct px_ctx {
	PX_CTX *ctx;
	__u32 slot;
	__u32 in_port;
	__u32 flags; /* px_md.flags when the instance was entered (PX_MD_TRACE...) */
};

static __always_inline void *px_data(const struct px_ctx *pc)
{
	return (void *)(long)pc->ctx->data;
}

static __always_inline void *px_data_end(const struct px_ctx *pc)
{
	return (void *)(long)pc->ctx->data_end;
}

static __always_inline __u32 px_ctx_len(PX_CTX *ctx)
{
#ifdef PX_HOOK_XDP
	return ctx->data_end - ctx->data;
#else
	return ctx->len;
#endif
}

static __always_inline __u32 px_len(const struct px_ctx *pc)
{
	return px_ctx_len(pc->ctx);
}

/* TC: make the first `len` bytes directly readable (no-op in XDP, where the frame is linear). */
static __always_inline int px_pull(const struct px_ctx *pc, __u32 len)
{
#ifdef PX_HOOK_TC
	if ((long)pc->ctx->data + len > (long)pc->ctx->data_end)
		return bpf_skb_pull_data(pc->ctx, len);
#endif
	return 0;
}

/* ---- counters ---- */

/*
 * -DPX_NO_COUNTERS builds objects that keep no counters at all: only the overhead benchmark
 * (bench/obs-overhead.ts) does, to measure what counting costs. A build define rather than a
 * load-time switch, so that the objects plexus runs carry neither the switch nor its test.
 */
static __always_inline void px_count(__u32 slot, __u32 port, __u32 dir, __u32 len)
{
#ifndef PX_NO_COUNTERS
	__u32 idx = ((slot % PX_MAX_SLOTS) * PX_MAX_PORTS + (port % PX_MAX_PORTS)) * 2 + (dir & 1);
	struct px_counter *c = bpf_map_lookup_elem(&px_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
#endif
}

static __always_inline void px_count_drop(__u32 slot, __u32 port, __u32 dir, __u32 reason)
{
#ifndef PX_NO_COUNTERS
	__u32 idx = ((slot % PX_MAX_SLOTS) * PX_MAX_PORTS + (port % PX_MAX_PORTS)) * 2 + (dir & 1);
	struct px_counter *c = bpf_map_lookup_elem(&px_stats, &idx);
	__u64 *r;

	if (c && reason != PX_DROP_TO_CP)
		c->drops++;
	idx = (slot % PX_MAX_SLOTS) * PX_DROP_REASONS + (reason % PX_DROP_REASONS);
	r = bpf_map_lookup_elem(&px_drops, &idx);
	if (r)
		(*r)++;
#endif
}

/* ---- moving packets ---- */

static __always_inline struct px_md *px_md_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&px_md, &zero);
}

/* Writes one trace record; callers test PX_MD_TRACE first (see "per-packet trace"). */
static __always_inline void px_trace_emit(PX_CTX *ctx, __u32 flags, __u32 slot, __u32 port, __u32 point,
					  __u32 arg)
{
	struct px_md *md = px_md_get();
	struct px_trace t = {
		.type = PX_EV_TRACE,
		.slot = slot,
		.port = port,
		.point = point,
		.pkt_len = px_ctx_len(ctx),
		.arg = arg,
		.tstamp = bpf_ktime_get_ns(),
		.trace_id = (flags & PX_MD_TRACE_BITS) >> PX_MD_TRACE_ID_SHIFT,
		.cpu = bpf_get_smp_processor_id(),
		.hops = md ? md->hops : 0,
	};

	bpf_ringbuf_output(&px_events, &t, sizeof(t), 0);
}

#define px_traced(flags) ((flags) & PX_MD_TRACE)

/*
 * Follows a hop; `flags` are the packet's px_md flags (for the trace). `from_slot`/`from_port` are
 * charged if the hop cannot be followed.
 */
static __always_inline int px_go_flags(PX_CTX *ctx, const struct px_hop *hop, __u32 from_slot,
				       __u32 from_port, __u32 flags)
{
	struct px_md *md;
	__u32 slot, port;

	switch (hop->kind) {
	case PX_HOP_PASS:
		if (px_traced(flags))
			px_trace_emit(ctx, flags, from_slot, from_port, PX_TP_PASS, 0);
		return PX_VERDICT_PASS;
	case PX_HOP_IFACE:
		if (px_traced(flags))
			px_trace_emit(ctx, flags, from_slot, from_port, PX_TP_IFACE, hop->ifindex);
		return bpf_redirect(hop->ifindex, 0);
	case PX_HOP_SLOT:
		md = px_md_get();
		if (!md)
			return PX_VERDICT_DROP;
		slot = hop->slot % PX_MAX_SLOTS;
		port = hop->port % PX_MAX_PORTS;
		/* hops == 0: the packet comes from an interface or the injector; it starts untraced. */
		if (md->hops == 0)
			md->flags &= ~PX_MD_TRACE_BITS;
		if (++md->hops > PX_MAX_HOPS) {
			px_count_drop(from_slot, from_port, PX_TX, PX_DROP_LOOP);
			if (px_traced(md->flags))
				px_trace_emit(ctx, md->flags, from_slot, from_port, PX_TP_DROP, PX_DROP_LOOP);
			return PX_VERDICT_DROP;
		}
		md->slot = slot;
		md->port = port;
		px_count(slot, port, PX_RX, px_ctx_len(ctx));
		if (px_traced(md->flags))
			px_trace_emit(ctx, md->flags, slot, port, PX_TP_ENTER, 0);
		bpf_tail_call(ctx, &PX_PATCH, slot);
		px_count_drop(slot, port, PX_RX, PX_DROP_NO_INSTANCE);
		if (px_traced(md->flags))
			px_trace_emit(ctx, md->flags, slot, port, PX_TP_DROP, PX_DROP_NO_INSTANCE);
		return PX_VERDICT_DROP;
	default:
		if (px_traced(flags))
			px_trace_emit(ctx, flags, from_slot, from_port, PX_TP_DROP, PX_DROP_PORT_DOWN);
		return PX_VERDICT_DROP;
	}
}

/* Follows a hop for a packet that is not (yet) in an instance: the entry stub, the injector. */
static __always_inline int px_go(PX_CTX *ctx, const struct px_hop *hop, __u32 from_slot, __u32 from_port)
{
	return px_go_flags(ctx, hop, from_slot, from_port, 0);
}

static __always_inline struct px_port *px_port_get(__u32 slot, __u32 port)
{
	__u32 idx = (slot % PX_MAX_SLOTS) * PX_MAX_PORTS + (port % PX_MAX_PORTS);

	return bpf_map_lookup_elem(&px_ports, &idx);
}

/* Sends the packet out of one of this instance's ports. */
static __always_inline int px_redirect(const struct px_ctx *pc, __u32 port)
{
	struct px_port *p;

	if (port >= PX_MAX_PORTS)
		return PX_VERDICT_DROP;
	p = px_port_get(pc->slot, port);
	if (!p || p->out.kind == PX_HOP_DROP) {
		px_count_drop(pc->slot, port, PX_TX, PX_DROP_PORT_DOWN);
		if (px_traced(pc->flags))
			px_trace_emit(pc->ctx, pc->flags, pc->slot, port, PX_TP_DROP, PX_DROP_PORT_DOWN);
		return PX_VERDICT_DROP;
	}
	px_count(pc->slot, port, PX_TX, px_len(pc));
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, port, PX_TP_TX, 0);
	return px_go_flags(pc->ctx, &p->out, pc->slot, port, pc->flags);
}

/* Drops the packet, charging the ingress port and the reason (0..11 are the NF's own). */
static __always_inline int px_drop(const struct px_ctx *pc, __u32 reason)
{
	px_count_drop(pc->slot, pc->in_port, PX_RX, reason);
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, pc->in_port, PX_TP_DROP, reason);
	return PX_VERDICT_DROP;
}

/* Lets the packet continue into the host stack of the interface it is on (ingress only). */
static __always_inline int px_pass_host(const struct px_ctx *pc)
{
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, pc->in_port, PX_TP_PASS, 0);
	return PX_VERDICT_PASS;
}

/* Transparent NFs: hands the packet to whatever follows this instance at its attachment point. */
static __always_inline int px_next(const struct px_ctx *pc)
{
	__u32 slot = pc->slot % PX_MAX_SLOTS;
	struct px_hop *hop = bpf_map_lookup_elem(&px_after, &slot);

	if (!hop)
		return PX_VERDICT_DROP;
	px_count(pc->slot, 0, PX_TX, px_len(pc));
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, 0, PX_TP_NEXT, 0);
	return px_go_flags(pc->ctx, hop, pc->slot, 0, pc->flags);
}

/*
 * Traces this packet from here on: every later framework step writes a struct px_trace record
 * (see "per-packet trace"). `id` (0..255) is copied into the records, to tell packets apart.
 */
static __always_inline void px_trace_start(struct px_ctx *pc, __u32 id)
{
	struct px_md *md = px_md_get();

	if (!md)
		return;
	pc->flags = (pc->flags & ~PX_MD_TRACE_BITS) | PX_MD_TRACE | ((id & 0xff) << PX_MD_TRACE_ID_SHIFT);
	md->flags = pc->flags;
	px_trace_emit(pc->ctx, pc->flags, pc->slot, pc->in_port, PX_TP_START, 0);
}

/*
 * Copies the packet head (up to PX_CP_MAXLEN bytes) with `reason` and `user` to the control
 * plane and consumes the packet. Returns the verdict to return.
 */
static __always_inline int px_to_cp(const struct px_ctx *pc, __u32 reason, __u32 user)
{
	__u32 zero = 0, len = px_len(pc);
	__u64 cap; /* 64-bit: clang's 32-bit zero-extension would check a copy the verifier loses */
	struct px_event *ev = bpf_map_lookup_elem(&px_scratch, &zero);

	px_count_drop(pc->slot, pc->in_port, PX_RX, PX_DROP_TO_CP);
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, pc->in_port, PX_TP_TO_CP, reason);
	if (!ev)
		return PX_VERDICT_DROP;
	cap = len < PX_CP_MAXLEN ? len : PX_CP_MAXLEN;
	ev->type = PX_EV_PACKET;
	ev->slot = pc->slot;
	ev->port = pc->in_port;
	ev->reason = reason;
	ev->pkt_len = len;
	ev->tstamp = bpf_ktime_get_ns();
	ev->user = user;
	ev->pad = 0;
	/* Keep the compiler from folding this check away: the verifier needs it at the call. */
	asm volatile("" : "+r"(cap));
	if (cap < 1 || cap > PX_CP_MAXLEN)
		return PX_VERDICT_DROP;
#ifdef PX_HOOK_XDP
	if (bpf_xdp_load_bytes(pc->ctx, 0, ev->data, cap))
		return PX_VERDICT_DROP;
#else
	if (bpf_skb_load_bytes(pc->ctx, 0, ev->data, cap))
		return PX_VERDICT_DROP;
#endif
	ev->cap_len = cap;
	bpf_ringbuf_output(&px_events, ev, offsetof(struct px_event, data) + cap, 0);
	return PX_VERDICT_DROP;
}

#ifdef PX_HOOK_TC
/* TC multi-destination: a copy of the packet, as it is now, out of `port` (not consuming it). */
static __always_inline int px_clone_to_port(const struct px_ctx *pc, __u32 port)
{
	struct px_port *p = px_port_get(pc->slot, port);

	if (!p || p->out.kind == PX_HOP_DROP || !p->out.ifindex)
		return -1;
	px_count(pc->slot, port, PX_TX, px_len(pc));
	if (px_traced(pc->flags))
		px_trace_emit(pc->ctx, pc->flags, pc->slot, port, PX_TP_CLONE, p->out.ifindex);
	return bpf_clone_redirect(pc->ctx, p->out.ifindex, 0);
}
#endif

#ifdef PX_HOOK_XDP
/*
 * XDP multi-destination: the packet to every interface in `devmap` but the one it came in on.
 * The NF's control plane fills the devmap with its ports' interfaces (see the core's
 * portInterface()); per-port rewrites and TX counting belong in a devmap egress program.
 */
#define px_broadcast(pc, devmap)                                                                      \
	({                                                                                            \
		if (px_traced((pc)->flags))                                                           \
			px_trace_emit((pc)->ctx, (pc)->flags, (pc)->slot, (pc)->in_port, PX_TP_BROADCAST, 0); \
		bpf_redirect_map((devmap), 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);               \
	})
#endif

/* The entry point of a network function. */
#define PX_NF(name)                                                                 \
	static __always_inline int name##_body(struct px_ctx *pc);                  \
	SEC(PX_SEC) int name(PX_CTX *ctx)                                           \
	{                                                                           \
		struct px_md *md = px_md_get();                                     \
		struct px_ctx pc = { .ctx = ctx };                                  \
		if (!md)                                                            \
			return PX_VERDICT_DROP;                                     \
		pc.slot = md->slot;                                                 \
		pc.in_port = md->port;                                              \
		pc.flags = md->flags;                                               \
		return name##_body(&pc);                                            \
	}                                                                           \
	static __always_inline int name##_body(struct px_ctx *pc)

#endif /* __PLEXUS_H */
