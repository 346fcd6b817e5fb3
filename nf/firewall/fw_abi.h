/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The firewall's maps and records, shared with the control plane (cp/abi.ts mirrors them: keep
 * the two in step).
 *
 * Classification is a linear bit-vector search (as in bpf-iptables): each packet field is looked
 * up on its own (prefixes by length in hash tables, ports, protocol and flags in direct arrays)
 * and yields a class; a class is the set of rules that match that field value, stored as bits.
 * The rules that match the packet are the AND of its classes' sets, and the first set bit is the
 * winning rule. A set of up to FW_MAX_RULES bits is cut into FW_BLOCKS blocks of 256 rules; a
 * class keeps a summary (bit b: block b has a rule) and only its non-empty blocks, one after the
 * other from `base`, so the search ANDs the summaries first and then touches only the blocks that
 * every field has: the cost follows the blocks where the fields agree, not the number of rules.
 *
 * Everything a rule set needs exists twice, once per generation. The control plane builds the
 * next rule set in the generation not in use and then switches fw_cfg.gen: a packet sees the old
 * rule set or the new one, never a mix.
 */
#ifndef __FW_ABI_H
#define __FW_ABI_H

#include <plexus.h>
#include <px_conntrack.h>

#define FW_MAX_RULES 16384
#define FW_BLOCK_RULES 256
#define FW_BLOCKS (FW_MAX_RULES / FW_BLOCK_RULES) /* 64: one summary word */
#define FW_GENS 2
#define FW_GEN_CLASSES 65536
#define FW_GEN_BLOCKS (1 << 17)
/* Meta key: family (v6: 4096) | L4 header present (2048) | conntrack state (x 256) | protocol. */
#define FW_META_KEYS 8192
#define FW_COUNTERS (FW_MAX_RULES + 1) /* slot 0: packets no rule took (the default policy) */

enum fw_field {
	FW_F_META = 0,  /* family, L4 header present, conntrack state, protocol */
	FW_F_SRC = 1,   /* source prefix */
	FW_F_DST = 2,   /* destination prefix */
	FW_F_SPORT = 3, /* source port, or ICMP type */
	FW_F_DPORT = 4, /* destination port, or ICMP code */
	FW_F_FLAGS = 5, /* TCP flags */
	FW_F_IIF = 6,   /* interface the packet entered on */
	FW_FIELDS = 7,
};

enum fw_action {
	FW_ACT_ACCEPT = 0,
	FW_ACT_DROP = 1,
	FW_ACT_REJECT = 2,
	FW_ACT_COUNT = 3, /* count and go on to the next rule */
};

enum fw_reject {
	FW_REJ_AUTO = 0, /* TCP reset for TCP, port unreachable otherwise */
	FW_REJ_TCP_RESET = 1,
	FW_REJ_PORT_UNREACH = 2,
	FW_REJ_ADMIN_PROHIB = 3,
	FW_REJ_HOST_UNREACH = 4,
	FW_REJ_NET_UNREACH = 5,
};

/* Drop reasons (named in nf.yaml). */
enum fw_drop {
	FW_DROP_MALFORMED = 0,
	FW_DROP_RULE = 1,
	FW_DROP_REJECT = 2,
	FW_DROP_POLICY = 3,
	FW_DROP_NOT_IP = 4,
};

#define FW_CFG_CONNTRACK 1  /* track connections */
#define FW_CFG_DROP_NON_IP 2 /* drop what is neither IPv4 nor IPv6 (default: let it through) */
#define FW_CFG_FILTER_ND 4  /* classify IPv6 neighbour discovery too (default: let it through) */

/* Instance configuration and the active generation; written by the control plane (mmapable). */
struct fw_cfg {
	__u32 gen;    /* the generation in use: switched last, when the other one is complete */
	__u32 flags;  /* FW_CFG_* */
	__u32 policy; /* FW_ACT_ACCEPT, FW_ACT_DROP or FW_ACT_REJECT: what no rule takes gets */
	__u32 reject_with;
	__u64 reject_interval_ns;  /* rejects' rate limit (GCRA): one per interval... */
	__u64 reject_tolerance_ns; /* ...with bursts of tolerance / interval + 1; 0: no limit */
	struct px_ct_timeouts ct;
};

/* One generation's rule set: which fields it looks at and where its lookups start. */
struct fw_gen {
	__u32 used;              /* 1 << enum fw_field for every field some rule looks at */
	__u32 nrules;
	__u32 flags;             /* FW_GEN_* */
	__u32 all;               /* the class every rule is in (for unused fields) */
	__u32 dflt[FW_FIELDS];   /* the class of a value no lookup table holds (IPv4 for prefixes) */
	__u32 dflt6[2];          /* [src/dst]: the class of an IPv6 address no prefix holds */
	__u8 nlen[2][2];         /* [src/dst][v4/v6]: prefix lengths to try */
	__u8 len4[2][33];        /* [src/dst]: IPv4 prefix lengths, longest first */
	__u8 len6[2][129];       /* [src/dst]: IPv6 prefix lengths, longest first */
	__u8 pad[2];
};

#define FW_GEN_COUNT_RULES 1 /* some rule only counts: the search goes on after it */

struct fw_class {
	__u64 summary; /* bit b: block b holds some of the class's rules */
	__u32 base;    /* fw_blocks index of the first non-empty block */
	__u32 pad;
};

struct fw_block {
	__u64 w[FW_BLOCK_RULES / 64];
};

struct fw_rule_action {
	__u8 action;  /* enum fw_action */
	__u8 reject;  /* enum fw_reject */
	__u16 pad;
	__u32 counter; /* fw_counters slot */
};

struct fw_counter {
	__u64 packets;
	__u64 bytes;
};

/* Prefix tables: one hash per family, keyed by generation, field, length and masked address. */
struct fw_pfx4_key {
	__u8 gen;
	__u8 field; /* 0: source, 1: destination */
	__u8 plen;
	__u8 pad;
	__u8 addr[4];
};

struct fw_pfx6_key {
	__u8 gen;
	__u8 field;
	__u8 plen;
	__u8 pad;
	__u8 addr[16];
};

struct fw_iif_key {
	__u32 gen;
	__u32 ifindex;
};

/* Rule ids and their counter slots, for the control plane (the `rules` table's key). */
struct fw_rule_key {
	__u32 id;
};

struct fw_rule_meta {
	__u32 counter;
	__u32 hash; /* of the rule's definition: a changed rule gets fresh counters */
};

/* Loaded rule sets by name (the `ruleset` table's key), for the control plane. */
struct fw_ruleset_key {
	char name[32];
};

struct fw_ruleset_meta {
	__u32 count;
	__u32 pad;
	__u64 loaded_ns;
};

/* ---- maps ---- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_cfg);
} fw_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_gen);
} fw_gens SEC(".maps");

/* Field tables: value = class index (absolute, generation * FW_GEN_CLASSES + class). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * FW_META_KEYS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} fw_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} fw_sport SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} fw_dport SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * 256);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} fw_flags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_pfx4_key);
	__type(value, __u32);
} fw_pfx4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 17);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_pfx6_key);
	__type(value, __u32);
} fw_pfx6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fw_iif_key);
	__type(value, __u32);
} fw_iif SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * FW_GEN_CLASSES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_class);
} fw_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * FW_GEN_BLOCKS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_block);
} fw_blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_GENS * FW_MAX_RULES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_rule_action);
} fw_actions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_COUNTERS);
	__type(key, __u32);
	__type(value, struct fw_counter);
} fw_counters SEC(".maps");

/* The reject rate limiter's theoretical arrival time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} fw_reject_tat SEC(".maps");

/* The connection table's layout for the `conntrack` table (entries live in the zone's map).
 * Declared before fw_ct_ref so that clang writes the key and entry types whole, not as forward
 * declarations (it only forwards types first met inside the inner-map declaration). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct px_ct_key);
	__type(value, struct px_ct_entry);
} fw_ct_view SEC(".maps");

/* The connection table, shared by the instances of one zone: the control plane puts it here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LRU_HASH);
		__uint(max_entries, 1);
		__type(key, struct px_ct_key);
		__type(value, struct px_ct_entry);
	});
} fw_ct_ref SEC(".maps");

/* Control-plane bookkeeping that survives a daemon restart (never read by the data plane). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FW_MAX_RULES);
	__type(key, struct fw_rule_key);
	__type(value, struct fw_rule_meta);
} fw_rule_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct fw_ruleset_key);
	__type(value, struct fw_ruleset_meta);
} fw_rulesets SEC(".maps");



#endif /* __FW_ABI_H */
