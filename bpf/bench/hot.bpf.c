// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark variants (bench/, not shipped) for one pair hit by several CPUs at once (bench/HOT_PAIR.md).
 * Each variant is compiled into its own object (-DV_<name>, one SEC("tc") program each, so that tc can
 * attach it in situ) and does one piece of tc_ingress's work on a pair keyed as in flows4 (struct
 * flow4_key from an untagged IPv4 frame's addresses), so that the pieces can be timed apart:
 *   V_EPOCH   the "epoch" array lookup only;
 *   V_LOOKUP  the shared hash lookup, no write (insert on a miss);
 *   V_READ    lookup and a read of the value;
 *   V_PLAIN   lookup and plain (non-atomic, so inexact across CPUs) adds to the shared value;
 *   V_ATOMIC  lookup and atomic adds: the shipped design before the hot slots;
 *   V_PERCPU  a per-CPU hash, plain adds: the floor;
 *   V_HOT     lookup, atomic adds until the pair has 1,024 packets, then plain adds to a per-CPU array
 *             slot named by the value: a reduced form of traffic.bpf.c's hot slots (one pair, so no
 *             owner key in the slot and no epoch; it uses a fetch atomic, which traffic.bpf.c avoids).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "traffic.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct bench_entry {
	__u64 packets;
	__u64 bytes;
	__u32 hot;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FLOWS_DEFAULT_ENTRIES);
	__type(key, struct flow4_key);
#ifdef V_HOT
	__type(value, struct bench_entry);
#else
	__type(value, struct flow_value);
#endif
} shared_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FLOWS_DEFAULT_ENTRIES);
	__type(key, struct flow4_key);
	__type(value, struct flow_value);
} percpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct flow_value);
} hot_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} epoch_map SEC(".maps");

static __always_inline int key_of(struct __sk_buff *skb, struct flow4_key *k)
{
	/* Copied, as tc_ingress's general path reads a header that is not in the linear data: trafgen's
	 * frames (PACKET_TX_RING) arrive with only the Ethernet header linear. */
	k->ifdir = skb->ifindex;
	return bpf_skb_load_bytes(skb, 14 + 12, k->src, 8) == 0;
}

volatile __u64 sink;

SEC("tc")
int tc_variant(struct __sk_buff *skb)
{
	struct flow4_key k;
#ifdef V_EPOCH
	__u32 zero = 0;
	__u32 *e = bpf_map_lookup_elem(&epoch_map, &zero);
	if (e)
		sink = *e;
	return TC_ACT_UNSPEC;
#endif
	if (!key_of(skb, &k))
		return TC_ACT_UNSPEC;
#ifdef V_PERCPU
	struct flow_value *p = bpf_map_lookup_elem(&percpu_map, &k);
	if (p) {
		p->packets += 1;
		p->bytes += skb->len;
	} else {
		struct flow_value init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&percpu_map, &k, &init, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
#endif
#ifdef V_HOT
	struct bench_entry *v = bpf_map_lookup_elem(&shared_map, &k);
	if (v) {
		__u32 hot = v->hot;
		if (hot) {
			__u32 slot = hot - 1;
			struct flow_value *h = bpf_map_lookup_elem(&hot_map, &slot);
			if (h) {
				h->packets += 1;
				h->bytes += skb->len;
				return TC_ACT_UNSPEC;
			}
		}
		__u64 old = __sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, skb->len);
		if (old == 1024)
			v->hot = 1;
	} else {
		struct bench_entry init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&shared_map, &k, &init, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
#else
	struct flow_value *v = bpf_map_lookup_elem(&shared_map, &k);
	if (v) {
#if defined(V_READ)
		sink = v->packets;
#elif defined(V_PLAIN)
		v->packets += 1;
		v->bytes += skb->len;
#elif defined(V_ATOMIC)
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, skb->len);
#endif
	} else {
		struct flow_value init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&shared_map, &k, &init, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
#endif
}
