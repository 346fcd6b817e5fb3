// The rig's packet generator: run with BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES inside the
// generator namespace, it redirects every frame out of the generator's veth toward the DUT.
//
// Live-frames runs recycle their pages without restoring the packet bytes, and a DUT that rewrites
// headers in place (MACs, TTL, checksums) would otherwise corrupt later frames: so the first
// RIG_HDR bytes are copied from a template on EVERY send, then the per-flow fields are patched.
// Checksums are finished here from partial sums computed in user space (bench/rig/frames.ts), so
// only the words that vary are added per packet.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define RIG_HDR 64

struct rig_gen_cfg {
	__u8 hdr[RIG_HDR];   /* first bytes of flow 0's frame, checksums left zero */
	__u32 ifindex;       /* redirect target: the generator's veth */
	__u32 ipv6;          /* 0: Ethernet/IPv4/UDP, 1: Ethernet/IPv6/UDP */
	__u32 src_count;     /* flows = src_count * port_count * dst_count */
	__u32 port_count;
	__u32 dst_count;
	__u32 src_base;      /* low 32 bits of the first source address, host order */
	__u32 dst_base;      /* same for the destination */
	__u32 sport_base;    /* first UDP source port */
	__u32 ip_csum_base;  /* IPv4 header sum without the addresses and the checksum */
	__u32 udp_csum_base; /* pseudo-header + UDP + payload sum without the varying fields */
};
_Static_assert(sizeof(struct rig_gen_cfg) == 104, "keep in step with bench/rig/frames.ts");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rig_gen_cfg);
} gen_cfg SEC(".maps");

struct rig_gen_state {
	__u64 seq;       /* packet sequence number: the flow is seq % flows */
	__u64 pid_tgid;  /* the thread running the test run, for the sink (see rig_sink.c) */
};

/* One CPU runs a test run at a time: plain increments are enough. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rig_gen_state);
} gen_state SEC(".maps");

/* Frames handed to bpf_redirect(), per CPU (which also says where the generator ran). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_sent SEC(".maps");

static __always_inline __u16 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void put16(void *p, __u16 host)
{
	*(__u16 *)p = bpf_htons(host);
}

static __always_inline void put32(void *p, __u32 host)
{
	*(__u32 *)p = bpf_htonl(host);
}

SEC("xdp")
int rig_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct rig_gen_cfg *c = bpf_map_lookup_elem(&gen_cfg, &zero);
	struct rig_gen_state *st = bpf_map_lookup_elem(&gen_state, &zero);
	__u64 *sent = bpf_map_lookup_elem(&gen_sent, &zero);

	if (!c || !st || !sent || data + RIG_HDR > end)
		return XDP_ABORTED;
	if (!c->src_count || !c->port_count || !c->dst_count)
		return XDP_ABORTED;
	__builtin_memcpy(data, c->hdr, RIG_HDR);

	__u32 f = (__u32)st->seq++;
	if (!f)
		st->pid_tgid = bpf_get_current_pid_tgid();
	__u32 s = f % c->src_count;
	f /= c->src_count;
	__u32 p = f % c->port_count;
	__u32 d = (f / c->port_count) % c->dst_count;
	__u32 src = c->src_base + s, dst = c->dst_base + d;
	__u16 sport = (__u16)(c->sport_base + p);
	__u32 addr_sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
	__u16 udp = fold(c->udp_csum_base + addr_sum + sport);
	if (!udp)
		udp = 0xffff; /* 0 means "no checksum" in UDP */

	if (c->ipv6) {
		put32(data + 34, src); /* ethernet 14 + ipv6 saddr 8 + 12 */
		put32(data + 50, dst); /* ethernet 14 + ipv6 daddr 24 + 12 */
		put16(data + 54, sport);
		put16(data + 60, udp);
	} else {
		put32(data + 26, src);
		put32(data + 30, dst);
		put16(data + 24, fold(c->ip_csum_base + addr_sum));
		put16(data + 34, sport);
		put16(data + 40, udp);
	}
	*sent += 1;
	return bpf_redirect(c->ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
