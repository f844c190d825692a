// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The shipped per-process programs on their common path, for cost measurement only (bench/,
 * WorkloadCostBench). Not shipped. BPF_PROG_TEST_RUN gives the program a socket of its own (a bare
 * socket the kernel makes for the run), which has no "proc_sk" storage, so the shipped
 * cgroup_proc_* measure the path of an untagged socket (storage miss, "proc_scanned" miss, count
 * under tgid 0). A socket made since the exporter started carries its tag instead; these programs
 * give the run's socket a tag first, then run the very code of cgroup_proc_* (this file includes
 * bpf/traffic.bpf.c), so the count lands under TAGGED_TGID through a storage hit.
 *
 *   proc_tagged_in/out  tag (storage get, created on the run's first packet) + account_workload(.., 1)
 *   proc_tag_only       the tag step alone: subtracted, it leaves the cost of the tagged path
 *   proc_min_in/out     the cheapest counter measured that gives a per-process attribution: tag step +
 *                       bpf_skb_cgroup_id + storage get (hit) + one per-CPU hash update {cgroup, tgid,
 *                       direction}; no IP parse, no remote class, no GSO segments, no epoch, no
 *                       per-workload map (its sums per cgroup would stand in for it)
 */
#include "traffic.bpf.c"

#define TAGGED_TGID 424242

static __always_inline void tag(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return;
	struct proc_sk *p = bpf_sk_storage_get(&proc_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (p)
		p->tgid = TAGGED_TGID;
}

SEC("cgroup_skb/ingress")
int proc_tagged_in(struct __sk_buff *skb)
{
	tag(skb);
	account_workload(skb, DIR_INGRESS, 1);
	return 1;
}

SEC("cgroup_skb/egress")
int proc_tagged_out(struct __sk_buff *skb)
{
	tag(skb);
	account_workload(skb, DIR_EGRESS, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int proc_tag_only(struct __sk_buff *skb)
{
	tag(skb);
	return 1;
}

struct min_key {
	__u64 cgroup;
	__u32 tgid;
	__u32 direction;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct min_key);
	__type(value, struct flow_value);
} proc_min_counts SEC(".maps");

static __always_inline void count_min(struct __sk_buff *skb, __u32 dir)
{
	struct min_key k = { .cgroup = bpf_skb_cgroup_id(skb), .direction = dir };
	struct bpf_sock *sk = skb->sk;
	if (sk) {
		struct proc_sk *p = bpf_sk_storage_get(&proc_sk, sk, 0, 0);
		if (p)
			k.tgid = p->tgid;
	}
	struct flow_value *v = bpf_map_lookup_elem(&proc_min_counts, &k);
	if (v) {
		v->packets += 1;
		v->bytes += skb->len;
		return;
	}
	struct flow_value init = { .packets = 1, .bytes = skb->len };
	bpf_map_update_elem(&proc_min_counts, &k, &init, BPF_NOEXIST);
}

SEC("cgroup_skb/ingress")
int proc_min_in(struct __sk_buff *skb)
{
	tag(skb);
	count_min(skb, DIR_INGRESS);
	return 1;
}

SEC("cgroup_skb/egress")
int proc_min_out(struct __sk_buff *skb)
{
	tag(skb);
	count_min(skb, DIR_EGRESS);
	return 1;
}
