// Reference devices under test for the rig's baselines and ceilings: a bare XDP redirect between
// the DUT's two interfaces (the ceiling of anything XDP can do on this rig), a bare TC redirect,
// and a bpf_fib_lookup() XDP forwarder (what an XDP router can reach using the kernel's own
// routes and neighbours). `out_ifindex` is set before load; `dut_stats` says how many frames each
// program forwarded and how many it left to the kernel, so an arm that silently fell back to the
// kernel's path is caught.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

enum { S_FORWARDED, S_PASSED, S_MAX };

const volatile __u32 out_ifindex;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, S_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dut_stats SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&dut_stats, &what);
	if (v)
		*v += 1;
}

SEC("xdp")
int rig_xdp_redirect(struct xdp_md *ctx)
{
	count(S_FORWARDED);
	return bpf_redirect(out_ifindex, 0);
}

SEC("tcx/ingress")
int rig_tc_redirect(struct __sk_buff *skb)
{
	count(S_FORWARDED);
	return bpf_redirect(out_ifindex, 0);
}

/* TTL - 1 with the checksum updated incrementally (RFC 1624), as the kernel's ip_decrease_ttl. */
static __always_inline void decrease_ttl(struct iphdr *ip)
{
	__u32 check = ip->check;
	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl--;
}

static __always_inline int forward(struct xdp_md *ctx, struct ethhdr *eth, struct bpf_fib_lookup *p)
{
	int rc = bpf_fib_lookup(ctx, p, sizeof(*p), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	__builtin_memcpy(eth->h_dest, p->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, p->smac, ETH_ALEN);
	return p->ifindex;
}

SEC("xdp")
int rig_xdp_fib(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup p = {};
	struct ethhdr *eth = data;
	int ifindex = -1;

	if ((void *)(eth + 1) > end)
		goto pass;
	p.ifindex = ctx->ingress_ifindex;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->ttl <= 1)
			goto pass;
		p.family = AF_INET;
		p.tos = ip->tos;
		p.l4_protocol = ip->protocol;
		p.tot_len = bpf_ntohs(ip->tot_len);
		p.ipv4_src = ip->saddr;
		p.ipv4_dst = ip->daddr;
		ifindex = forward(ctx, eth, &p);
		if (ifindex < 0)
			goto pass;
		decrease_ttl(ip);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->hop_limit <= 1)
			goto pass;
		p.family = AF_INET6;
		p.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		p.l4_protocol = ip6->nexthdr;
		p.tot_len = bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(p.ipv6_src, &ip6->saddr, sizeof(p.ipv6_src));
		__builtin_memcpy(p.ipv6_dst, &ip6->daddr, sizeof(p.ipv6_dst));
		ifindex = forward(ctx, eth, &p);
		if (ifindex < 0)
			goto pass;
		ip6->hop_limit--;
	} else {
		goto pass;
	}
	count(S_FORWARDED);
	return bpf_redirect(ifindex, 0);
pass:
	count(S_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
