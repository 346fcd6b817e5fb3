// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * capture: records the packets a tcpdump filter selects, at whatever port or interface the
 * instance is attached to, into a ring buffer the daemon streams as pcap. Transparent: every
 * packet goes on unchanged (px_next), selected or not.
 *
 * The filter is not in this file. The control plane compiles the user's expression with tcpdump
 * into classic BPF, translates that into an eBPF program (cp/translate.ts) and puts it in
 * cap_jump[CAP_JUMP_FILTER]; changing the filter is one prog-array update, no C is compiled. A
 * packet goes:
 *
 *   capture (entry)  --tail call-->  filter  --tail call-->  capture_record  --px_next-->  ...
 *
 * The filter leaves its verdict (the bytes to keep, 0 for "not selected") in the per-CPU
 * cap_cpu, which the recorder reads. In TC, a packet whose 802.1Q tag the stack keeps beside the
 * data (vlan_present) is first copied into cap_scratch with the tag back in place, and the filter
 * reads it there: filter and record then see the frame as tcpdump shows it.
 */
#include <plexus.h>
#include "cap_abi.h"

/* The entry program must come first in this file: the hypervisor runs the first one. */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cap_config);
} cap_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cap_cpu);
} cap_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cap_scratch);
} cap_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cap_stats);
} cap_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CAP_RING_BYTES);
} cap_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} cap_jump SEC(".maps");

static __always_inline int cap_load(PX_CTX *ctx, __u32 off, void *to, __u64 len)
{
#ifdef PX_HOOK_XDP
	return bpf_xdp_load_bytes(ctx, off, to, len);
#else
	return bpf_skb_load_bytes(ctx, off, to, len);
#endif
}

#ifdef PX_HOOK_TC
/*
 * Copies the packet into cap_scratch with its 802.1Q tag (kept by the stack in the skb) in place
 * after the MAC addresses, as libpcap reconstructs it. 0 on success.
 */
static __always_inline int cap_buffer_vlan(struct __sk_buff *skb, struct cap_cpu *cpu)
{
	__u32 zero = 0;
	struct cap_scratch *s = bpf_map_lookup_elem(&cap_scratch, &zero);
	__u64 rest;

	if (!s || skb->len < 12)
		return -1;
	if (bpf_skb_load_bytes(skb, 0, s->data, 12))
		return -1;
	*(__u16 *)&s->data[12] = skb->vlan_proto; /* already in network order */
	*(__u16 *)&s->data[14] = bpf_htons(skb->vlan_tci);
	rest = skb->len - 12;
	if (rest > CAP_MAX - 16)
		rest = CAP_MAX - 16;
	asm volatile("" : "+r"(rest));
	if (rest > CAP_MAX - 16)
		return -1;
	if (rest > 0 && bpf_skb_load_bytes(skb, 12, s->data + 16, rest))
		return -1;
	cpu->buffered = 1;
	cpu->buf_len = 16 + rest;
	cpu->pkt_len = skb->len + 4;
	return 0;
}
#endif

PX_NF(capture)
{
	__u32 zero = 0;
	struct cap_config *cfg = bpf_map_lookup_elem(&cap_config, &zero);
	struct cap_stats *st = bpf_map_lookup_elem(&cap_stats, &zero);
	struct cap_cpu *cpu = bpf_map_lookup_elem(&cap_cpu, &zero);

	if (!cfg || !st || !cpu || !cfg->active)
		return px_next(pc);
	st->seen++;
	cpu->verdict = 0;
	cpu->buffered = 0;
	cpu->pkt_len = px_len(pc);
#ifdef PX_HOOK_TC
	if (pc->ctx->vlan_present && cap_buffer_vlan(pc->ctx, cpu)) {
		st->errors++;
		return px_next(pc);
	}
#endif
	bpf_tail_call(pc->ctx, &cap_jump, CAP_JUMP_FILTER);
	/* No filter installed (being replaced, or it failed to load): nothing is selected. */
	return px_next(pc);
}

/* Writes the selected packet (its first `cpu->verdict` bytes at most) to the ring. */
static __always_inline void cap_record(struct px_ctx *pc, const struct cap_config *cfg, struct cap_stats *st,
				       struct cap_cpu *cpu)
{
	__u32 zero = 0;
	struct cap_scratch *s = bpf_map_lookup_elem(&cap_scratch, &zero);
	__u64 cap = cpu->verdict;

	if (!s) {
		st->errors++;
		return;
	}
	if (cap > cfg->snaplen)
		cap = cfg->snaplen;
	if (cap > cpu->pkt_len)
		cap = cpu->pkt_len;
	if (cpu->buffered && cap > cpu->buf_len)
		cap = cpu->buf_len;
	if (cap > CAP_MAX)
		cap = CAP_MAX;
	/* Keep the compiler from folding this check away: the verifier needs it at the calls. */
	asm volatile("" : "+r"(cap));
	if (cap < 1 || cap > CAP_MAX) {
		st->errors++;
		return;
	}
	if (!cpu->buffered && cap_load(pc->ctx, 0, s->data, cap)) {
		st->errors++;
		return;
	}
	s->hdr.tstamp = bpf_ktime_get_ns();
	s->hdr.pkt_len = cpu->pkt_len;
	s->hdr.cap_len = cap;
#ifdef PX_HOOK_XDP
	s->hdr.ifindex = pc->ctx->ingress_ifindex;
#else
	s->hdr.ifindex = pc->ctx->ifindex;
#endif
	s->hdr.slot = pc->slot;
	s->hdr.flags = 0;
	if (bpf_ringbuf_output(&cap_ring, s, sizeof(s->hdr) + cap, 0))
		st->lost++;
	else
		st->captured++;
}

/* Where the filter goes with its verdict: record if selected, then on along the chain. */
SEC(PX_SEC)
int capture_record(PX_CTX *ctx)
{
	__u32 zero = 0;
	struct px_md *md = px_md_get();
	struct cap_config *cfg = bpf_map_lookup_elem(&cap_config, &zero);
	struct cap_stats *st = bpf_map_lookup_elem(&cap_stats, &zero);
	struct cap_cpu *cpu = bpf_map_lookup_elem(&cap_cpu, &zero);
	struct px_ctx pc = { .ctx = ctx };

	if (!md)
		return PX_VERDICT_DROP;
	pc.slot = md->slot;
	pc.in_port = md->port;
	pc.flags = md->flags;
	if (!cfg || !st || !cpu)
		return px_next(&pc);
	if (cpu->verdict) {
		st->matched++;
		cap_record(&pc, cfg, st, cpu);
		if (cfg->flags & CAP_F_TRACE)
			px_trace_start(&pc, cpu->trace_seq++);
	}
	return px_next(&pc);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
