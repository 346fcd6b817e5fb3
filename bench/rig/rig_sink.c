// The rig's sink: XDP on the sink's veth, counts the generator's frames per CPU and drops them.
// The generator's frames are recognised by their UDP destination port and the run's epoch in the
// first two payload bytes, so stray traffic (IPv6 neighbour discovery, MLD...) and late frames of
// an earlier run are counted apart and never taken for delivered frames.
//
// With `verify` set, each frame is also checked (lengths, IPv4 header and UDP checksums) and its
// flow recorded: for tests, since it costs far more per packet than counting.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IPPROTO_UDP 17
#define ETH_P_8021Q_ 0x8100
#define MAX_FRAME 1518

enum { C_GOOD, C_STALE, C_OTHER, C_MALFORMED, C_DEFERRED, C_MAX };

/* One good frame in SAMPLE_EVERY is checked for the thread it is processed on. */
#define SAMPLE_EVERY 64

struct rig_sink_cfg {
	__u16 dport;  /* the generator's UDP destination port */
	__u16 epoch;  /* the current run's mark */
	__u32 verify; /* check every frame and record flows */
	__u32 pass;   /* XDP_PASS instead of XDP_DROP (to capture frames with tcpdump) */
	__u32 gen_tid; /* the generator's thread (0: unknown), see C_DEFERRED */
};
_Static_assert(sizeof(struct rig_sink_cfg) == 16, "keep in step with bench/rig/sink.ts");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rig_sink_cfg);
} sink_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sink_counts SEC(".maps");

struct rig_flow {
	__u32 src; /* low 32 bits of the source address, network order */
	__u32 dst;
	__u16 sport;
	__u16 family;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rig_flow);
	__type(value, __u64);
} sink_flows SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&sink_counts, &what);
	if (v)
		*v += 1;
}

/* One's complement sum of [p, end) in 16-bit words, an odd last byte padded with zero. */
static __always_inline __u32 sum_words(void *p, void *end, __u32 sum)
{
	for (int i = 0; i < MAX_FRAME / 2; i++) {
		if (p + 2 > end)
			break;
		sum += *(__u16 *)p;
		p += 2;
	}
	if (p + 1 <= end)
		sum += *(__u8 *)p; /* little-endian host: the byte is the high half in network order */
	return sum;
}

static __always_inline __u16 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

static __always_inline __u32 sum_addr(const __u32 *a, int words)
{
	__u32 s = 0;
	for (int i = 0; i < words; i++)
		s += (a[i] & 0xffff) + (a[i] >> 16);
	return s;
}

static __noinline int check_frame(struct xdp_md *ctx, __u32 l3, int v6)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct rig_flow flow = {};
	struct udphdr *udp;
	__u32 pseudo, l4len;

	if (l3 > 18)
		return 0;
	if (v6) {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > end)
			return 0;
		l4len = bpf_ntohs(ip6->payload_len);
		if (ip6->version != 6 || (void *)(ip6 + 1) + l4len != end)
			return 0;
		pseudo = sum_addr((const __u32 *)&ip6->saddr, 8);
		flow.src = ip6->saddr.in6_u.u6_addr32[3];
		flow.dst = ip6->daddr.in6_u.u6_addr32[3];
		udp = (void *)(ip6 + 1);
	} else {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > end)
			return 0;
		if (ip->version != 4 || ip->ihl != 5 || (void *)ip + bpf_ntohs(ip->tot_len) != end)
			return 0;
		__u16 *w = (void *)ip;
		__u32 hsum = 0;
#pragma unroll
		for (int i = 0; i < 10; i++)
			hsum += w[i];
		if (fold(hsum) != 0xffff || ip->ttl == 0)
			return 0;
		l4len = bpf_ntohs(ip->tot_len) - sizeof(*ip);
		pseudo = sum_addr(&ip->saddr, 2);
		flow.src = ip->saddr;
		flow.dst = ip->daddr;
		udp = (void *)(ip + 1);
	}
	if ((void *)(udp + 1) > end || bpf_ntohs(udp->len) != l4len || udp->check == 0)
		return 0;
	pseudo += bpf_htons(IPPROTO_UDP) + bpf_htons((__u16)l4len);
	if (fold(sum_words(udp, end, pseudo)) != 0xffff)
		return 0;

	flow.sport = bpf_ntohs(udp->source);
	flow.family = v6 ? 6 : 4;
	__u64 one = 1, *n = bpf_map_lookup_elem(&sink_flows, &flow);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&sink_flows, &flow, &one, BPF_NOEXIST);
	return 1;
}

SEC("xdp")
int rig_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct rig_sink_cfg *c = bpf_map_lookup_elem(&sink_cfg, &zero);
	if (!c)
		return XDP_ABORTED;
	int verdict = c->pass ? XDP_PASS : XDP_DROP;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		goto other;
	__u16 proto = eth->h_proto;
	__u32 l3 = sizeof(*eth);
	if (proto == bpf_htons(ETH_P_8021Q_)) {
		/* one 802.1Q tag, as a trunk port would leave it */
		__be16 *inner = (void *)(eth + 1) + 2;
		if ((void *)(inner + 1) > end)
			goto other;
		proto = *inner;
		l3 += 4;
	}

	struct udphdr *udp;
	int v6 = 0;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl != 5)
			goto other;
		udp = (void *)(ip + 1);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
			goto other;
		udp = (void *)(ip6 + 1);
		v6 = 1;
	} else {
		goto other;
	}
	__u16 *epoch = (void *)(udp + 1);
	if ((void *)(epoch + 1) > end || udp->dest != bpf_htons(c->dport))
		goto other;
	if (*epoch != bpf_htons(c->epoch)) {
		count(C_STALE);
		return verdict;
	}
	if (c->verify && !check_frame(ctx, l3, v6)) {
		count(C_MALFORMED);
		return verdict;
	}
	__u32 good = C_GOOD;
	__u64 *n = bpf_map_lookup_elem(&sink_counts, &good);
	if (n) {
		*n += 1;
		/* Softirq work runs inline on the generator's thread unless the kernel defers it to
		 * ksoftirqd (or another task): sample which, so the rig knows whether the thread's CPU
		 * time covers the whole pipeline. */
		if (c->gen_tid && !(*n % SAMPLE_EVERY) && (__u32)bpf_get_current_pid_tgid() != c->gen_tid)
			count(C_DEFERRED);
	}
	return verdict;
other:
	count(C_OTHER);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
