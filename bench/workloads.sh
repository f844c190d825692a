#!/bin/bash
# Phase: what per-workload attribution costs (README "Traffic per workload", bench/WORKLOAD_COST.md).
#
# 1. Per packet, BPF_PROG_TEST_RUN (WorkloadCostBench.java): the shipped cgroup_wl_ingress and
#    cgroup_wl_egress from target/bpf/traffic.bpf.o, each next to the empty cgroup_skb program in the
#    same round (alternating order), beside the candidate designs of src/test/bpf/workload_cost.bpf.c
#    (the cheapest counter that gives a cgroup attribution, cg_skb_in/out, and socket lookups from TC).
#    Also the shipped per-process pair, cgroup_proc_ingress/egress (on the run's bare socket: no tag,
#    counted under tgid 0), and, from src/test/bpf/proc_cost.bpf.c, the same code on a tagged socket
#    (proc_tagged_in/out) beside the tag step alone (proc_tag_only), to subtract.
# 2. Throughput with attribution on against off, TCP bulk and UDP with 64-byte payloads, iperf3
#    through veth between two namespaces as in throughput.sh: the exporter runs with --workloads off
#    on the receiver's veth the whole time (its TC hooks count in all modes), and WorkloadHook.java
#    attaches the exporter's own cgroup programs (the embedded object, through WorkloadAttachment) to
#    the cgroup v2 root: mode "on" what --workloads auto attaches (per process: cgroup_proc_ingress/
#    egress, proc_sock_create, and the proc_scan pass at each attach), mode "cg" the per-workload pair
#    cgroup_wl_ingress/egress only (as --workloads cgroup), mode "off" nothing. Each round runs the
#    three modes back to back, in an order that cycles through the six permutations; the report judges
#    the median paired ratio (on/off, cg/off) by its 95% confidence interval, as for the throughput
#    phase. Attached to the root, the programs see every local socket of the machine (as in
#    production), not only iperf3's.
#
#   WL_TPUT_SECONDS  time for the rounds (default 180; 30 with BENCH_QUICK=1)
#   TPUT_RUN_S       target length of one iperf3 run (default 0.3)
#   TPUT_CPU_SHARES  cpu.shares of the phase's cgroup (default 10240; 0: no priority)
# Needs: ROOT, OUT (exported by run.sh). Writes $OUT/workload_cost.csv and $OUT/workload_tput.csv.
set -euo pipefail
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
if [ "${BENCH_QUICK:-0}" = 1 ]; then BUDGET=${WL_TPUT_SECONDS:-30}; set -- --rounds 6 --repeat 200000
else BUDGET=${WL_TPUT_SECONDS:-180}; set -- --rounds 30 --repeat 1000000; fi
mkdir -p "$ROOT/target/bench" "$OUT"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu \
    -c "$ROOT/src/test/bpf/workload_cost.bpf.c" -o "$ROOT/target/bench/workload_cost.bpf.o"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -I"$ROOT/bpf" \
    -c "$ROOT/src/test/bpf/proc_cost.bpf.c" -o "$ROOT/target/bench/proc_cost.bpf.o"
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
CP=$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar
log "workload cost: BPF_PROG_TEST_RUN $*"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$CP" dev.ebpftraffic.bench.WorkloadCostBench \
    --obj "$ROOT/target/bench/workload_cost.bpf.o" --shipped "$ROOT/target/bpf/traffic.bpf.o" \
    --proc "$ROOT/target/bench/proc_cost.bpf.o" --out "$OUT" "$@" \
    > "$OUT/workload_cost.md"

RUN_S=${TPUT_RUN_S:-0.3}
workload_bench_setup
log "workload throughput: $HOOK_READY"

CSV=$OUT/workload_tput.csv
echo "round,mode,proto,bits_per_second,packets,lost,seconds,pps,sent_pps,pair,block,subject" > "$CSV"
TCP_BYTES="" UDP_PKTS=""
iperf() { iperf_sized "$1" "$IPB"; } # proto: one run to B
run_iperf() { # round mode proto
    hook "$2"
    iperf "$3"
    if [ "$3" = tcp ]; then
        jq -r --arg r "$1" --arg m "$2" '[$r, $m, "tcp", .end.sum_received.bits_per_second, "", "", .end.sum_received.seconds, "", "", 1, 1, "workloads"] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
    else
        jq -r --arg r "$1" --arg m "$2" '.end.sum as $s | [$r, $m, "udp", $s.bits_per_second, $s.packets, $s.lost_packets, $s.seconds, (($s.packets - $s.lost_packets) / $s.seconds), ($s.packets / $s.seconds), 1, 1, "workloads"] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
    fi
}
for m in off cg on; do hook "$m"; iperf tcp; iperf udp; done # warm-up, discarded
iperf tcp
TCP_BYTES=$(jq -r --arg s "$RUN_S" '[.end.sum_received.bytes / .end.sum_received.seconds * ($s | tonumber), 10000000] | max | floor' "$OUT/iperf.json")
iperf udp
UDP_PKTS=$(jq -r --arg s "$RUN_S" '[.end.sum.packets / .end.sum.seconds * ($s | tonumber), 5000] | max | floor' "$OUT/iperf.json")
log "workload throughput: runs of $TCP_BYTES bytes (TCP) and $UDP_PKTS datagrams (UDP), about $RUN_S s each; ${BUDGET} s of rounds"
ORDERS=("off on cg" "on cg off" "cg off on" "off cg on" "cg on off" "on off cg")
r=0
end=$(awk -v t="$EPOCHREALTIME" -v b="$BUDGET" 'BEGIN { printf "%.3f", t + b }')
while awk -v t="$EPOCHREALTIME" -v e="$end" 'BEGIN { exit !(t < e) }'; do
    r=$((r + 1))
    for proto in tcp udp; do
        for m in ${ORDERS[$((r % 6))]}; do run_iperf "$r" "$m" "$proto"; done
    done
done
hook off
log "workload throughput: $r rounds"
