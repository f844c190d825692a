// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark reference (bench/, not shipped): the floor for any per-flow counter, a lookup of a
 * constant key in a per-CPU hash and an increment of {packets, bytes}, with no packet parsing.
 * tc_floor4 uses a 12-byte key (the size of struct flow4_key), tc_floor6 a 36-byte key (struct
 * flow6_key), tc_floor40 the 40-byte key of the earlier single flows map. tc_ingress cannot be
 * cheaper than the floor of its key size unless it changes map type or key size.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct counters {
	__u64 packets;
	__u64 bytes;
};

#define FLOOR(N)                                                                         \
	struct key##N {                                                                  \
		__u8 b[N];                                                               \
	};                                                                               \
	struct {                                                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);                                  \
		__uint(max_entries, 65536);                                              \
		__type(key, struct key##N);                                              \
		__type(value, struct counters);                                          \
	} floor_map##N SEC(".maps");                                                     \
	static __always_inline int floor##N(struct __sk_buff *skb)                       \
	{                                                                                \
		struct key##N key = {};                                                  \
		struct counters *v = bpf_map_lookup_elem(&floor_map##N, &key);           \
		if (v) {                                                                 \
			v->packets += 1;                                                 \
			v->bytes += skb->len;                                            \
		} else {                                                                 \
			struct counters init = { .packets = 1, .bytes = skb->len };      \
			bpf_map_update_elem(&floor_map##N, &key, &init, BPF_NOEXIST);    \
		}                                                                        \
		return TC_ACT_UNSPEC;                                                    \
	}

FLOOR(12)
FLOOR(36)
FLOOR(40)

SEC("tc")
int tc_floor4(struct __sk_buff *skb)
{
	return floor12(skb);
}

SEC("tc")
int tc_floor6(struct __sk_buff *skb)
{
	return floor36(skb);
}

SEC("tc")
int tc_floor40(struct __sk_buff *skb)
{
	return floor40(skb);
}
