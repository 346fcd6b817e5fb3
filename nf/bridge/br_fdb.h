/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The forwarding database in the data plane: learning source addresses and finding where a
 * destination lives. Aging is judged here (a stale entry is unknown at once); the control plane's
 * timer only frees stale entries.
 */
#ifndef __BR_FDB_H
#define __BR_FDB_H

#include "br_abi.h"

static __always_inline __u64 br_aging_ns(void)
{
	__u32 zero = 0;
	struct br_config *c = bpf_map_lookup_elem(&br_config, &zero);

	return c && c->aging_ns ? c->aging_ns : BR_DEFAULT_AGING_NS;
}

/* Signed: an entry stamped by a finer clock than ours may look a little in the future. */
static __always_inline int br_fdb_stale(const struct br_fdb_entry *e, __u64 now, __u64 aging)
{
	return !(e->flags & BR_FDB_STATIC) && (__s64)(now - e->seen) > (__s64)aging;
}

/*
 * Records that `src` in `vlan` is behind `port`. Static entries are left alone; a MAC seen on
 * another port moves there; the timestamp is refreshed at most every BR_REFRESH_NS, in place, so
 * the common case (a known MAC, same port) writes nothing.
 */
static __always_inline void br_learn(const __u8 *src, __u32 vlan, __u32 port, __u64 now)
{
	struct br_fdb_key key = { .vlan = vlan };
	struct br_fdb_entry *e, fresh = { .port = port, .seen = now };

	__builtin_memcpy(key.mac, src, 6);
	e = bpf_map_lookup_elem(&br_fdb, &key);
	if (!e) {
		bpf_map_update_elem(&br_fdb, &key, &fresh, BPF_NOEXIST);
		return;
	}
	if (e->flags & BR_FDB_STATIC)
		return;
	if (e->port != port) {
		e->seen = now;
		e->port = port;
	} else if ((__s64)(now - e->seen) >= (__s64)BR_REFRESH_NS) {
		e->seen = now;
	}
}

/* The port `dst` in `vlan` was learned or configured on, or -1 when unknown (or aged out). */
static __always_inline int br_fdb_port(const __u8 *dst, __u32 vlan, __u64 now)
{
	struct br_fdb_key key = { .vlan = vlan };
	struct br_fdb_entry *e;

	__builtin_memcpy(key.mac, dst, 6);
	e = bpf_map_lookup_elem(&br_fdb, &key);
	if (!e || br_fdb_stale(e, now, br_aging_ns()))
		return -1;
	return e->port % PX_MAX_PORTS;
}

#endif /* __BR_FDB_H */
