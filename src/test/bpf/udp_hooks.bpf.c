// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Ablation of the shipped cgroup_skb programs, for bench/udp_hooks.sh only (not shipped): the code of
 * account_workload (this file includes bpf/traffic.bpf.c) cut back step by step, so that
 * kernel.bpf_stats_enabled's run_time_ns, taken on real traffic, says what each step costs there.
 *
 *   v0  epoch lookup + bpf_skb_cgroup_id, summed into a one-slot per-CPU array (no hash)
 *   v1  v0 + the IPv4 parse, remote class and wire_count
 *   v2  v1 + the peers flag (count_peer, flag off)
 *   v3  v2 + the "workloads" per-CPU hash: what cgroup_wl_* do
 *   v4  v3 + the "proc_sk" socket-storage lookup alone
 *   v5  v3 + account_process (storage lookup and the "procs" hash): what cgroup_proc_* do
 *   v6  a candidate, not the shipped design: epoch + cgroup id, then packets and bytes added (atomically)
 *       to counters kept in the socket's own storage, no hash at all; what per-socket counters
 *       (read by an sk-storage iterator, flushed at sock_release) would cost per packet
 */
#include "traffic.bpf.c"
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct flow_value); } sink SEC(".maps");
#define F_PARSE 1
#define F_PEERS 2
#define F_WL 4
#define F_SK 8
#define F_PROCS 16
static __always_inline void abl(struct __sk_buff *skb, enum direction dir, const int f)
{
	union scratch buf;
	struct workload_key k = { .direction = dir };
	__u8 peer[16] __attribute__((aligned(4))) = {};
	__u64 packets = 1, bytes = skb->len;
	__u32 l3len = 20, iplen = 0; __u8 l4proto = 17;
	__u32 zero = 0;
	__u32 *e = bpf_map_lookup_elem(&epoch, &zero);
	k.cgroup = bpf_skb_cgroup_id(skb);
	k.epoch = e ? (*e & 1) : 0;
	if (f & F_PARSE) {
		if (skb->protocol == ETH_P_IP_BE) {
			struct iphdr *ip = header(skb, 0, sizeof(*ip), &buf);
			if (!ip || ip->version != 4 || ip->ihl < 5) goto add;
			__u8 remote[4];
			__builtin_memcpy(remote, dir == DIR_INGRESS ? (void *)&ip->saddr : (void *)&ip->daddr, 4);
			peer[10] = 0xff; peer[11] = 0xff; __builtin_memcpy(peer + 12, remote, 4);
			l3len = ip->ihl * 4; iplen = bpf_ntohs(ip->tot_len); if (iplen < l3len) iplen = 0;
			l4proto = ip->protocol;
			k.remote_private = dst_is_private(remote, 1);
			wire_count(skb, 0, l3len, l4proto, 0, iplen, &packets, &bytes);
		}
	}
add:
	if (f & F_PEERS) count_peer(&k, peer, packets, bytes);
	if (f & F_SK) {
		struct bpf_sock *sk = skb->sk;
		if (sk) { struct proc_sk *p = bpf_sk_storage_get(&proc_sk, sk, 0, 0); if (p) packets += p->tgid & 0; }
	}
	if (f & F_PROCS) { account_process(skb, k.cgroup, k.epoch, dir, packets, bytes); }
	struct flow_value *v;
	if (f & F_WL) {
		v = bpf_map_lookup_elem(&workloads, &k);
		if (v) { add_value(v, packets, bytes); return; }
		struct flow_value init = { .packets = packets, .bytes = bytes };
		bpf_map_update_elem(&workloads, &k, &init, BPF_NOEXIST);
		return;
	}
	v = bpf_map_lookup_elem(&sink, &zero);
	if (v) { v->packets += packets; v->bytes += bytes + k.cgroup + k.remote_private; }
}
#define P(n, f) SEC("cgroup_skb/ingress") int n##_in(struct __sk_buff *s) { abl(s, DIR_INGRESS, f); return 1; } \
                SEC("cgroup_skb/egress") int n##_out(struct __sk_buff *s) { abl(s, DIR_EGRESS, f); return 1; }
P(v0, 0)
P(v1, F_PARSE)
P(v2, F_PARSE|F_PEERS)
P(v3, F_PARSE|F_PEERS|F_WL)
P(v4, F_PARSE|F_PEERS|F_WL|F_SK)
P(v5, F_PARSE|F_PEERS|F_WL|F_PROCS)

struct sk_counts { __u64 packets[2]; __u64 bytes[2]; };
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_counts);
} sk_counts SEC(".maps");

static __always_inline void per_socket(struct __sk_buff *skb, enum direction dir)
{
	__u32 zero = 0;
	__u32 *e = bpf_map_lookup_elem(&epoch, &zero);
	__u64 cg = bpf_skb_cgroup_id(skb) + (e ? *e : 0);
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return;
	struct sk_counts *c = bpf_sk_storage_get(&sk_counts, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c)
		return;
	__sync_fetch_and_add(&c->packets[dir & 1], 1);
	__sync_fetch_and_add(&c->bytes[dir & 1], skb->len + (cg & 0));
}
SEC("cgroup_skb/ingress") int v6_in(struct __sk_buff *s) { per_socket(s, DIR_INGRESS); return 1; }
SEC("cgroup_skb/egress") int v6_out(struct __sk_buff *s) { per_socket(s, DIR_EGRESS); return 1; }
