/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The capture NF's records and maps, shared by dataplane.c and the filter programs the control
 * plane generates (cp/layout.ts mirrors the offsets: keep them in step).
 */
#ifndef __CAP_ABI_H
#define __CAP_ABI_H

/* Bytes of one packet a record can hold (a per-CPU scratch value is at most 32 KiB). */
#define CAP_MAX 32736
#define CAP_RING_BYTES (4 << 20)

/* Slots of cap_jump: the filter (generated from the tcpdump expression), then the recorder. */
#define CAP_JUMP_FILTER 0
#define CAP_JUMP_RECORD 1

#define CAP_F_TRACE 1 /* packets the filter selects are traced (px_trace_start) */

struct cap_config {
	__u32 active;  /* 0: everything passes on, nothing is filtered or recorded */
	__u32 snaplen; /* bytes kept of a selected packet (the filter may ask for fewer) */
	__u32 flags;   /* CAP_F_* */
	__u32 pad;
};

/* Per CPU: the packet between the entry, the filter and the recorder (one tail-call chain). */
struct cap_cpu {
	__u32 verdict;   /* the filter's result: bytes to keep, 0 if not selected */
	__u32 buffered;  /* 1: the packet is in cap_scratch (VLAN tag put back); the filter reads it there */
	__u32 buf_len;   /* bytes of it in cap_scratch.data */
	__u32 pkt_len;   /* its length as the filter and the record see it */
	__u32 trace_seq; /* numbers traced packets */
	__u32 pad;
};

/* A ring record: this header, then cap_len bytes of the packet. */
struct cap_record {
	__u64 tstamp; /* CLOCK_MONOTONIC ns */
	__u32 pkt_len;
	__u32 cap_len;
	__u32 ifindex; /* the interface the packet is on */
	__u16 slot;
	__u16 flags;
};

struct cap_scratch {
	struct cap_record hdr;
	__u8 data[CAP_MAX];
};

struct cap_stats {
	__u64 seen;     /* packets that reached the filter */
	__u64 matched;  /* selected by it */
	__u64 captured; /* recorded in the ring */
	__u64 lost;     /* selected, but the ring was full */
	__u64 errors;   /* selected, but the packet could not be read */
};

#endif
