/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The load balancer's maps and records, shared with its control plane (nf/loadbalancer/cp/abi.ts
 * mirrors them; the tests check the sizes against the object's BTF).
 *
 * A virtual service (address, protocol, port) has an index; its Maglev lookup table is an inner
 * array of LB_RING backend indices that the control plane builds whole and swaps in with one
 * write of lb_rings[index]. Backends live in lb_backends by index: the address and port traffic
 * is sent to, the MAC of the backend (or of the router towards it), the port it is reached
 * through and that port's own MAC.
 *
 * A connection has one entry per direction in lb_conns, keyed by the tuple its packets carry on
 * the wire: the client's (client -> VIP) and, in DNAT mode, the backend's reply (backend ->
 * client). Each says what the packet becomes and where it goes, so that every packet of an
 * established connection costs one lookup.
 */
#ifndef __LB_ABI_H
#define __LB_ABI_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define LB_MAX_SERVICES 256
#define LB_MAX_BACKENDS 4096
/* Maglev lookup table size: a prime, so that every skip visits every slot. */
#define LB_RING 65537
/* Connection entries (two per DNAT connection: 262,144 connections, this kernel's default
 * nf_conntrack_max). An LRU: a full table evicts the least recently used instead of refusing. */
#define LB_MAX_CONNS 524288
#define LB_NAME_LEN 32
#define LB_BACKEND_LEN 48

enum lb_mode {
	LB_MODE_DNAT = 0, /* destination rewritten to the backend, replies rewritten back */
	LB_MODE_DSR = 1,  /* only the MACs change; the backend holds the VIP and answers directly */
};

enum lb_drop_reason {
	LB_DROP_MALFORMED = 0,
	LB_DROP_NO_BACKEND = 1, /* a service with no backend in service */
};

/* A virtual service's key: what a client's packet is sent to. IPv4 in the first 4 bytes. */
struct lb_vip {
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__be16 port;
	__u8 addr[16];
};

struct lb_svc {
	__u32 index; /* its ring in lb_rings */
	__u8 mode;   /* enum lb_mode */
	__u8 live;   /* backends in its ring (0: packets are dropped, reason no_backend) */
	__u16 pad;
};

struct lb_backend {
	__u8 addr[16];
	__be16 port; /* DNAT: the port the connection goes to */
	__u8 family;
	__u8 flags;  /* LB_B_* */
	__u8 mac[6]; /* destination MAC: the backend, or the router towards it */
	__u16 out_port; /* the instance port it is reached through */
	__u8 smac[6];   /* that port's MAC (the source of frames sent to the backend) */
	__u16 pad;
};
#define LB_B_USED 1

/* A packet's tuple as it is on the wire. */
struct lb_tuple {
	__u8 family;
	__u8 proto;
	__u16 pad;
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

#define LB_C_REPLY 1 /* the backend's direction: the source is rewritten back to the VIP */
#define LB_C_DSR 2   /* only the MACs change */

enum lb_tcp_state {
	LB_TCP_SYN = 0,         /* opened, not yet acknowledged */
	LB_TCP_ESTABLISHED = 1,
	LB_TCP_CLOSING = 2,     /* a FIN or RST went by */
	LB_UDP = 3,
};

/* What a tuple becomes, and where it goes. */
struct lb_conn {
	__u8 new_addr[16]; /* the destination (client direction) or source (reply) it gets */
	__be16 new_port;
	__u8 flags;       /* LB_C_* */
	__u8 state;       /* enum lb_tcp_state */
	__u8 dmac[6];
	__u16 out_port;
	__u8 smac[6];
	__u16 backend; /* index in lb_backends */
	__u32 svc;     /* index of the service */
	__u32 spare;
	__u64 expires; /* coarse monotonic ns */
};

struct lb_cfg {
	__u32 flags;
	/* Idle timeouts, seconds. */
	__u32 tcp_syn;
	__u32 tcp;
	__u32 tcp_fin;
	__u32 udp;
	__u32 pad;
};
#define LB_CFG_ACTIVE 1

enum lb_stat {
	LB_ST_NEW = 0,        /* connections scheduled */
	LB_ST_FORWARDED = 1,  /* packets of known connections, client side */
	LB_ST_REPLIED = 2,    /* replies translated back */
	LB_ST_NO_BACKEND = 3,
	LB_ST_RESCHEDULED = 4, /* a SYN on a closing connection's tuple scheduled again */
	LB_STATS = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lb_cfg);
} lb_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, struct lb_vip);
	__type(value, struct lb_svc);
} lb_svcs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_backend);
} lb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(max_entries, LB_RING);
		__type(key, __u32);
		__type(value, __u32);
	});
} lb_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_MAX_CONNS);
	__type(key, struct lb_tuple);
	__type(value, struct lb_conn);
} lb_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_STATS);
	__type(key, __u32);
	__type(value, __u64);
} lb_stats SEC(".maps");

/* Control-plane bookkeeping for the `services` and `backends` tables (never read per packet):
 * their key types give the tables' fields. */
struct lb_svc_key {
	char name[LB_NAME_LEN];
};

struct lb_svc_row {
	__u32 index;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, struct lb_svc_key);
	__type(value, struct lb_svc_row);
} lb_svc_names SEC(".maps");

struct lb_backend_key {
	char service[LB_NAME_LEN];
	char backend[LB_BACKEND_LEN]; /* ADDR:PORT, [V6]:PORT */
};

struct lb_backend_row {
	__u32 index;
	__u32 weight;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, struct lb_backend_key);
	__type(value, struct lb_backend_row);
} lb_backend_names SEC(".maps");

#endif /* __LB_ABI_H */
