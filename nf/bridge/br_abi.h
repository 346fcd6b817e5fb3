/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bridge's maps and records, shared with its control plane (nf/bridge/abi.ts mirrors them:
 * keep the two in step).
 */
#ifndef __BR_ABI_H
#define __BR_ABI_H

#include <plexus.h>

#define BR_VLAN_MAX 4094   /* VLAN ids are 1..4094 */
#define BR_VLAN_IDS 4096   /* array size indexed by VLAN id */
#define BR_FDB_MAX 65536
#define BR_DEFAULT_AGING_NS (300ULL * 1000000000ULL)
/* A known entry's "last seen" is rewritten at most this often (not on every packet). */
#define BR_REFRESH_NS 1000000000ULL

/* NF drop reasons (named in nf.yaml). */
enum br_drop {
	BR_DROP_MALFORMED = 0,    /* shorter than an Ethernet header, or a tag could not be edited */
	BR_DROP_INVALID_SRC = 1,  /* multicast or all-zero source MAC */
	BR_DROP_VLAN_INGRESS = 2, /* the frame's VLAN is not allowed on the port it came in on */
	BR_DROP_VLAN_EGRESS = 3,  /* the destination port is not a member of the frame's VLAN */
	BR_DROP_SAME_PORT = 4,    /* the destination was learned on the port the frame came in on */
	BR_DROP_LINK_LOCAL = 5,   /* IEEE 802.1D reserved group address that bridges do not forward */
	BR_DROP_NO_DEST = 6,      /* flooded, but no other port is in the VLAN */
};

/* ---- forwarding database: (MAC, VLAN) -> port ---- */

struct br_fdb_key {
	__u8 mac[6];
	__u16 vlan;
};

#define BR_FDB_STATIC 1 /* configured: never ages, never overwritten by learning */

struct br_fdb_entry {
	__u32 port;
	__u32 flags;
	__u64 seen; /* CLOCK_MONOTONIC ns of the last frame from this MAC (learned entries) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BR_FDB_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct br_fdb_key);
	__type(value, struct br_fdb_entry);
} br_fdb SEC(".maps");

/* ---- instance configuration ---- */

struct br_config {
	__u64 aging_ns; /* 0: BR_DEFAULT_AGING_NS */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct br_config);
} br_config SEC(".maps");

/* ---- ports: 802.1Q membership ---- */

enum br_port_mode {
	BR_MODE_DEFAULT = 0, /* not configured yet: access port of VLAN 1 */
	BR_MODE_ACCESS = 1,
	BR_MODE_TRUNK = 2,
};

struct br_port {
	__u8 mode;
	__u8 pad;
	__u16 pvid;        /* untagged VLAN: an access port's VLAN, a trunk's native VLAN (0: none) */
	__u32 pad2;
	__u64 vlans[64];   /* member VLANs, one bit per id (pvid included) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PX_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct br_port);
} br_port SEC(".maps");

/*
 * ---- flooding: per VLAN, the connected member ports, untagged ones first ----
 * TC copies the frame to each. XDP only reads `count` (fewer than two: nobody to flood to) and
 * broadcasts through the VLAN's devmap.
 */
struct br_flood {
	__u16 untagged;  /* ports[0..untagged) leave without a tag */
	__u16 count;     /* ports[untagged..count) leave tagged */
	__u8 ports[PX_MAX_PORTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BR_VLAN_IDS);
	__type(key, __u32);
	__type(value, struct br_flood);
} br_flood_list SEC(".maps");

#ifdef PX_HOOK_XDP
/* ---- XDP flooding: per VLAN, a devmap of the member ports' interfaces ---- */

/* Created by the control plane, one per distinct member set (VLANs with the same members share
 * it): ifindex -> struct bpf_devmap_val (the interface and bridge_egress). A VLAN whose set went
 * away may still point at an empty one (clearing map-in-map slots one by one is slow); br_flood_list
 * decides whether there is anyone to flood to. Sizes instead of types: clang 14 leaves the value
 * struct a forward declaration in an inner map definition. */
struct br_flood_devmap {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, PX_MAX_PORTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 8);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BR_VLAN_IDS);
	__type(key, __u32);
	__array(values, struct br_flood_devmap);
} br_flood_xdp SEC(".maps");

/* The port behind each flood interface, for the devmap egress program. */
struct br_ifport {
	__u32 port;
	__u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PX_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct br_ifport);
} br_ifports SEC(".maps");

/* Metadata in front of a flooded frame: the port it came in on, so bridge_egress does not send
 * it back there when the ingress interface is not that port's own (a frame that arrived from
 * another instance by tail call). */
#define BR_META_MAGIC 0xb71d
struct br_meta {
	__u16 magic;
	__u16 in_port;
};
#endif

#endif /* __BR_ABI_H */
