// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Candidate kernel designs for per-workload attribution, for cost measurement only (bench/,
 * WorkloadCostBench; checked by WorkloadCostProgTestRunTest). Not shipped, not attached anywhere
 * by the exporter. Each counter keys by {cgroup id, direction} in a per-CPU hash, like the flows.
 *
 *   cg_empty       cgroup_skb baseline: returns "allow".
 *   cg_count_in/out cgroup_skb on the cgroup v2 root: bpf_skb_cgroup_id (the socket's cgroup,
 *                  known in both directions at this hook) + a per-CPU hash update.
 *   cg_floor       the same update under a constant id, no helper: what the map alone costs.
 *   tc_empty       TC baseline.
 *   tc_skb_cgroup  TC: bpf_skb_cgroup_id + the update; right at egress, where skb->sk is the
 *                  sending socket; at ingress the socket is not yet known.
 *   tc_sk_lookup   TC ingress alternative: parse Ethernet/IPv4/UDP, look the socket up
 *                  (bpf_sk_lookup_udp), read its cgroup id from socket storage, release it, update.
 *                  TC programs may not call bpf_sk_cgroup_id, so the id must have been stored per
 *                  socket beforehand (a cgroup/sock_create program would do it; the bench writes it
 *                  from user space).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Must match WorkloadCostProgTestRunTest's reading of the map byte for byte. */
struct wl_key {
	__u64 cgroup_id;
	__u8 direction; /* 0 inbound, 1 outbound */
	__u8 pad[7];
};

struct wl_counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct wl_key);
	__type(value, struct wl_counters);
} wl_counts SEC(".maps");

/* The cgroup id of each socket, for tc_sk_lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_cgroup SEC(".maps");

static __always_inline void count(__u64 cgroup_id, __u8 direction, __u32 len)
{
	struct wl_key key = { .cgroup_id = cgroup_id, .direction = direction };
	struct wl_counters *v = bpf_map_lookup_elem(&wl_counts, &key);

	if (v) {
		v->packets += 1;
		v->bytes += len;
	} else {
		struct wl_counters init = { .packets = 1, .bytes = len };
		bpf_map_update_elem(&wl_counts, &key, &init, BPF_NOEXIST);
	}
}

SEC("cgroup_skb/ingress")
int cg_empty(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int cg_count_in(struct __sk_buff *skb)
{
	count(bpf_skb_cgroup_id(skb), 0, skb->len);
	return 1;
}

#define FLOOR_ID 0xf1000000000000ULL /* unlike any real cgroup id */

SEC("cgroup_skb/ingress")
int cg_floor(struct __sk_buff *skb)
{
	count(FLOOR_ID, 0, skb->len);
	return 1;
}

SEC("cgroup_skb/egress")
int cg_count_out(struct __sk_buff *skb)
{
	count(bpf_skb_cgroup_id(skb), 1, skb->len);
	return 1;
}

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_skb_cgroup(struct __sk_buff *skb)
{
	count(bpf_skb_cgroup_id(skb), 1, skb->len);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_sk_lookup(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = data + sizeof(*eth) + sizeof(*ip);
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u64 id = 0;

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC;
	t.ipv4.saddr = ip->saddr;
	t.ipv4.daddr = ip->daddr;
	t.ipv4.sport = udp->source;
	t.ipv4.dport = udp->dest;
	sk = bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		__u64 *stored = bpf_sk_storage_get(&sk_cgroup, sk, 0, 0);

		if (stored)
			id = *stored;
		bpf_sk_release(sk);
	}
	count(id, 0, skb->len);
	return TC_ACT_UNSPEC;
}
