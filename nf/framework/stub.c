// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The programs the framework itself runs: the entry stub attached to host interfaces (XDP, TCX
 * ingress, TCX egress) and the injector the control plane uses to send packets out of ports.
 * Built once per hook like every network function.
 */
#include <plexus.h>

/* A packet seen on a host interface: follow the interface's hop for this direction. */
static __always_inline int px_enter_from_iface(PX_CTX *ctx, __u32 ifindex, __u32 dir)
{
	struct px_iface_key key = { .ifindex = ifindex, .dir = dir };
	struct px_hop *hop = bpf_map_lookup_elem(&px_ifaces, &key);
	struct px_md *md;

	if (!hop)
		return PX_VERDICT_PASS;
	md = px_md_get();
	if (!md)
		return PX_VERDICT_DROP;
	md->hops = 0;
	return px_go(ctx, hop, 0, 0);
}

SEC(PX_SEC)
int px_entry(PX_CTX *ctx)
{
	return px_enter_from_iface(ctx, ctx->ingress_ifindex, PX_RX);
}

#ifdef PX_HOOK_TC
SEC(PX_SEC)
int px_entry_egress(PX_CTX *ctx)
{
	return px_enter_from_iface(ctx, ctx->ifindex, PX_TX);
}
#endif

#ifdef PX_HOOK_XDP
/* Where the next injected packet goes, and the port it leaves (counted as that port's TX). */
struct px_inject_req {
	struct px_hop hop;
	__u32 slot; /* 0: not sent out of a port */
	__u32 port;
};

/* Written by the control plane before each injection. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct px_inject_req);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} px_inject SEC(".maps");

/* Run with BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES: sends the frame along the hop. */
SEC(PX_SEC)
int px_injector(PX_CTX *ctx)
{
	__u32 zero = 0;
	struct px_inject_req *req = bpf_map_lookup_elem(&px_inject, &zero);
	struct px_md *md = px_md_get();

	if (!req || !md)
		return XDP_DROP;
	md->hops = 0;
	if (req->slot)
		px_count(req->slot, req->port, PX_TX, px_ctx_len(ctx));
	return px_go(ctx, &req->hop, req->slot, req->port);
}
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";
