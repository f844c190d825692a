// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark variants (bench/, not shipped) of the flows map for MapScaleBench: the same 12-byte key
 * (struct flow4_key, from the frame's IPv4 addresses) and 16-byte value, lookup then increment, insert
 * on a miss, in three map types:
 *   tc_percpu   BPF_MAP_TYPE_PERCPU_HASH, preallocated (what traffic.bpf.c uses), plain adds;
 *   tc_shared   BPF_MAP_TYPE_HASH, preallocated, one value for all CPUs, __sync_fetch_and_add;
 *   tc_lazy     BPF_MAP_TYPE_PERCPU_HASH with BPF_F_NO_PREALLOC, plain adds.
 * No parsing beyond the fixed offsets of an untagged IPv4 frame: the difference between them is
 * the map's.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "traffic.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define VARIANT(NAME, TYPE, FLAGS)                                                       \
	struct {                                                                         \
		__uint(type, TYPE);                                                      \
		__uint(max_entries, FLOWS_DEFAULT_ENTRIES);                              \
		__uint(map_flags, FLAGS);                                                \
		__type(key, struct flow4_key);                                           \
		__type(value, struct flow_value);                                        \
	} NAME##_map SEC(".maps");

VARIANT(percpu, BPF_MAP_TYPE_PERCPU_HASH, 0)
VARIANT(shared, BPF_MAP_TYPE_HASH, 0)
VARIANT(lazy, BPF_MAP_TYPE_PERCPU_HASH, BPF_F_NO_PREALLOC)

static __always_inline int key_of(struct __sk_buff *skb, struct flow4_key *k)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (data + 14 + 20 > end)
		return 0;
	k->ifdir = skb->ifindex;
	__builtin_memcpy(k->src, data + 14 + 12, 4);
	__builtin_memcpy(k->dst, data + 14 + 16, 4);
	return 1;
}

static __always_inline int plain(struct __sk_buff *skb, void *map)
{
	struct flow4_key k;
	if (!key_of(skb, &k))
		return TC_ACT_UNSPEC;
	struct flow_value *v = bpf_map_lookup_elem(map, &k);
	if (v) {
		v->packets += 1;
		v->bytes += skb->len;
	} else {
		struct flow_value init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(map, &k, &init, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_percpu(struct __sk_buff *skb)
{
	return plain(skb, &percpu_map);
}

SEC("tc")
int tc_lazy(struct __sk_buff *skb)
{
	return plain(skb, &lazy_map);
}

SEC("tc")
int tc_shared(struct __sk_buff *skb)
{
	struct flow4_key k;
	if (!key_of(skb, &k))
		return TC_ACT_UNSPEC;
	struct flow_value *v = bpf_map_lookup_elem(&shared_map, &k);
	if (v) {
		__sync_fetch_and_add(&v->packets, 1);
		__sync_fetch_and_add(&v->bytes, skb->len);
	} else {
		struct flow_value init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&shared_map, &k, &init, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
}
