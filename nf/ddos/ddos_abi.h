/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The DDoS mitigator's binary interface: configuration, prefix tries, rate-limit and SYN state,
 * counters, and the control plane's durable records. Keep in step with nf/ddos/cp/abi.ts.
 */
#ifndef __DDOS_ABI_H
#define __DDOS_ABI_H

#include <linux/types.h>

/* Prefixes one side (source or destination) holds per address family. */
#define DDOS_MAX_PREFIXES 262144
#define DDOS_RATE_ENTRIES 131072
#define DDOS_SYN_ENTRIES 65536
#define DDOS_MAX_RULES 65536
#define DDOS_MAX_LISTS 256

/* Drop reasons (named in nf.yaml). */
enum ddos_drop {
	DDOS_DROP_MALFORMED = 0,
	DDOS_DROP_SRC = 1,        /* source in a drop prefix */
	DDOS_DROP_DST = 2,        /* destination in a drop prefix */
	DDOS_DROP_RATE = 3,       /* the source went over its rate */
	DDOS_DROP_SYN_COOKIE = 4, /* a SYN answered with a SYN cookie (it goes no further) */
	DDOS_DROP_TCP_FLAGS = 5,  /* impossible TCP flag combination */
	DDOS_DROP_FRAGMENT = 6,
	DDOS_DROP_NOT_IP = 7,
	DDOS_DROP_REASONS_USED = 8,
};

/* ddos_stats slots: the drop reasons above, then these. */
enum ddos_stat {
	DDOS_ST_PASSED = 8,      /* handed on (px_next) */
	DDOS_ST_SRC_ALLOWED = 9, /* source in an allow prefix: exempt from everything else */
	DDOS_ST_DST_ALLOWED = 10,
	DDOS_ST_SYN_PASSED = 11, /* SYNs under the threshold, handed on */
	DDOS_ST_SYN_PRIMED = 12, /* SYNs handed on so the server accepts cookie ACKs (see ddos_syn.h) */
	DDOS_ST_SYN_ODD = 13,    /* SYNs not answerable from here (IP options, IPv6 extension headers) */
	DDOS_ST_COOKIE_FAIL = 14, /* the kernel refused to make a cookie: handed on */
	DDOS_STATS = 16,
};

/* Prefix actions (trie values). */
enum ddos_action {
	DDOS_ACT_NONE = 0,
	DDOS_ACT_DROP = 1,
	DDOS_ACT_ALLOW = 2,
};

/* Sides: slots of the tries' outer maps. */
enum ddos_side {
	DDOS_SRC = 0,
	DDOS_DST = 1,
};

enum ddos_syn_mode {
	DDOS_SYN_OFF = 0,
	DDOS_SYN_AUTO = 1,   /* cookies for SYNs over the threshold of their destination */
	DDOS_SYN_ALWAYS = 2, /* cookies for every SYN (but the priming ones) */
};

#define DDOS_CFG_TCP_FLAGS 0x1      /* drop impossible TCP flag combinations */
#define DDOS_CFG_DROP_FRAGMENTS 0x2
#define DDOS_CFG_DROP_NON_IP 0x4
#define DDOS_CFG_RATE 0x8           /* per-source rate limit on */
#define DDOS_CFG_SYN_ALL_PORTS 0x10 /* SYN protection on every port (else the bitmap) */

struct ddos_cfg {
	__u32 flags;
	__u32 syn_mode;
	__u32 rate_prefix4; /* bits of an IPv4 source one rate bucket covers */
	__u32 rate_prefix6;
	__u64 rate_interval_ns;  /* 1 s / rate */
	__u64 rate_tolerance_ns; /* (burst - 1) * interval */
	__u64 syn_interval_ns;   /* 1 s / synThreshold */
	__u64 syn_tolerance_ns;
	__u64 prime_ns; /* a destination gets one SYN through at least this often */
	__u8 syn_ports[8192]; /* bitmap of the protected TCP ports (unless DDOS_CFG_SYN_ALL_PORTS) */
};

/* LPM trie keys. */
struct ddos_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct ddos_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct ddos_pfx_val {
	__u32 action;
	__u32 pad;
	__u64 packets; /* packets that matched (atomic) */
};

/* A rate bucket: one source address (or its prefix of rate_prefix4/6 bits). */
struct ddos_src_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16];
};

struct ddos_bucket {
	__u64 tat; /* GCRA theoretical arrival time, ns */
	__u64 passed;
	__u64 dropped;
};

/* A protected service: destination address and TCP port. */
struct ddos_svc_key {
	__u8 family;
	__u8 pad;
	__be16 port;
	__u8 addr[16];
};

struct ddos_svc {
	__u64 tat;       /* GCRA of the SYNs the server answers itself */
	__u64 passed_ns; /* when a SYN last went through */
	__u64 passed;
	__u64 cookies;
};

/* The control plane's durable records (never read by the data plane), laid out as users see them. */
/* ddos_stats: named fields, so that the hypervisor's table codec tells key from value. */
struct ddos_stat_key {
	__u32 counter;
};

struct ddos_stat_val {
	__u64 packets;
};

struct ddos_rule_key {
	char prefix[48]; /* canonical: "198.18.0.0/16", "fd00:1::/48" */
};

struct ddos_rule {
	char action[8]; /* "drop" or "allow" */
};

struct ddos_list_key {
	char name[32];
};

struct ddos_list_meta {
	char side[4];   /* "src" or "dst" */
	char action[8]; /* "drop" or "allow" */
	__u32 ipv4;     /* prefixes it holds */
	__u32 ipv6;
	__u64 loaded_ns; /* CLOCK_REALTIME of its last load */
};

#endif /* __DDOS_ABI_H */
