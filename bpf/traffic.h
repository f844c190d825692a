/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs and constants shared by the kernel program and userspace.
 *
 * struct flow_key   must match src/main/java/dev/ebpftraffic/flow/FlowKey.java (FlowKey.LAYOUT) byte for byte.
 * struct flow_value must match src/main/java/dev/ebpftraffic/flow/FlowValue.java (FlowValue.LAYOUT) byte for byte.
 * struct stat_key   must match src/main/java/dev/ebpftraffic/bpf/StatKey.java (StatKey.LAYOUT) byte for byte.
 * enum stat         must match src/main/java/dev/ebpftraffic/bpf/KernelStat.java.
 * StructLayoutTest and BpfNamesTest check all of this against the compiled object's BTF.
 */
#ifndef TRAFFIC_H
#define TRAFFIC_H

enum direction {
	DIR_INGRESS = 0, /* exported as direction="inbound"  */
	DIR_EGRESS = 1,  /* exported as direction="outbound" */
};

struct flow_key {
	__u32 ifindex;   /* skb->ifindex of the hook */
	__u8 direction;  /* enum direction */
	__u8 pad[3];     /* always zero: keys are hashed as raw bytes */
	__u8 src[16];    /* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
	__u8 dst[16];
};

/* Per-CPU, so the hot path needs no atomics; userspace sums over possible CPUs. */
struct flow_value {
	__u64 packets;   /* wire packets: gso_segs for a GSO/GRO skb */
	__u64 bytes;     /* skb->len plus the headers of the extra GSO segments */
};

/* What the "stats" map counts, per interface and direction; values are struct flow_value. */
enum stat {
	STAT_OVERFLOW_PRIVATE = 0, /* flows map full, dst_ip private */
	STAT_OVERFLOW_PUBLIC = 1,  /* flows map full, dst_ip public  */
	STAT_NON_IP = 2,           /* ARP, LLDP, ... */
	STAT_MALFORMED = 3,        /* truncated or invalid IP header */
	STAT_MAX = 4,
};

struct stat_key {
	__u32 ifindex;
	__u8 direction;  /* enum direction */
	__u8 stat;       /* enum stat */
	__u16 pad;       /* always zero */
};

#define STATS_ENTRIES 4096 /* 8 per interface: far more interfaces than any host has */
#define FLOWS_DEFAULT_ENTRIES 65536

#endif
