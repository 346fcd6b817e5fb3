/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The router's own maps and records. The control plane mirrors every layout here in
 * nf/router/cp/abi.ts: keep the two in step.
 */
#ifndef __RTR_ABI_H
#define __RTR_ABI_H

#include <plexus.h>

/* Drop reasons (0..11 belong to the NF; names in nf.yaml). */
enum rtr_drop {
	RTR_DROP_MALFORMED = 0,      /* bad header, length or checksum */
	RTR_DROP_NOT_FOR_ROUTER = 1, /* frame for another host, ARP/ND about another address */
	RTR_DROP_NO_ROUTE = 2,       /* no route to the destination */
	RTR_DROP_TTL = 3,            /* TTL / hop limit exhausted */
	RTR_DROP_UNRESOLVED = 4,     /* next hop's MAC not resolved (queue full or timed out) */
	RTR_DROP_LOCAL = 5,          /* to the router itself, nothing here serves it */
	RTR_DROP_REJECT = 6,         /* blackhole, unreachable or prohibit route */
	RTR_DROP_NOT_ROUTABLE = 7,   /* multicast, broadcast, link-local or martian */
	RTR_DROP_TOO_BIG = 8,        /* larger than the egress port's MTU */
	RTR_DROP_NO_PORT = 9,        /* arrived on a port the control plane has not set up */
	RTR_DROP_PROTO = 10,         /* neither IPv4, IPv6 nor ARP */
};

/* Why a packet went to the control plane (px_event.reason). */
enum rtr_cp_reason {
	RTR_CP_RESOLVE = 1, /* next hop unresolved: queue the packet, solicit the neighbour */
	RTR_CP_NEIGH = 2,   /* ARP reply, gratuitous ARP or neighbour advertisement to learn */
};

/* ---- routes: one longest-prefix-match trie per family ---- */

enum rtr_route_type {
	RTR_RT_CONNECTED = 1,   /* the destination itself is on the port's link */
	RTR_RT_GATEWAY = 2,     /* through the next hop `nh` on the port's link */
	RTR_RT_LOCAL = 3,       /* one of the router's own addresses (on `port`) */
	RTR_RT_BLACKHOLE = 4,   /* dropped silently */
	RTR_RT_UNREACHABLE = 5, /* dropped with ICMP unreachable */
	RTR_RT_PROHIBIT = 6,    /* dropped with ICMP administratively prohibited */
};

struct rtr_lpm4_key {
	__u32 plen;
	__u32 addr; /* network order */
};

struct rtr_lpm6_key {
	__u32 plen;
	__u8 addr[16];
};

struct rtr_route4 {
	__u32 nh; /* network order; gateway routes only */
	__u16 port;
	__u8 type;
	__u8 plen; /* of the prefix the entry was installed for */
};

struct rtr_route6 {
	__u8 nh[16];
	__u16 port;
	__u8 type;
	__u8 plen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__type(key, struct rtr_lpm4_key);
	__type(value, struct rtr_route4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} rtr_fib4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 18);
	__type(key, struct rtr_lpm6_key);
	__type(value, struct rtr_route6);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} rtr_fib6 SEC(".maps");

/*
 * Route caches: the result of a trie lookup per destination, valid while its generation is the
 * instance's fib_gen. With many routes a trie walk costs tens of nanoseconds more than a hash
 * lookup; the control plane turns the cache on only for large tables. LRU with per-CPU lists, so
 * a flood of new destinations evicts old ones without a shared lock. An LRU element can be reused
 * while another CPU reads it: the entry repeats its destination and is copied out and checked.
 */
struct rtr_rcache4 {
	struct rtr_route4 r;
	__u32 addr;
	__u32 gen;
};

struct rtr_rcache6_key {
	__u8 addr[16];
};

struct rtr_rcache6 {
	struct rtr_route6 r;
	__u8 addr[16];
	__u32 gen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, __u32);
	__type(value, struct rtr_rcache4);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
} rtr_rcache4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, struct rtr_rcache6_key);
	__type(value, struct rtr_rcache6);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
} rtr_rcache6 SEC(".maps");

/* ---- neighbours, per (port, address) ---- */

enum rtr_neigh_state {
	RTR_N_INCOMPLETE = 1, /* being resolved by the control plane: packets go there */
	RTR_N_REACHABLE = 2,  /* confirmed at `confirmed` */
	RTR_N_PROBE = 3,      /* usable; the control plane is re-confirming it */
	RTR_N_PERMANENT = 4,  /* configured; never aged or relearned */
};

#define RTR_NF_QUEUE_FULL 1 /* INCOMPLETE and the control plane's queue is full: drop here */

struct rtr_nkey4 {
	__u32 port;
	__u32 addr;
};

struct rtr_nkey6 {
	__u32 port;
	__u8 addr[16];
};

struct rtr_neigh {
	__u8 mac[6];
	__u8 state;
	__u8 flags;
	__u64 confirmed; /* bpf_ktime_get_ns() of the last confirmation */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rtr_nkey4);
	__type(value, struct rtr_neigh);
} rtr_neigh4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rtr_nkey6);
	__type(value, struct rtr_neigh);
} rtr_neigh6 SEC(".maps");

/* ---- ports ---- */

struct rtr_port {
	__u8 mac[6];
	__u8 enabled;
	__u8 pad;
	__u32 addr4; /* source of ICMP errors sent from this port (0: none) */
	__u32 mtu;   /* 0: no check */
	__u8 addr6[16]; /* global source of ICMPv6 errors (zero: none) */
	__u8 ll6[16];   /* link-local address */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PX_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct rtr_port);
} rtr_ports SEC(".maps");

/* ---- instance settings and state ---- */

#define RTR_CFG_NO_ICMP_ERRORS 1
#define RTR_CFG_ROUTE_CACHE 2 /* look destinations up in rtr_rcache{4,6} before the tries */

struct rtr_cfg {
	__u64 icmp_interval_ns;  /* ICMP errors: one per interval on average (0: no limit) */
	__u64 icmp_tolerance_ns; /* burst: (burst - 1) * interval */
	__u32 flags;
	__u32 fib_gen; /* bumped by the control plane after every change of the tries */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtr_cfg);
} rtr_cfg SEC(".maps");

/* The ICMP error rate limiter's state (theoretical arrival time, GCRA), written by the data plane. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rtr_icmp_tat SEC(".maps");

/*
 * The control plane's durable memory (the data plane never reads these): pinned with the instance,
 * so configuration survives daemon restarts and upgrades, and laid out as the user sees it (text
 * keys), because the hypervisor describes and records a table's entries from its map's types.
 */

/* Static routes, by canonical prefix ("198.18.2.0/24"); the `route` table. */
struct rtr_rib_key {
	char prefix[48];
};

struct rtr_rib_val {
	char via[48];  /* next hop; empty for a port route or a reject type */
	char port[16]; /* port name; empty: the port of the via's connected route */
	char type[12]; /* "" (unicast), "blackhole", "unreachable" or "prohibit" */
	__u32 metric;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, struct rtr_rib_key);
	__type(value, struct rtr_rib_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} rtr_rib SEC(".maps");

/* Static neighbours, by address text; the `neigh` table. */
struct rtr_nstatic_key {
	char address[48];
};

struct rtr_nstatic_val {
	char port[16]; /* port name: the entry is installed while that port exists */
	__u8 mac[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rtr_nstatic_key);
	__type(value, struct rtr_nstatic_val);
} rtr_neigh_static SEC(".maps");

/* Packets the control plane dropped, by reason (it cannot write the framework's counters). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PX_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} rtr_cp_drops SEC(".maps");

/* Per-CPU scratch space for building replies and checksumming (too big for the stack). */
#define RTR_MSG_MAX 1536

struct rtr_scratch {
	__u8 hdr[64];    /* Ethernet + IP + ICMP headers of a reply */
	__u8 pseudo[40]; /* IPv6 pseudo-header */
	__u8 msg[RTR_MSG_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtr_scratch);
} rtr_scratch SEC(".maps");

#endif /* __RTR_ABI_H */
