/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs and constants shared by the kernel program and userspace.
 *
 * struct flow4_key  must match src/main/java/dev/ebpftraffic/flow/FlowKey.java (FlowKey.LAYOUT4) byte for byte.
 * struct flow6_key  must match src/main/java/dev/ebpftraffic/flow/FlowKey.java (FlowKey.LAYOUT6) byte for byte.
 * struct flow_value must match src/main/java/dev/ebpftraffic/flow/FlowValue.java (FlowValue.LAYOUT) byte for byte.
 * struct flow_entry must match src/main/java/dev/ebpftraffic/bpf/HotSlots.java (HotSlots.ENTRY) byte for byte.
 * struct hot4_slot  must match src/main/java/dev/ebpftraffic/bpf/HotSlots.java (HotSlots.SLOT4) byte for byte.
 * struct hot6_slot  must match src/main/java/dev/ebpftraffic/bpf/HotSlots.java (HotSlots.SLOT6) byte for byte.
 * struct stat_key   must match src/main/java/dev/ebpftraffic/bpf/StatKey.java (StatKey.LAYOUT) byte for byte.
 * struct overflow_slot must match src/main/java/dev/ebpftraffic/bpf/OverflowSlot.java (OverflowSlot.LAYOUT) byte for byte.
 * struct ip_group_key must match src/main/java/dev/ebpftraffic/bpf/IpGroups.java (IpGroups.KEY) byte for byte.
 * enum stat         must match src/main/java/dev/ebpftraffic/bpf/KernelStat.java.
 * struct workload_key must match src/main/java/dev/ebpftraffic/flow/WorkloadKey.java (WorkloadKey.LAYOUT) byte for byte.
 * struct wl_peer_key must match src/main/java/dev/ebpftraffic/flow/PeerKey.java (PeerKey.LAYOUT) byte for byte.
 * struct proc_key   must match src/main/java/dev/ebpftraffic/flow/ProcessKey.java (ProcessKey.LAYOUT) byte for byte.
 * struct proc_comm  must match src/main/java/dev/ebpftraffic/flow/ProcessKey.java (ProcessKey.COMM) byte for byte.
 * StructLayoutTest and BpfNamesTest check all of this against the compiled object's BTF.
 */
#ifndef TRAFFIC_H
#define TRAFFIC_H

enum direction {
	DIR_INGRESS = 0, /* exported as direction="inbound"  */
	DIR_EGRESS = 1,  /* exported as direction="outbound" */
};

/*
 * The kernel hashes (jhash) and compares the whole key on every packet, so keys are as short as
 * they can be: one map per address family, and the direction in bit 31 of the interface index
 * (an ifindex is a positive int, so that bit is free). A 12-byte IPv4 key is one jhash round;
 * the 40-byte key of one shared map cost about 9 ns more per packet (bench/REPORT.md).
 */
#define IFDIR(ifindex, dir) ((__u32)(ifindex) | (__u32)(dir) << 31)
#define IFDIR_IFINDEX(ifdir) ((ifdir) & 0x3fffffff)
#define IFDIR_DIRECTION(ifdir) ((ifdir) >> 31)
/*
 * Bit 30 of ifdir in the flows maps is the epoch (the "epoch" map's value) the packet was counted
 * in. Userspace flips the epoch, waits for an RCU grace period, and only then deletes entries of
 * the old epoch: no program can still hold a pointer to them, so no increment is lost to a
 * deleted element or lands in a reused one (BpfFlowReader). Interface indexes stay below 2^30.
 */
#define IFDIR_EPOCH_BIT 30

/* Key of "flows4": IPv4 packets (and IPv6 packets whose two addresses are both IPv4-mapped). */
struct flow4_key {
	__u32 ifdir;     /* IFDIR(skb->ifindex of the hook, enum direction) | epoch << IFDIR_EPOCH_BIT */
	__u8 src[4];     /* network order */
	__u8 dst[4];
};

/* Key of "flows6": IPv6 packets. */
struct flow6_key {
	__u32 ifdir;     /* IFDIR(skb->ifindex of the hook, enum direction) | epoch << IFDIR_EPOCH_BIT */
	__u8 src[16];
	__u8 dst[16];
};

/*
 * Counts of a pair, an interface stat or a workload. The "stats" and "workloads" maps are per-CPU
 * (userspace sums over possible CPUs); the flows maps hold struct flow_entry.
 */
struct flow_value {
	__u64 packets;   /* wire packets: gso_segs for a GSO/GRO skb */
	__u64 bytes;     /* skb->len plus the headers of the extra GSO segments */
};

/*
 * Value of the flows maps: one for all CPUs, added to with atomic adds. A per-CPU flows map would
 * reserve max_entries x possible CPUs x 16 bytes (35 MB per map at 128 CPUs with the default
 * --map-size), set every CPU's slot on each insert and copy them all on each read; an uncontended
 * atomic add costs about what a plain one does. But one pair hit by several CPUs at once moves the
 * value's cache line between them on every packet (about 75 ns a packet in situ, bench/HOT_PAIR.md),
 * so an entry that reaches HOT_AFTER packets in its epoch, counted by more than one CPU, names a slot
 * of the per-CPU array "hot4"
 * or "hot6" (its family's), and each CPU then counts the entry's packets in its own copy of that
 * slot, once it owns that copy (struct hot4_slot). Userspace adds every CPU's copy to the entry
 * whose key the copy holds; counts never move between an entry and a slot.
 */
struct flow_entry {
	__u64 packets;   /* as struct flow_value: what was not counted in a hot slot */
	__u64 bytes;
	__u32 hot;       /* 0, or 1 + the index in hot4/hot6 of the entry's slot */
	__u32 cpus;      /* 1 + the last CPU that added to packets, | HOT_MULTI once another one did */
};

#define HOT_MULTI 0x80000000u

/*
 * A CPU's copy of a slot of "hot4" ("hot6"): owned by the flows4 (flows6) entry whose key it holds,
 * epoch bit included; free while key.ifdir is 0. The first entry to use a free copy owns it until
 * userspace zeroes the slot; an entry whose copy is owned by another one keeps the atomic adds.
 * Only this CPU's programs write the copy, and TC programs do not nest on a CPU.
 */
struct hot4_slot {
	struct flow4_key key;
	__u32 pad;       /* always zero */
	__u64 packets;
	__u64 bytes;
};

/*
 * owner: the address of the owning flows6 element, for the kernel's check only (userspace credits by
 * key, and zeroes it with the rest of the slot). One 64-bit compare instead of the 36-byte key's:
 * that compare cost the hot slot path 2-3 ns per packet (bench/HOT_PAIR.md). An element's address
 * names one live entry; an element is reused only after userspace deletes its entry, and it frees
 * that entry's slots before an entry of the same epoch parity can be created again.
 */
struct hot6_slot {
	struct flow6_key key;
	__u32 pad;       /* always zero */
	__u64 packets;
	__u64 bytes;
	__u64 owner;     /* the owning flows6 element's address while key.ifdir is not 0 */
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
	__u32 ifindex;   /* STATS_LOST_IFINDEX: the packet's own key could not be created */
	__u8 direction;  /* enum direction */
	__u8 stat;       /* enum stat */
	__u16 pad;       /* always zero */
};

/*
 * One slot of the per-CPU "overflow" array: the overflow stats (STAT_OVERFLOW_PRIVATE/_PUBLIC) of
 * the interface that owns the slot on this CPU. Slot ifindex % OVERFLOW_SLOTS; the first interface
 * to overflow there on a CPU owns it on that CPU for the life of the map (an interface whose slot
 * is taken counts in "stats" instead). An array slot costs an inlined lookup where the stats hash
 * costs a jhash and a bucket walk: this is the path every packet of a flood takes.
 */
struct overflow_slot {
	__u32 ifindex;     /* owner on this CPU; 0: free */
	__u32 pad;
	__u64 packets[4];  /* [stat * 2 + direction], stat STAT_OVERFLOW_PRIVATE or STAT_OVERFLOW_PUBLIC */
	__u64 bytes[4];
};

/* Key of the "ip_groups" LPM trie: a --config.file CIDR over 16-byte addresses (IPv4 as ::ffff:a.b.c.d). */
struct ip_group_key {
	__u32 prefixlen; /* 0-128; an IPv4 /n is 96 + n */
	__u8 addr[16];   /* network order */
};

/* Elements of the "flows_full" array (u32, non-zero: the map was found full since userspace last made room). */
#define FULL_FLOWS4 0
#define FULL_FLOWS6 1

#define OVERFLOW_SLOTS 64 /* per-CPU: 72 bytes x 64 = 4.5 KiB per possible CPU */

/*
 * Slots per epoch parity of hot4 and of hot6: index parity * HOT_SLOTS + (a hash of the key) %
 * HOT_SLOTS. Userspace zeroes a parity's slots when it deletes that parity's flows entries (after
 * the epoch left it, before it comes back). 2 x 32 x (32 + 64) bytes = 6 KiB per possible CPU.
 */
#define HOT_SLOTS 32
#ifndef HOT_AFTER /* bench/hot_ab.sh builds a variant that never uses the hot slots */
#define HOT_AFTER 1024 /* packets in an entry's epoch (one read, 5 s) before it takes a hot slot */
#endif

/*
 * Key of "workloads": packets sent or received by a local socket, per the socket's cgroup v2 id
 * (cgroup_wl_ingress / cgroup_wl_egress). The value is struct flow_value, counted by the same rules
 * as the flows maps but from the IP header on: cgroup_skb programs see no L2 header.
 */
struct workload_key {
	__u64 cgroup;    /* bpf_skb_cgroup_id: the inode of the socket's cgroup v2 directory */
	__u8 direction;  /* enum direction */
	__u8 remote_private; /* 1 when the remote address (src inbound, dst outbound) is private */
	__u8 epoch;      /* the "epoch" map's value when counted, as IFDIR_EPOCH_BIT in the flows keys */
	__u8 pad[5];     /* always zero */
};

/*
 * Key of "wl_peers": a workload's traffic per remote address, counted by the cgroup_skb programs
 * only while the "wl_peers_on" flag is set (the live view's workloads view is open). Value: struct
 * flow_value, the same packets and bytes as "workloads" counts for the packet.
 */
struct wl_peer_key {
	__u64 cgroup;    /* as in struct workload_key */
	__u8 remote[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
	__u8 direction;  /* enum direction */
	__u8 remote_private; /* as in struct workload_key */
	__u8 epoch;      /* as in struct workload_key */
	__u8 pad[5];     /* always zero */
};

#define WL_PEERS_ENTRIES 8192 /* live peers of all workloads, 2 epochs: a full map counts in "wl_peers_full" */

/*
 * Key of "procs": packets of a local socket per the process that created it (cgroup_proc_ingress /
 * cgroup_proc_egress), counted exactly as the same packet is in "workloads": per cgroup, the sum
 * over its processes (tgid 0 included) is its "workloads" count.
 */
struct proc_key {
	__u64 cgroup;    /* bpf_skb_cgroup_id, as in struct workload_key */
	__u32 tgid;      /* the process (thread group id, in the initial pid namespace); 0: not known */
	__u8 direction;  /* enum direction */
	__u8 epoch;      /* as in struct workload_key */
	__u16 pad;       /* always zero */
};

/* Value of "proc_sk" (the sockets' local storage): the process that created the socket. */
struct proc_sk {
	__u32 tgid;
};

/* Value of "proc_comms" (key: tgid): the process's command name when it last tagged a socket. */
struct proc_comm {
	char comm[16];   /* TASK_COMM_LEN; NUL-terminated unless 16 characters long */
};

/*
 * Value of "proc_scanned" (key: the struct sock's address): a socket the start-up scan found, with
 * what cgroup_proc_* check before taking it (an address can be reused once the socket is closed).
 */
struct proc_scan {
	__u32 tgid;
	__u16 family;    /* AF_INET or AF_INET6 */
	__u16 port;      /* local port, host order (0 when unbound) */
};

#define PROCS_ENTRIES 16384 /* processes x cgroups x 2 directions x 2 epochs */
#define PROC_COMMS_ENTRIES 4096 /* LRU, preallocated: the names of the processes that made sockets last */
/*
 * Not preallocated, but its buckets are (16 bytes each, max_entries rounded up to a power of two):
 * userspace sizes it before load from the inet sockets present (WorkloadAttachment.scanEntries); a socket the
 * scan cannot store is counted (proc_scan) and counts under tgid 0.
 */
#define PROC_SCANNED_ENTRIES 262144

#define WORKLOADS_ENTRIES 16384 /* cgroups x 2 directions x 2 ip types x 2 epochs: far more than a node runs */
#define STATS_ENTRIES 4096 /* 8 per interface: far more interfaces than any host has */
/*
 * The ifindex of the "stats" keys (all STAT_MAX x 2 of them) that userspace creates before it
 * attaches (BpfFlowReader.createLostStats): where a packet counts when its own key cannot be
 * inserted. No interface has index 0.
 */
#define STATS_LOST_IFINDEX 0
#define FLOWS_DEFAULT_ENTRIES 16384 /* per map; the default of --map-size (Options.DEFAULT_MAP_SIZE), set again before load */
#define IP_GROUPS_DEFAULT_ENTRIES 1 /* userspace sets the number of --config.file CIDRs before load */

#endif
