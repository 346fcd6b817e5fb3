/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The NAT's maps and records, shared with its control plane (nf/nat/cp/abi.ts mirrors them; the
 * tests check the sizes against the object's BTF).
 *
 * A translated connection has two session entries, one per direction, keyed by the tuple its
 * packets carry on the wire in that direction: the original one (as the connection was opened,
 * before translation) and the reply one (as replies arrive, before they are translated back).
 * Each says what the tuple becomes. Both live in the zone's session table; the connection's
 * state and timeout live in the zone's conntrack table (px_conntrack.h), keyed by the tuple as
 * the opening side sees it, so that the kernel-style TCP state machine and timeouts decide how
 * long a mapping lives.
 */
#ifndef __NAT_ABI_H
#define __NAT_ABI_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <px_conntrack.h>

#define NAT_MAX_RULES 64
#define NAT_GENS 2
/* Ports tried per new connection before giving up (after the connection's own port). */
#define NAT_PROBES 32

enum nat_kind {
	NAT_SNAT = 1, /* source to an address (range) and port range */
	NAT_MASQ = 2, /* source to the outgoing interface's address (filled in by the control plane) */
	NAT_DNAT = 3, /* destination to an address (range), optionally another port: port forwarding */
	NAT_NPT = 4,  /* IPv6 prefix translation (RFC 6296), stateless and checksum-neutral */
};

enum nat_drop_reason {
	NAT_DROP_MALFORMED = 0,
	NAT_DROP_NO_PORT = 1,    /* every port tried was taken */
	NAT_DROP_TABLE_FULL = 2, /* the session table is full */
};

/* A rule. Prefixes are kept with their masks (addresses as 16 bytes, IPv4 in the first 4). */
struct nat_rule {
	__u32 id;
	__u8 kind;   /* enum nat_kind; 0: unused */
	__u8 family; /* 4 or 6 */
	__u8 proto;  /* 0: TCP, UDP and ICMP echo */
	__u8 npt_word; /* NPT: the 16-bit word that takes the checksum adjustment */
	__u8 src[16];
	__u8 src_mask[16];
	__u8 dst[16];
	__u8 dst_mask[16];
	__u16 sport_lo, sport_hi; /* host order; 0-65535: any */
	__u16 dport_lo, dport_hi;
	__u8 to[16];      /* first translated address; NPT: the outer prefix */
	__u32 to_count;   /* addresses from `to` on (varying the last 32 bits); 0: keep the address */
	__u16 to_port_lo; /* 0: keep the port (as far as it is free: SNAT) */
	__u16 to_port_hi;
	__u16 npt_adj; /* NPT: one's complement adjustment inside -> outside (its complement back) */
	__u16 pad;
};

struct nat_rules {
	struct nat_rule r[NAT_MAX_RULES];
};

#define NAT_CFG_ACTIVE 1 /* translate at all (off: every packet passes as it is) */

struct nat_cfg {
	__u32 gen; /* the rule generation in force (0 or 1) */
	__u32 count[NAT_GENS];
	__u32 flags;
	struct px_ct_timeouts ct;
};

/* A packet's tuple as it is on the wire. ICMP echo: the identifier as both ports. */
struct nat_tuple {
	__u8 family;
	__u8 proto;
	__u16 pad;
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

#define NAT_S_REPLY 1 /* this entry is the reply direction's */
#define NAT_S_SRC 2   /* this direction's source is rewritten */
#define NAT_S_DST 4   /* this direction's destination is rewritten */

/* What a tuple becomes. */
struct nat_sess {
	__u8 new_saddr[16];
	__u8 new_daddr[16];
	__be16 new_sport;
	__be16 new_dport;
	__u8 flags; /* NAT_S_* */
	__u8 kind;  /* the rule's enum nat_kind */
	__u16 spare; /* (not "pad": table fields of key and value must have distinct names) */
	__u32 rule; /* the rule's id */
	/* NAT_CT_EPOCH(now) while packets this way that open or close nothing need no conntrack
	 * update (set after one found nothing to change; 0: not known) */
	__u32 ct_epoch;
	__u64 created; /* coarse monotonic ns */
};

/* The conntrack fast path's time unit: 2^30 ns (about 1.07 s). */
#define NAT_CT_EPOCH(now) ((__u32)((now) >> 30) + 1)

/* Counters (per CPU). */
enum nat_stat {
	NAT_ST_TRANSLATED = 0, /* packets rewritten */
	NAT_ST_CREATED = 1,    /* connections mapped */
	NAT_ST_NPT = 2,        /* packets prefix-translated */
	NAT_ST_NO_PORT = 3,
	NAT_ST_FULL = 4,
	NAT_ST_STALE = 5, /* sessions found with their connection expired */
	NAT_ST_RECLAIMED = 6, /* expired mappings whose reply tuple a new connection took over */
	NAT_ST_ICMP_ERROR = 7, /* ICMP errors about mapped connections translated */
	NAT_STATS = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct nat_cfg);
} nat_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NAT_GENS);
	__type(key, __u32);
	__type(value, struct nat_rules);
} nat_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NAT_STATS);
	__type(key, __u32);
	__type(value, __u64);
} nat_stats SEC(".maps");

/* Layouts for the `sessions` table (entries live in the zone's map): declared before the
 * map-in-map references so that clang writes the types whole. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct nat_tuple);
	__type(value, struct nat_sess);
} nat_sess_view SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct px_ct_key);
	__type(value, struct px_ct_entry);
} nat_ct_view SEC(".maps");

/* The zone's session table and connection table: the control plane puts them here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 1);
		__type(key, struct nat_tuple);
		__type(value, struct nat_sess);
	});
} nat_sess_ref SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 1);
		__type(key, struct px_ct_key);
		__type(value, struct px_ct_entry);
	});
} nat_ct_ref SEC(".maps");

/* Rule ids (key) for the `rules` table; control-plane bookkeeping, never read by the data plane. */
struct nat_rule_key {
	__u32 id;
};

struct nat_rule_meta {
	__u32 index; /* where the rule sits in its generation */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NAT_MAX_RULES);
	__type(key, struct nat_rule_key);
	__type(value, struct nat_rule_meta);
} nat_rule_ids SEC(".maps");

#endif /* __NAT_ABI_H */
