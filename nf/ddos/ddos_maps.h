/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The DDoS mitigator's maps. */
#ifndef __DDOS_MAPS_H
#define __DDOS_MAPS_H

#include <bpf/bpf_helpers.h>
#include "ddos_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ddos_cfg);
} ddos_cfg SEC(".maps");

/*
 * Typed stand-ins for the tries, declared before the maps of maps so that clang writes the key
 * and value types whole (types first met inside an inner-map declaration become forward ones).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ddos_lpm4);
	__type(value, struct ddos_pfx_val);
} ddos_view4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ddos_lpm6);
	__type(value, struct ddos_pfx_val);
} ddos_view6 SEC(".maps");

/*
 * The prefix tries, one per side (DDOS_SRC, DDOS_DST) and family. The control plane builds a
 * whole new trie for a new list and swaps it in with one update, so a lookup sees either the old
 * prefixes or the new ones, never half of a change.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);
		__uint(max_entries, DDOS_MAX_PREFIXES);
		__uint(map_flags, BPF_F_NO_PREALLOC);
		__type(key, struct ddos_lpm4);
		__type(value, struct ddos_pfx_val);
	});
} ddos_pfx4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);
		__uint(max_entries, DDOS_MAX_PREFIXES);
		__uint(map_flags, BPF_F_NO_PREALLOC);
		__type(key, struct ddos_lpm6);
		__type(value, struct ddos_pfx_val);
	});
} ddos_pfx6 SEC(".maps");

/* Per-source token buckets; the least recently seen sources make room for new ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DDOS_RATE_ENTRIES);
	__type(key, struct ddos_src_key);
	__type(value, struct ddos_bucket);
} ddos_rate SEC(".maps");

/* Protected services (destination address and port) seen in SYNs. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DDOS_SYN_ENTRIES);
	__type(key, struct ddos_svc_key);
	__type(value, struct ddos_svc);
} ddos_syn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DDOS_STATS);
	__type(key, struct ddos_stat_key);
	__type(value, struct ddos_stat_val);
} ddos_stats SEC(".maps");

/* Control-plane records that survive a daemon restart (never read by the data plane). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DDOS_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ddos_rule_key);
	__type(value, struct ddos_rule);
} ddos_src_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DDOS_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ddos_rule_key);
	__type(value, struct ddos_rule);
} ddos_dst_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DDOS_MAX_LISTS);
	__type(key, struct ddos_list_key);
	__type(value, struct ddos_list_meta);
} ddos_lists SEC(".maps");

#endif /* __DDOS_MAPS_H */
