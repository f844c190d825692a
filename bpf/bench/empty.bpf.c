// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark baseline (bench/, not shipped): an empty TC program. BPF_PROG_TEST_RUN of this
 * program measures everything around a program run (skb set-up is outside the timed loop;
 * the loop, the timer and the JIT call are inside), so "traffic minus empty" is what
 * tc_ingress adds per packet.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}
