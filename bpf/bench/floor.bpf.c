// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark reference (bench/, not shipped): the floor for any per-flow counter, a lookup
 * of a constant 40-byte key (the size of struct flow_key) in a per-CPU hash and an
 * increment of {packets, bytes}. No packet parsing. tc_ingress cannot be cheaper than this
 * unless it changes map type or key size.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct key40 {
	__u8 b[40];
};

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct key40);
	__type(value, struct counters);
} floor_map SEC(".maps");

SEC("tc")
int tc_floor(struct __sk_buff *skb)
{
	struct key40 key = {};
	struct counters *v = bpf_map_lookup_elem(&floor_map, &key);

	if (v) {
		v->packets += 1;
		v->bytes += skb->len;
	} else {
		struct counters init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&floor_map, &key, &init, BPF_NOEXIST);
	}
	return TC_ACT_UNSPEC;
}
