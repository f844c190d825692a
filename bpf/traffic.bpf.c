// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-IP traffic accounting at the TC hook.
 *
 * tc_ingress / tc_egress count packets and bytes per (ifindex, direction, src, dst)
 * into the hashes "flows4" (IPv4) and "flows6" (IPv6), shared by all CPUs (atomic adds; a pair's
 * counts move to a per-CPU "hot" slot once it is busy). They never change, drop or redirect a packet:
 * both always return TC_ACT_UNSPEC (== TCX_NEXT), so the next program or the
 * normal path runs as if we were not there.
 *
 * tc_ingress_l3 / tc_egress_l3 are the same accounting for devices without an Ethernet
 * header (tun, WireGuard, ipip/sit, gre, ppp, raw-IP modems): the packet at the hook starts
 * with the IP header, and skb->protocol says which one. Userspace picks the pair per
 * interface from its device type (ARPHRD_*).
 *
 * Counting rules (README "How traffic is counted"):
 *   packets += gso_segs (1 for a normal skb): packets as they are on the wire; for an
 *              untrusted GSO skb with gso_segs 0, ceil(L4 payload / gso_size).
 *   bytes   += the L2 header (Ethernet and VLAN tags; none on an L3 device) + the IP datagram's
 *              own length (IPv4 tot_len, IPv6 payload_len + 40): Ethernet padding of short
 *              frames and a kept FCS (rx-fcs on) are not counted, on ingress as on egress.
 *              When that length is unusable (0, or beyond the frame) the frame's length counts.
 *              A GSO skb: skb->len + (gso_segs - 1) * header length, the headers the extra
 *              segments carry; for a tunnel (VXLAN, Geneve, GRE, IPIP/SIT) up to and including
 *              the inner transport header, as the kernel's qdisc_pkt_len_init counts.
 *   Fragments: every IPv4/IPv6 fragment carries the addresses and counts for its pair; the
 *              L4 header is read only from a first fragment (offset 0).
 *   PPPoE session frames (PPP IPv4/IPv6) and MPLS (up to 4 labels, then the IP version nibble)
 *              are parsed through to their IP packet.
 *   Every flows key carries the epoch bit (IFDIR_EPOCH_BIT): userspace deletes only entries of an
 *              epoch no program can still be adding to.
 *   Non-IP and malformed frames go to "stats", never to the flows maps.
 *   When a flows map is full the packet still counts, in the per-direction overflow stat (the
 *              "overflow" array's slot of the interface, or "stats" when the slot is taken).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "traffic.h"

#define ETH_P_8021Q_BE  bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ETH_P_IP_BE     bpf_htons(0x0800)
#define ETH_P_IPV6_BE   bpf_htons(0x86DD)
#define ETH_P_PPP_SES_BE bpf_htons(0x8864) /* PPPoE session stage */
#define ETH_P_MPLS_UC_BE bpf_htons(0x8847)
#define ETH_P_MPLS_MC_BE bpf_htons(0x8848)
#define PPP_IP          0x0021
#define PPP_IPV6        0x0057
#define MAX_VLAN_TAGS   2
#define MAX_MPLS_LABELS 4
#define MAX_IPV6_EXT    6
#define IP_OFFSET_MASK  0x1FFF /* fragment offset bits of iphdr.frag_off (host order) */
#define NO_L4           IPPROTO_NONE /* "no L4 header here": a non-first fragment */
#define EEXIST          17
#define VXLAN_PORT      4789   /* IANA */
#define VXLAN_PORT_LINUX 8472  /* Linux's default when "dstport" is not given */
#define GENEVE_PORT     6081

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* shared by all CPUs: see struct flow_entry */
	__uint(max_entries, FLOWS_DEFAULT_ENTRIES); /* userspace may resize before load */
	__type(key, struct flow4_key);
	__type(value, struct flow_entry);
} flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* shared by all CPUs: see struct flow_entry */
	__uint(max_entries, FLOWS_DEFAULT_ENTRIES); /* userspace may resize before load */
	__type(key, struct flow6_key);
	__type(value, struct flow_entry);
} flows6 SEC(".maps");

/* Per-CPU counts of busy flows4 / flows6 entries (struct flow_entry.hot, struct hot4_slot). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * HOT_SLOTS);
	__type(key, __u32);
	__type(value, struct hot4_slot);
} hot4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * HOT_SLOTS);
	__type(key, __u32);
	__type(value, struct hot6_slot);
} hot6 SEC(".maps");

/*
 * Per-interface stats (enum stat), struct stat_key -> struct flow_value. Not preallocated: a
 * preallocated per-CPU hash reserves 16 bytes per possible CPU for every one of its entries (8.7 MB
 * at 128 CPUs), while a host uses a few keys per interface, each allocated once, on its first
 * packet. Userspace creates the STATS_LOST_IFINDEX keys before attaching: a packet whose own key
 * cannot be created (map full, or no memory) counts there instead of being lost.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, STATS_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct stat_key);
	__type(value, struct flow_value);
} stats SEC(".maps");

/*
 * The --config.file CIDRs, most specific first by the trie's nature: value 1 when the CIDR's group
 * is private. The overflow path classes dst_ip by it as GroupLabeler does (a private group's CIDR
 * wins, anything else falls back to the built-in ranges). Userspace sizes and fills it before
 * attaching; without a config it stays empty.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, IP_GROUPS_DEFAULT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for an LPM trie */
	__type(key, struct ip_group_key);
	__type(value, __u32);
} ip_groups SEC(".maps");

/*
 * Whether a flows map was found full: element FULL_FLOWS4 for flows4, FULL_FLOWS6 for flows6. A
 * program whose insert failed sets it; while it is set, packets of unknown pairs go straight to the
 * overflow stat instead of trying an insert that cannot succeed (the failed insert, which takes
 * the bucket lock and searches the free list, was most of a flood packet's cost). Only userspace
 * deletes flows entries, so only it can make room: it clears both after it deletes the old epoch's
 * entries (BpfFlowReader.deleteMoved).
 * Every packet is counted either way; the flag only chooses between trying the insert and the
 * overflow stat.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} flows_full SEC(".maps");

/* Overflow counters by interface slot (struct overflow_slot); userspace adds them to the stats it reads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OVERFLOW_SLOTS);
	__type(key, __u32);
	__type(value, struct overflow_slot);
} overflow SEC(".maps");

/* The current epoch (its low bit, see IFDIR_EPOCH_BIT): a counter userspace increments to flip it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} epoch SEC(".maps");

/*
 * Per-workload counters of the cgroup_skb programs below: struct workload_key -> struct flow_value.
 * Drained like the flows maps through the epoch in the key (BpfFlowReader.readWorkloads).
 * Not preallocated: a preallocated per-CPU hash reserves 16 bytes per possible CPU for every entry
 * (33 MB at 128 CPUs), while a node has a few hundred cgroups; an element is allocated when a
 * workload first sends in an epoch, and an insert that fails (full, or no memory) counts in
 * "workload_overflow".
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, WORKLOADS_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct workload_key);
	__type(value, struct flow_value);
} workloads SEC(".maps");

/* What the cgroup_skb programs could not put in "workloads" (map full): index direction * 2 + remote_private. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct flow_value);
} workload_overflow SEC(".maps");

/*
 * Per-workload remote peers for the live view, only while userspace samples them (below,
 * count_peer). Not preallocated: it takes memory only while someone watches, and drains to empty
 * (epoch scheme, as "workloads") once the flag is off.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, WL_PEERS_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wl_peer_key);
	__type(value, struct flow_value);
} wl_peers SEC(".maps");

/* Element 0: non-zero while userspace samples peers (LiveView sets it, and clears it when it stops). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} wl_peers_on SEC(".maps");

/* What did not fit in the full "wl_peers" while sampling: index direction * 2 + remote_private. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct flow_value);
} wl_peers_full SEC(".maps");

/*
 * Per-process attribution (cgroup_proc_*, proc_sock_create, proc_scan below).
 * "proc_sk": each inet socket's process, stored on the socket itself (freed with it). BPF_F_CLONE:
 * a socket accept() returns is made by the kernel in softirq, with no process at hand, as a clone of
 * the listening socket; the clone copies the listener's storage, so it counts under the process that
 * created the listener (for a pre-forked server: the parent, not the worker that accepted).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct proc_sk);
} proc_sk SEC(".maps");

/*
 * struct proc_key -> struct flow_value; drained like "workloads" through the epoch in the key, and
 * not preallocated for the same reason (a failed insert counts in "proc_overflow").
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PROCS_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct proc_key);
	__type(value, struct flow_value);
} procs SEC(".maps");

/* What could not go into a full "procs" map: index direction. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct flow_value);
} proc_overflow SEC(".maps");

/*
 * Sockets found by proc_scan, by address, until their first packet moves the tag into "proc_sk".
 * A verifier rule keeps the scan from writing "proc_sk" itself: a socket reached through a file is
 * an untrusted pointer there, and bpf_sk_storage_get takes only trusted ones; the cgroup_skb
 * programs hold the socket trusted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PROC_SCANNED_ENTRIES);
	__type(key, __u64);
	__type(value, struct proc_scan);
} proc_scanned SEC(".maps");

/* tgid -> command name, written when a process tags a socket (not per packet). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROC_COMMS_ENTRIES);
	__type(key, __u32);
	__type(value, struct proc_comm);
} proc_comms SEC(".maps");

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

union scratch {
	struct ethhdr eth;
	struct vlan_tag vlan;
	struct iphdr ip4;
	struct ipv6hdr ip6;
	__u8 raw[40];
};

/*
 * A pointer to len bytes at off: straight into the linear packet data when the
 * headers are there (the common case), else copied with bpf_skb_load_bytes,
 * which also reads non-linear skbs. NULL when the frame is shorter.
 */
static __always_inline void *header(struct __sk_buff *skb, __u32 off, __u32 len, void *buf)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	/* The verifier needs a bound on off for the arithmetic below. 1 KiB holds every header chain
	 * real traffic carries (two VLAN tags, PPPoE, four MPLS labels, IPv6 with a few extension
	 * headers); a header that starts past it is treated like one cut off by a short frame. */
	if (off > 1024)
		return NULL;
	if (data + off + len <= end)
		return data + off;
	if (bpf_skb_load_bytes(skb, off, buf, len) < 0)
		return NULL;
	return buf;
}

/*
 * Slow path: non-IP, malformed and overflow packets. Not inlined, and typed with the enums:
 * that puts enum stat and enum direction into the object's BTF (clang emits only the types
 * a function or variable uses), where StructLayoutTest checks them against the Java side.
 */
static __noinline void add_stat(struct __sk_buff *skb, enum stat stat, enum direction dir, __u64 packets, __u64 bytes)
{
	struct stat_key key = { .ifindex = skb->ifindex, .direction = dir, .stat = stat };
	struct flow_value *v = bpf_map_lookup_elem(&stats, &key);

	if (!v) {
		struct flow_value init = {};
		bpf_map_update_elem(&stats, &key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&stats, &key);
	}
	if (!v) {
		key.ifindex = STATS_LOST_IFINDEX; /* created by userspace, never deleted */
		v = bpf_map_lookup_elem(&stats, &key);
	}
	if (v) {
		v->packets += packets;
		v->bytes += bytes;
	}
}

/* Same ranges as flow/IpClass.java; only used on the overflow (slow) path. */
static __always_inline int is_private4(const __u8 *a)
{
	__u8 b0 = a[0], b1 = a[1];

	return b0 == 10 || b0 == 127 ||
	       (b0 == 172 && (b1 & 0xf0) == 16) ||
	       (b0 == 192 && b1 == 168) ||
	       (b0 == 100 && (b1 & 0xc0) == 64) ||
	       (b0 == 169 && b1 == 254) ||
	       (b0 & 0xf0) == 224 || /* multicast 224.0.0.0/4 */
	       (b0 == 255 && b1 == 255 && a[2] == 255 && a[3] == 255); /* limited broadcast */
}

/* True when a (16 bytes, 4-byte aligned) is ::ffff:a.b.c.d. */
static __always_inline int is_v4_mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return (w[0] | w[1]) == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int is_private6(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	if (is_v4_mapped(a))
		return is_private4(a + 12);
	if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 */
		return 1;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 */
		return 1;
	if (a[0] == 0xff) /* multicast ff00::/8 */
		return 1;
	return (w[0] | w[1] | w[2]) == 0 && w[3] == bpf_htonl(1); /* ::1 */
}

/* ifdir of a flows key: interface, direction and the current epoch. An array lookup is inlined. */
static __always_inline __u32 flow_ifdir(struct __sk_buff *skb, enum direction dir)
{
	__u32 zero = 0;
	__u32 *e = bpf_map_lookup_elem(&epoch, &zero);

	return IFDIR(skb->ifindex, dir) | (e ? (*e & 1) << IFDIR_EPOCH_BIT : 0);
}

/* ip_type of dst on the overflow path: a private --config.file group first, then the built-in ranges. */
static __always_inline int dst_is_private(const __u8 *dst, const int v4)
{
	struct ip_group_key k = { .prefixlen = 128 };

	if (v4) {
		k.addr[10] = 0xff; /* ::ffff:a.b.c.d, as userspace keys IPv4 CIDRs */
		k.addr[11] = 0xff;
		__builtin_memcpy(&k.addr[12], dst, 4);
	} else {
		__builtin_memcpy(k.addr, dst, 16);
	}
	__u32 *priv = bpf_map_lookup_elem(&ip_groups, &k);
	if (priv && *priv)
		return 1;
	return v4 ? is_private4(dst) : is_private6(dst);
}

#define HOT_KEY6 __attribute__((aligned(8))) /* a flows6 key on the stack, for hot_take6 */

/*
 * Whether this CPU's copy of a hot slot (its key, words 32-bit words) belongs to key: it does when
 * it holds key, or when it was free, and then key takes it.
 */
static __always_inline int hot_own(__u32 *slot, const __u32 *key, const int words)
{
	if (!slot[0]) {
#pragma unroll
		for (int i = 1; i < words; i++)
			slot[i] = key[i];
		slot[0] = key[0]; /* ifdir: never 0 for a real key (ifindex > 0) */
		return 1;
	}
	__u32 diff = 0;
#pragma unroll
	for (int i = 0; i < words; i++)
		diff |= slot[i] ^ key[i]; /* one branch, not one per word */
	return !diff;
}

/*
 * A flows6 entry v (key key) takes this CPU's copy of a hot6 slot when the copy is free. The caller
 * checked first that the copy is not already v's (struct hot6_slot: owner). The callers' keys are
 * 8-byte aligned (HOT_KEY6), so the key is copied 64 bits at a time.
 */
static __always_inline int hot_take6(struct hot6_slot *h, struct flow_entry *v, const struct flow6_key *key)
{
	__u64 *s = (__u64 *)&h->key;
	const __u64 *k = (const __u64 *)key;
	__u32 *s4 = (__u32 *)&h->key;
	const __u32 *k4 = (const __u32 *)key;

	if (s4[0])
		return 0; /* another entry's */
	s[1] = k[1];
	s[2] = k[2];
	s[3] = k[3];
	s4[8] = k4[8];
	h->owner = (__u64)(long)v;
	s[0] = k[0]; /* ifdir (its low half), last: never 0 for a real key */
	return 1;
}

/* The hot slot a flows key names: its epoch parity's half, a hash of the whole key within it. */
static __always_inline __u32 hot_index(const __u32 *key, const int words)
{
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < words; i++)
		h = (h ^ key[i]) * 0x9e3779b1;
	return (key[0] >> IFDIR_EPOCH_BIT & 1) * HOT_SLOTS + (h >> 16) % HOT_SLOTS;
}

/*
 * Adds to an existing flows entry: to this CPU's copy of the entry's hot slot when it has one and
 * the copy is (or becomes) the entry's, else with atomic adds to the shared value. Once the shared
 * value holds HOT_AFTER packets and more than one CPU has added to it, the entry names its slot
 * (every CPU that sees that stores the same index). An entry counted by one CPU keeps the atomic
 * adds: uncontended they cost what the slot does, and the few slots stay free for the entries that
 * need them. Either way the packet counts once, in a place userspace adds to the entry.
 */
static __always_inline void add_entry(struct flow_entry *v, const void *key, const int v4, __u64 packets, __u64 bytes)
{
	__u32 hot = v->hot;
	if (hot) {
		__u32 idx = hot - 1;
		if (v4) {
			struct hot4_slot *h = bpf_map_lookup_elem(&hot4, &idx); /* an inlined array lookup */
			if (h && hot_own((__u32 *)&h->key, key, sizeof(struct flow4_key) / 4)) {
				h->packets += packets;
				h->bytes += bytes;
				return;
			}
		} else {
			struct hot6_slot *h = bpf_map_lookup_elem(&hot6, &idx);
			if (h && (h->owner == (__u64)(long)v || hot_take6(h, v, key))) {
				h->packets += packets;
				h->bytes += bytes;
				return;
			}
		}
	}
	__sync_fetch_and_add(&v->packets, packets);
	__sync_fetch_and_add(&v->bytes, bytes);
	if (hot)
		return;
	/* cpus: 1 + the last CPU that added here, and HOT_MULTI once a second CPU did (racy: only a hint) */
	__u32 me = bpf_get_smp_processor_id() + 1;
	__u32 cpus = v->cpus;
	if ((cpus & ~HOT_MULTI) != me) { /* a write only when the CPU changes */
		cpus = me | (cpus ? HOT_MULTI : 0);
		v->cpus = cpus;
	}
	if ((cpus & HOT_MULTI) && v->packets >= HOT_AFTER)
		v->hot = hot_index(key, v4 ? sizeof(struct flow4_key) / 4 : sizeof(struct flow6_key) / 4) + 1;
}

/*
 * Adds one packet (or one GSO skb) to the pair's entry in flows (flows4 or flows6). When the map
 * is full the packet still counts, in the direction's overflow stat, classed by dst.
 */
static __always_inline void count(struct __sk_buff *skb, void *flows, const void *key, const __u8 *dst,
				  const int v4, enum direction dir, __u64 packets, __u64 bytes)
{
	struct flow_entry *v = bpf_map_lookup_elem(flows, key);
	if (v) {
		add_entry(v, key, v4, packets, bytes);
		return;
	}
	__u32 which = v4 ? FULL_FLOWS4 : FULL_FLOWS6;
	__u32 *full = bpf_map_lookup_elem(&flows_full, &which); /* an inlined array lookup */
	if (!full || !*full) {
		struct flow_entry init = { .packets = packets, .bytes = bytes, .cpus = bpf_get_smp_processor_id() + 1 };
		long err = bpf_map_update_elem(flows, key, &init, BPF_NOEXIST);
		if (err == 0)
			return;
		if (err == -EEXIST) { /* another CPU created it in between */
			v = bpf_map_lookup_elem(flows, key);
			if (v) {
				add_entry(v, key, v4, packets, bytes);
				return;
			}
		} else if (full) {
			*full = 1; /* map full (-E2BIG) or no memory: skip inserts until userspace makes room */
		}
	}
	/* Map full, or known to be full. */
	enum stat stat = dst_is_private(dst, v4) ? STAT_OVERFLOW_PRIVATE : STAT_OVERFLOW_PUBLIC;
	__u32 ifindex = skb->ifindex;
	__u32 slot = ifindex % OVERFLOW_SLOTS;
	struct overflow_slot *o = bpf_map_lookup_elem(&overflow, &slot);
	if (o && ifindex && (o->ifindex == ifindex || !o->ifindex)) {
		/* Per-CPU, and TC programs do not nest on a CPU: no other writer between the test and here. */
		o->ifindex = ifindex;
		__u32 i = (stat * 2 + dir) & 3;
		o->packets[i] += packets;
		o->bytes[i] += bytes;
		return;
	}
	add_stat(skb, stat, dir, packets, bytes);
}

/* Wire packets of a frame whose headers are not parsed (non-IP, malformed): the GSO segment count. */
static __always_inline __u64 segs_unparsed(struct __sk_buff *skb)
{
	__u32 segs = skb->gso_size ? skb->gso_segs : 1;
	return segs > 1 ? segs : 1;
}

/*
 * The common case in few instructions: an untagged Ethernet frame with a plain IPv4 header (no
 * options) or an IPv6 header, in the linear data, not GSO, with a usable IP length. It counts
 * exactly what the general path in account() would: one packet, Ethernet header + IP length
 * bytes, the same key. Returns 0 for anything else.
 */
static __always_inline int account_fast(struct __sk_buff *skb, enum direction dir)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == ETH_P_IP_BE) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || *(__u8 *)ip != 0x45 || skb->gso_size)
			return 0; /* version 4 with IHL 5 only */
		__u32 len = sizeof(*eth) + bpf_ntohs(ip->tot_len);
		if (len > skb->len || len < sizeof(*eth) + sizeof(*ip))
			return 0;
		struct flow4_key k = { .ifdir = flow_ifdir(skb, dir) };
		__builtin_memcpy(k.src, &ip->saddr, 4);
		__builtin_memcpy(k.dst, &ip->daddr, 4);
		count(skb, &flows4, &k, k.dst, 1, dir, 1, len);
		return 1;
	}
	if (eth->h_proto == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->version != 6 || skb->gso_size)
			return 0;
		__u32 len = sizeof(*eth) + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		if (len > skb->len || !ip6->payload_len)
			return 0;
		struct flow6_key k HOT_KEY6; /* every byte written below: no zeroing first */
		k.ifdir = flow_ifdir(skb, dir);
		__builtin_memcpy(k.src, &ip6->saddr, 16);
		__builtin_memcpy(k.dst, &ip6->daddr, 16);
		if (is_v4_mapped(k.src) && is_v4_mapped(k.dst))
			return 0; /* belongs to flows4: the general path moves it there */
		count(skb, &flows6, &k, k.dst, 0, dir, 1, len);
		return 1;
	}
	return 0;
}

/* Length of the L4 header at off (TCP doff * 4, UDP 8, else 0), for GSO byte accounting only. */
static __always_inline __u32 l4_header_len(struct __sk_buff *skb, __u8 proto, __u32 off)
{
	__u8 doff_byte;

	if (proto == IPPROTO_UDP)
		return 8;
	if (proto == IPPROTO_TCP && bpf_skb_load_bytes(skb, off + 12, &doff_byte, 1) == 0)
		return (doff_byte >> 4) * 4;
	return 0;
}

/*
 * Skip IPv6 extension headers; returns the L4 protocol and moves *off past them.
 * Returns NO_L4 for a non-first fragment: what follows its fragment header is not an L4 header.
 */
static __always_inline __u8 skip_ipv6_ext(struct __sk_buff *skb, __u8 next, __u32 *off)
{
	__u8 ext[4];

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
			break;
		if (bpf_skb_load_bytes(skb, *off, ext, 4) < 0)
			return NO_L4;
		if (next == IPPROTO_FRAGMENT) {
			/* ext[2..3]: fragment offset (13 bits) << 3 | flags */
			*off += 8; /* the fragment header is part of L3 either way */
			if ((((__u16)ext[2] << 8 | ext[3]) & 0xFFF8) != 0)
				return NO_L4;
		} else if (next == IPPROTO_AH) {
			*off += ((__u32)ext[1] + 2) * 4;
		} else {
			*off += ((__u32)ext[1] + 1) * 8;
		}
		next = ext[0];
	}
	return next;
}

/*
 * Where the headers each extra segment of a GSO skb repeats end, given the outer L4 protocol at
 * off. For a tunnel the kernel segments the inner packet and every segment carries the outer
 * headers, the tunnel header and the inner L2/L3/L4 headers (qdisc_pkt_len_init uses the inner
 * transport offset when skb->encapsulation is set). The program cannot read gso_type or
 * skb->encapsulation, so it recognises the tunnel from the packet: GRE (any protocol field the
 * kernel offloads: Ethernet, IPv4, IPv6), IPIP / SIT / IPv6-in-IPv6, and UDP to the VXLAN ports
 * (4789, and 8472, Linux's default) or the Geneve port (6081). Any other UDP GSO skb is plain
 * UDP segmentation (UDP_SEGMENT): 8 bytes of UDP header per segment.
 */
static __always_inline __u32 gso_header_end(struct __sk_buff *skb, __u8 proto, __u32 off)
{
	__u8 b[4];
	__u16 inner;

	if (proto == IPPROTO_TCP)
		return off + l4_header_len(skb, proto, off);
	if (proto == IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, off, b, 4) < 0)
			return off;
		__u16 dport = (__u16)b[2] << 8 | b[3];
		if (dport == VXLAN_PORT || dport == VXLAN_PORT_LINUX) {
			off += 8 + 8; /* UDP, VXLAN */
			inner = ETH_P_TEB;
		} else if (dport == GENEVE_PORT) {
			if (bpf_skb_load_bytes(skb, off + 8, b, 4) < 0)
				return off + 8;
			inner = (__u16)b[2] << 8 | b[3];
			off += 8 + 8 + (b[0] & 0x3f) * 4; /* UDP, Geneve + its options */
		} else {
			return off + 8;
		}
	} else if (proto == IPPROTO_GRE) {
		if (bpf_skb_load_bytes(skb, off, b, 4) < 0)
			return off;
		inner = (__u16)b[2] << 8 | b[3];
		/* 4 bytes, + 4 for each of the checksum (0x80), key (0x20) and sequence (0x10) flags */
		off += 4 + ((b[0] >> 7) & 1) * 4 + ((b[0] >> 5) & 1) * 4 + ((b[0] >> 4) & 1) * 4;
	} else if (proto == IPPROTO_IPIP) {
		inner = ETH_P_IP;
	} else if (proto == IPPROTO_IPV6) {
		inner = ETH_P_IPV6;
	} else {
		return off; /* no L4 header the kernel would repeat (ICMP, a non-first fragment, ...) */
	}

	if (inner == ETH_P_TEB) {
		if (bpf_skb_load_bytes(skb, off + 12, b, 2) < 0)
			return off;
		inner = (__u16)b[0] << 8 | b[1];
		off += sizeof(struct ethhdr);
	}
	if (inner == ETH_P_IP) {
		if (bpf_skb_load_bytes(skb, off, b, 1) < 0 || bpf_skb_load_bytes(skb, off + 9, &proto, 1) < 0)
			return off;
		off += (b[0] & 0xf) * 4;
	} else if (inner == ETH_P_IPV6) {
		if (bpf_skb_load_bytes(skb, off + 6, &proto, 1) < 0)
			return off;
		off += sizeof(struct ipv6hdr);
		proto = skip_ipv6_ext(skb, proto, &off);
	} else {
		return off;
	}
	return off + l4_header_len(skb, proto, off);
}

/*
 * Wire packets and bytes of an IP packet at off (the L2 header before it, if any, counts in bytes).
 * *bytes comes in as skb->len. Shared by the TC programs and the cgroup_skb ones, so both families
 * count GSO/GRO skbs by the same rules.
 */
static __always_inline void wire_count(struct __sk_buff *skb, __u32 off, __u32 l3len, __u8 l4proto, const int ipv6,
				       __u32 iplen, __u64 *packets, __u64 *bytes)
{
	/*
	 * GSO: each extra wire segment repeats the L2, L3 and L4 headers. An untrusted GSO skb
	 * (SKB_GSO_DODGY, from virtio/tun/packet sockets) arrives with gso_segs 0: work the segment
	 * count out from gso_size, as the kernel's own qdisc accounting does.
	 */
	__u32 gso_size = skb->gso_size;
	if (!gso_size) {
		/* Not the padding of a short Ethernet frame, nor a kept FCS: the datagram as sent. */
		if (iplen && off + iplen <= *bytes)
			*bytes = off + iplen;
	} else {
		__u32 segs = skb->gso_segs;
		if (segs != 1) {
			__u32 l4off = off + l3len;
			if (ipv6)
				l4proto = skip_ipv6_ext(skb, l4proto, &l4off);
			__u32 hdr = gso_header_end(skb, l4proto, l4off);
			if (segs > 1)
				*packets = segs;
			else if (skb->len > hdr)
				*packets = (skb->len - hdr + gso_size - 1) / gso_size;
			*bytes += (*packets - 1) * hdr;
		}
	}
}

/*
 * l3: the device has no link-layer header (ARPHRD_NONE, _TUNNEL, _IPGRE, ...): the IP header
 * is at offset 0 and skb->protocol names it. Otherwise an Ethernet header (and up to two VLAN
 * tags) comes first. The compiler specialises this for each constant value of l3.
 */
static __always_inline int account(struct __sk_buff *skb, enum direction dir, const int l3)
{
	union scratch buf;
	struct flow4_key k4;
	struct flow6_key k6 HOT_KEY6;
	__u64 packets = 1;
	__u64 bytes = skb->len;
	__u32 off = 0, l3len, iplen;
	__u8 l4proto;
	__be16 proto;
	int v4;

	if (!l3 && account_fast(skb, dir))
		return TC_ACT_UNSPEC;

	if (l3) {
		proto = skb->protocol;
	} else {
		struct ethhdr *eth = header(skb, 0, sizeof(*eth), &buf);
		if (!eth) {
			add_stat(skb, STAT_MALFORMED, dir, segs_unparsed(skb), bytes);
			return TC_ACT_UNSPEC;
		}
		proto = eth->h_proto;
		off = sizeof(struct ethhdr);

#pragma unroll
		for (int i = 0; i < MAX_VLAN_TAGS; i++) {
			if (proto != ETH_P_8021Q_BE && proto != ETH_P_8021AD_BE)
				break;
			struct vlan_tag *tag = header(skb, off, sizeof(*tag), &buf);
			if (!tag) {
				add_stat(skb, STAT_MALFORMED, dir, segs_unparsed(skb), bytes);
				return TC_ACT_UNSPEC;
			}
			proto = tag->proto;
			off += sizeof(*tag);
		}

		/*
		 * PPPoE session: a 6-byte PPPoE header, then the 2-byte PPP protocol. Its IP packet is
		 * counted like any other (bytes still from the frame's start); other PPP protocols (LCP,
		 * IPCP, ...) stay non-IP.
		 */
		if (proto == ETH_P_PPP_SES_BE) {
			__u8 ppp[2];
			if (bpf_skb_load_bytes(skb, off + 6, ppp, 2) < 0) {
				add_stat(skb, STAT_MALFORMED, dir, segs_unparsed(skb), bytes);
				return TC_ACT_UNSPEC;
			}
			__u16 pp = (__u16)ppp[0] << 8 | ppp[1];
			proto = pp == PPP_IP ? ETH_P_IP_BE : pp == PPP_IPV6 ? ETH_P_IPV6_BE : proto;
			off += 8;
		} else if (proto == ETH_P_MPLS_UC_BE || proto == ETH_P_MPLS_MC_BE) {
			/*
			 * MPLS: skip labels up to the bottom of the stack; the first nibble after it says
			 * IPv4 or IPv6 (what the kernel's own MPLS code assumes too). A deeper stack, or a
			 * payload that is neither (pseudowire, ...), stays non-IP.
			 */
			__u8 lbl[4];
			int bos = 0;
#pragma unroll
			for (int i = 0; i < MAX_MPLS_LABELS; i++) {
				if (bpf_skb_load_bytes(skb, off, lbl, 4) < 0) {
					add_stat(skb, STAT_MALFORMED, dir, segs_unparsed(skb), bytes);
					return TC_ACT_UNSPEC;
				}
				off += 4;
				if (lbl[2] & 1) {
					bos = 1;
					break;
				}
			}
			if (bos && bpf_skb_load_bytes(skb, off, lbl, 1) == 0)
				proto = (lbl[0] >> 4) == 4 ? ETH_P_IP_BE : (lbl[0] >> 4) == 6 ? ETH_P_IPV6_BE : proto;
		}
	}

	__u32 ifdir = flow_ifdir(skb, dir);
	if (proto == ETH_P_IP_BE) {
		struct iphdr *ip = header(skb, off, sizeof(*ip), &buf);
		if (!ip || ip->version != 4 || ip->ihl < 5 || off + ip->ihl * 4 > skb->len) {
			add_stat(skb, STAT_MALFORMED, dir, segs_unparsed(skb), bytes);
			return TC_ACT_UNSPEC;
		}
		k4.ifdir = ifdir;
		__builtin_memcpy(k4.src, &ip->saddr, 4);
		__builtin_memcpy(k4.dst, &ip->daddr, 4);
		v4 = 1;
		l3len = ip->ihl * 4;
		iplen = bpf_ntohs(ip->tot_len);
		if (iplen < l3len)
			iplen = 0;
		/* A non-first fragment has no L4 header: never read one from it. */
		l4proto = (bpf_ntohs(ip->frag_off) & IP_OFFSET_MASK) ? NO_L4 : ip->protocol;
	} else if (proto == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = header(skb, off, sizeof(*ip6), &buf);
		if (!ip6 || ip6->version != 6) {
			add_stat(skb, STAT_MALFORMED, dir, segs_unparsed(skb), bytes);
			return TC_ACT_UNSPEC;
		}
		k6.ifdir = ifdir;
		__builtin_memcpy(k6.src, &ip6->saddr, 16);
		__builtin_memcpy(k6.dst, &ip6->daddr, 16);
		/*
		 * Both addresses IPv4-mapped: the same pair as an IPv4 packet would be (userspace shows
		 * ::ffff:a.b.c.d as a.b.c.d), so it is counted under the IPv4 key.
		 */
		v4 = is_v4_mapped(k6.src) && is_v4_mapped(k6.dst);
		if (v4) {
			k4.ifdir = ifdir;
			__builtin_memcpy(k4.src, &k6.src[12], 4);
			__builtin_memcpy(k4.dst, &k6.dst[12], 4);
		}
		l3len = sizeof(*ip6);
		l4proto = ip6->nexthdr;
		/* 0: a jumbogram (or a BIG TCP GSO skb); the frame's length counts then */
		iplen = ip6->payload_len ? sizeof(*ip6) + bpf_ntohs(ip6->payload_len) : 0;
	} else {
		add_stat(skb, STAT_NON_IP, dir, segs_unparsed(skb), bytes);
		return TC_ACT_UNSPEC;
	}

	wire_count(skb, off, l3len, l4proto, proto == ETH_P_IPV6_BE, iplen, &packets, &bytes);

	if (v4)
		count(skb, &flows4, &k4, k4.dst, 1, dir, packets, bytes);
	else
		count(skb, &flows6, &k6, k6.dst, 0, dir, packets, bytes);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return account(skb, DIR_INGRESS, 0);
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return account(skb, DIR_EGRESS, 0);
}

/* Devices without a link-layer header: the packet starts with the IP header. */
SEC("tc")
int tc_ingress_l3(struct __sk_buff *skb)
{
	return account(skb, DIR_INGRESS, 1);
}

SEC("tc")
int tc_egress_l3(struct __sk_buff *skb)
{
	return account(skb, DIR_EGRESS, 1);
}

/*
 * The live view's "top remote peers" of a workload: the packet's counts per (cgroup, remote address,
 * direction), into "wl_peers". Why a separate map counted only while the flag is set, instead of the
 * remote address in the "workloads" key: the Prometheus family must stay one series per workload,
 * and a per-peer key on every packet would cost a map entry per remote address all the time (a DNS
 * or web server has thousands); the flag costs one array lookup per packet while nobody watches
 * (bench/WORKLOAD_COST.md). A full map counts in "wl_peers_full": never silently dropped.
 */
static __always_inline void count_peer(const struct workload_key *wk, const __u8 *remote, __u64 packets, __u64 bytes)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&wl_peers_on, &zero);
	if (!on || !*on)
		return;
	struct wl_peer_key k = {
		.cgroup = wk->cgroup, .direction = wk->direction, .remote_private = wk->remote_private, .epoch = wk->epoch,
	};
	__builtin_memcpy(k.remote, remote, 16);
	struct flow_value *v = bpf_map_lookup_elem(&wl_peers, &k);
	if (!v) {
		struct flow_value init = { .packets = packets, .bytes = bytes };
		long err = bpf_map_update_elem(&wl_peers, &k, &init, BPF_NOEXIST);
		if (err == 0)
			return;
		if (err == -EEXIST)
			v = bpf_map_lookup_elem(&wl_peers, &k);
		if (!v) {
			__u32 idx = (__u32)wk->direction * 2 + wk->remote_private;
			v = bpf_map_lookup_elem(&wl_peers_full, &idx);
			if (!v)
				return;
		}
	}
	/* Atomic, as in add_value below (why there). */
	__sync_fetch_and_add(&v->packets, packets);
	__sync_fetch_and_add(&v->bytes, bytes);
}

/*
 * Per-workload attribution: packets sent or received by a local socket, per the socket's cgroup v2 id.
 *
 * Why cgroup_skb programs attached to the cgroup v2 root (with multi-attach links, so they run
 * beside anyone else's programs) rather than a socket lookup from TC: at the TC ingress hook the
 * receiving socket is not known yet. Looking it up there (bpf_sk_lookup_tcp/udp) costs about 3x as
 * much per packet, covers neither ICMP nor raw sockets, and TC programs may not call
 * bpf_sk_cgroup_id, so a second program would have to record each socket's cgroup. The cgroup_skb
 * hooks run with the socket known in both directions (ingress at the socket's receive filter,
 * egress in ip_finish_output / ip6_finish_output) and bpf_skb_cgroup_id is nearly free: about 9 ns
 * per packet and direction against about 26 ns for the lookup (bench/WORKLOAD_COST.md).
 *
 * What they see, and so what this family counts:
 *   - only packets of a local full socket (TCP, UDP, ICMP/ping, raw): forwarded, bridged and NATed
 *     traffic of containers behind a bridge never reaches a local socket's hook here and is only in
 *     the per-IP family (a container's own socket, in its network namespace, is local and counted);
 *     so are packets the kernel answers itself with no socket (TCP resets for closed ports, ICMP
 *     errors, echo replies of the kernel: those go out through the kernel's control sockets, which
 *     belong to the root cgroup, and count as "host"), and packets to a TIME_WAIT socket;
 *   - the packet from its IP header: no L2 header. Bytes are the IP datagram's own length, and for a
 *     GSO/GRO skb the L3 and L4 headers of the extra segments (wire_count, shared with the TC
 *     programs). On an Ethernet device without VLAN tags the per-IP family's bytes are these plus
 *     14 per packet; packets are the same.
 * The verdict is always 1 (let the packet through).
 *
 * Atomic adds, unlike the TC programs' plain ones to per-CPU values: those run in softirq or with
 * bottom halves off, so nothing else runs on their CPU meanwhile. The cgroup egress hook runs in the
 * sending process with bottom halves on and only migration off: a softirq (or, on a preemptible
 * kernel, another task) on the same CPU can run this program on the same per-CPU value between a
 * plain load and store, and one of the two adds would be lost.
 */
static __always_inline void add_value(struct flow_value *v, __u64 packets, __u64 bytes)
{
	__sync_fetch_and_add(&v->packets, packets);
	__sync_fetch_and_add(&v->bytes, bytes);
}

/*
 * A socket without a tag: if the start-up scan found it (same address, family and local port), its
 * tag moves into the socket's storage now, so its next packets take the storage path. Only untagged
 * sockets pay this lookup: sockets from before the start, and the kernel's own.
 */
static __always_inline __u32 adopt_scanned(struct bpf_sock *sk)
{
	__u64 addr = (__u64)(unsigned long)sk;
	struct proc_scan *s = bpf_map_lookup_elem(&proc_scanned, &addr);
	if (!s)
		return 0;
	__u32 tgid = 0;
	if (s->family == sk->family && s->port == sk->src_port) {
		struct proc_sk *p = bpf_sk_storage_get(&proc_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (p) {
			if (p->tgid == 0)
				p->tgid = s->tgid;
			tgid = p->tgid;
		}
	}
	bpf_map_delete_elem(&proc_scanned, &addr);
	return tgid;
}

/*
 * The process half of cgroup_proc_*: the same packet, packets and bytes as its "workloads" count, per
 * the process in the socket's "proc_sk" storage (tgid 0 when it has none). One storage lookup (the
 * socket's own storage list, no hashing) and one "procs" update.
 */
static __always_inline void account_process(struct __sk_buff *skb, __u64 cgroup, __u8 epoch, enum direction dir,
					    __u64 packets, __u64 bytes)
{
	struct proc_key k = { .cgroup = cgroup, .direction = dir, .epoch = epoch };
	struct bpf_sock *sk = skb->sk;
	if (sk) {
		struct proc_sk *p = bpf_sk_storage_get(&proc_sk, sk, 0, 0);
		if (p)
			k.tgid = p->tgid;
		else
			k.tgid = adopt_scanned(sk);
	}
	struct flow_value *v = bpf_map_lookup_elem(&procs, &k);
	if (v) {
		add_value(v, packets, bytes);
		return;
	}
	struct flow_value init = { .packets = packets, .bytes = bytes };
	long err = bpf_map_update_elem(&procs, &k, &init, BPF_NOEXIST);
	if (err == 0)
		return;
	if (err == -EEXIST) {
		v = bpf_map_lookup_elem(&procs, &k);
		if (v) {
			add_value(v, packets, bytes);
			return;
		}
	}
	__u32 idx = dir;
	v = bpf_map_lookup_elem(&proc_overflow, &idx);
	if (v)
		add_value(v, packets, bytes);
}

/* processes: also count per process (cgroup_proc_*); a constant, so each program pays only for what it does. */
static __always_inline void account_workload(struct __sk_buff *skb, enum direction dir, const int processes)
{
	union scratch buf;
	struct workload_key k = { .direction = dir };
	__u8 peer[16] __attribute__((aligned(4))) = {}; /* the remote address, for count_peer */
	__u64 packets = 1, bytes = skb->len;
	__u32 l3len, iplen;
	__u8 l4proto;
	int ipv6;
	__u32 zero = 0;
	__u32 *e = bpf_map_lookup_elem(&epoch, &zero);

	k.cgroup = bpf_skb_cgroup_id(skb);
	k.epoch = e ? (*e & 1) : 0;
	if (skb->protocol == ETH_P_IP_BE) {
		struct iphdr *ip = header(skb, 0, sizeof(*ip), &buf);
		if (!ip || ip->version != 4 || ip->ihl < 5)
			goto unparsed;
		__u8 remote[4];
		__builtin_memcpy(remote, dir == DIR_INGRESS ? (void *)&ip->saddr : (void *)&ip->daddr, 4);
		peer[10] = 0xff;
		peer[11] = 0xff;
		__builtin_memcpy(peer + 12, remote, 4);
		l3len = ip->ihl * 4;
		iplen = bpf_ntohs(ip->tot_len);
		if (iplen < l3len)
			iplen = 0;
		l4proto = (bpf_ntohs(ip->frag_off) & IP_OFFSET_MASK) ? NO_L4 : ip->protocol;
		ipv6 = 0;
		k.remote_private = dst_is_private(remote, 1);
	} else if (skb->protocol == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = header(skb, 0, sizeof(*ip6), &buf);
		if (!ip6 || ip6->version != 6)
			goto unparsed;
		__u8 remote[16] __attribute__((aligned(4)));
		__builtin_memcpy(remote, dir == DIR_INGRESS ? (void *)&ip6->saddr : (void *)&ip6->daddr, 16);
		__builtin_memcpy(peer, remote, 16);
		l3len = sizeof(*ip6);
		l4proto = ip6->nexthdr;
		iplen = ip6->payload_len ? sizeof(*ip6) + bpf_ntohs(ip6->payload_len) : 0;
		ipv6 = 1;
		k.remote_private = dst_is_private(remote, 0);
	} else {
		goto unparsed;
	}
	wire_count(skb, 0, l3len, l4proto, ipv6, iplen, &packets, &bytes);
	goto add;
unparsed:
	/* Not seen at a socket in practice; still counted, as public, by the frame's length. */
	packets = segs_unparsed(skb);
	k.remote_private = 0;
add:
	count_peer(&k, peer, packets, bytes);
	if (processes)
		account_process(skb, k.cgroup, k.epoch, dir, packets, bytes);
	struct flow_value *v = bpf_map_lookup_elem(&workloads, &k);
	if (v) {
		add_value(v, packets, bytes);
		return;
	}
	struct flow_value init = { .packets = packets, .bytes = bytes };
	long err = bpf_map_update_elem(&workloads, &k, &init, BPF_NOEXIST);
	if (err == 0)
		return;
	if (err == -EEXIST) {
		v = bpf_map_lookup_elem(&workloads, &k);
		if (v) {
			add_value(v, packets, bytes);
			return;
		}
	}
	__u32 idx = (__u32)dir * 2 + k.remote_private;
	v = bpf_map_lookup_elem(&workload_overflow, &idx);
	if (v)
		add_value(v, packets, bytes);
}

SEC("cgroup_skb/ingress")
int cgroup_wl_ingress(struct __sk_buff *skb)
{
	account_workload(skb, DIR_INGRESS, 0);
	return 1;
}

SEC("cgroup_skb/egress")
int cgroup_wl_egress(struct __sk_buff *skb)
{
	account_workload(skb, DIR_EGRESS, 0);
	return 1;
}

/*
 * Per-process attribution, the "Processes" view (nethogs): cgroup_proc_* are cgroup_wl_* plus a
 * count per process; userspace attaches one pair or the other (--workloads auto or cgroup).
 *
 * Why the process is stored on the socket at its creation rather than looked up per packet: at the
 * ingress hook the packet is handled in softirq, in whatever process happens to run, and egress
 * packets of TCP (ACKs, retransmits, window updates) are sent from timers and softirq too; only the
 * socket knows its process. proc_sock_create (cgroup/sock_create, in the socket() call, so in the
 * creating process) stores the tgid in the socket's "proc_sk" storage, and the cgroup_skb programs
 * read it back (bpf_sk_storage_get: a walk of the socket's own short storage list, no hash).
 * Sockets that existed before the exporter started are tagged once by proc_scan (a task_file
 * iterator) instead. A socket counts under the process that created it, or, for one found by the
 * scan, the first process holding it that the scan visits: sockets inherited across fork() or passed
 * over a unix socket count under that one, whichever process sends.
 */
SEC("cgroup_skb/ingress")
int cgroup_proc_ingress(struct __sk_buff *skb)
{
	account_workload(skb, DIR_INGRESS, 1);
	return 1;
}

SEC("cgroup_skb/egress")
int cgroup_proc_egress(struct __sk_buff *skb)
{
	account_workload(skb, DIR_EGRESS, 1);
	return 1;
}

/*
 * The kernel types proc_scan and proc_sock_create read, by name only: libbpf relocates the field
 * offsets against the running kernel's BTF (CO-RE), so no vmlinux.h is needed.
 */
struct task_struct {
	int tgid;
	char comm[16];
	struct task_struct *group_leader;
} __attribute__((preserve_access_index));

struct sock_common {
	unsigned short skc_family;
	__u16 skc_num;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	union { struct bpf_iter_meta *meta; };
	union { struct task_struct *task; };
	__u32 fd;
	union { struct file *file; };
} __attribute__((preserve_access_index));

#define AF_INET 2
#define AF_INET6 10

/* The process's name: its main thread's comm (a thread's own name, "worker-3", says less). */
static __always_inline void note_comm(__u32 tgid, struct task_struct *task)
{
	struct proc_comm c = {};
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	bpf_probe_read_kernel_str(c.comm, sizeof(c.comm), &leader->comm);
	bpf_map_update_elem(&proc_comms, &tgid, &c, BPF_ANY);
}

/* In socket(2), in the creating process: tag the new inet socket. Always lets the socket be made. */
SEC("cgroup/sock_create")
int proc_sock_create(struct bpf_sock *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_sk *p = bpf_sk_storage_get(&proc_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (p) {
		p->tgid = tgid;
		note_comm(tgid, (struct task_struct *)bpf_get_current_task());
	}
	return 1;
}

/*
 * Run once at start, after proc_sock_create is attached: every open file of every process in the
 * exporter's pid namespace (one visit per file table, so threads are not walked again). Each inet
 * socket goes into "proc_scanned" with the first process found holding it; cgroup_proc_* tag it on
 * its first packet, unless proc_sock_create tagged it already (a socket made since). Each socket that
 * does not fit writes one byte to the iterator's output (WorkloadAttachment counts them).
 */
SEC("iter/task_file")
int proc_scan(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	if (!sk)
		return 0;
	struct proc_scan v = { .tgid = task->tgid, .family = sk->__sk_common.skc_family, .port = sk->__sk_common.skc_num };
	if (v.family != AF_INET && v.family != AF_INET6)
		return 0;
	__u64 addr = (__u64)(unsigned long)sk;
	long err = bpf_map_update_elem(&proc_scanned, &addr, &v, BPF_NOEXIST);
	if (err == 0) {
		note_comm(v.tgid, task);
	} else if (err != -EEXIST) {
		/* Not stored (map full, or no memory): one byte to the reader, which counts them. */
		char lost = 1;
		bpf_seq_write(ctx->meta->seq, &lost, 1);
	}
	return 0;
}
