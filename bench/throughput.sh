#!/bin/bash
# Phase 2: iperf3 through veth between two namespaces, with and without the exporter, side by
# side. Two identical veth pairs join the namespaces; the exporter (launcher, both hooks) watches
# the receiver's end of one of them, and each round sends the same iperf3 test over both pairs
# back to back, in alternating order. The run is cut into four blocks of equal time with the
# exporter on pair 1, 2, 2, 1, so a difference between the pairs themselves, and a slow drift of
# the machine's load, cancel out. No exporter restarts between the runs being compared, so rounds
# can be short and many: the report judges the targets by a confidence interval of the median
# paired ratio, which narrows with the number of rounds (the spread of single rounds does not).
#
# TCP bulk: bits/s. UDP with 64-byte payloads: packets/s sent with -b 0. veth delivers
# synchronously, so the receive path up to the server's socket (our hook included) runs in the
# sending CPU's softirq: every sent packet crossed the hook. The client is pinned to CPU 0, the
# server to CPU 1. What the server then read (sent - lost at its socket buffer) is kept too.
#
# Then, as a reference that is not a target, the same rounds with an empty TC program attached the
# same way (TCX, ingress and egress; src/test/java/dev/ebpftraffic/bench/EmptyHook.java) in place of the exporter, for
# TPUT_EMPTY_SECONDS (empty on pair 1, then pair 2): what any program at these hooks costs on this
# path, so the exporter's figure can be read against it.
#
# Runs are sized by count, not time (iperf3 3.12 takes whole seconds only): after each exporter
# (re)start one 1-s TCP and one 1-s UDP run per pair warm up the path and are discarded; the first
# ones also size the measured runs to about TPUT_RUN_S seconds each (-n bytes for TCP, -k
# datagrams for UDP). Rounds continue until the block's share of TPUT_SECONDS is used up.
#
# The whole phase (iperf3 client and server, the exporter) runs in a cpu cgroup with 10x a normal
# session's CPU weight, so other jobs on the shared machine take less of its CPUs and the rounds
# vary less; both sides of every comparison run with the same priority.
#
#   TPUT_SECONDS     time for the measured rounds with the exporter (default 180; 24 with BENCH_QUICK=1)
#   TPUT_EMPTY_SECONDS  time for the rounds with the empty program (default 60; 12 with BENCH_QUICK=1)
#   TPUT_RUN_S       target length of one iperf3 run (default 0.3)
#   TPUT_CPU_SHARES  cpu.shares of the phase's cgroup (default 10240; 0: no priority)
set -euo pipefail
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
if [ "${BENCH_QUICK:-0}" = 1 ]; then BUDGET=${TPUT_SECONDS:-24} EMPTY_BUDGET=${TPUT_EMPTY_SECONDS:-12}
else BUDGET=${TPUT_SECONDS:-180} EMPTY_BUDGET=${TPUT_EMPTY_SECONDS:-60}; fi
mkdir -p "$ROOT/target/bench"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c "$ROOT/bpf/bench/empty.bpf.c" -o "$ROOT/target/bench/empty.bpf.o"
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
RUN_S=${TPUT_RUN_S:-0.3}
PORT=$((20000 + RANDOM % 20000))
bench_cpu_priority "${TPUT_CPU_SHARES:-10240}"
bench_ns_setup
# The second pair, same namespaces, its own /24.
VA2=${VA}x VB2=${VB}x
NET3B=10.$((0x${BENCH_ID:0:2} % 200 + 20)).$(( (0x${BENCH_ID:2:2} + 128) % 256 ))
ip link add "$VA2" netns "$NSA" type veth peer name "$VB2" netns "$NSB"
ip -n "$NSA" addr add "$NET3B.1/24" dev "$VA2"
ip -n "$NSB" addr add "$NET3B.2/24" dev "$VB2"
ip -n "$NSA" link set "$VA2" up
ip -n "$NSB" link set "$VB2" up
ip -n "$NSA" neigh replace "$NET3B.2" lladdr "$(ip -n "$NSB" -j link show "$VB2" | jq -r '.[0].address')" dev "$VA2" nud permanent
ip -n "$NSB" neigh replace "$NET3B.1" lladdr "$(ip -n "$NSA" -j link show "$VA2" | jq -r '.[0].address')" dev "$VB2" nud permanent

ip netns exec "$NSB" taskset -c 1 iperf3 -s -p 5201 >/dev/null 2>&1 &
bench_track $!
sleep 0.5

watched=""
watch_pair() { # SUBJECT PAIR: (re)start the exporter, or the empty program, on that pair's receiving end
    [ -n "${EXPORTER_PID:-}" ] && bench_stop "$EXPORTER_PID"
    local vb=$VB i
    [ "$2" = 2 ] && vb=$VB2
    if [ "$1" = exporter ]; then
        ip netns exec "$NSB" "$ROOT/ebpf-traffic-exporter" --iface "$vb" --addr "127.0.0.1:$PORT" --log.level warn &
        EXPORTER_PID=$!
        bench_track "$EXPORTER_PID"
        exporter_wait_ready "$PORT"
        PORT=$((PORT + 1))
    else
        ip netns exec "$NSB" "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
            -cp "$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar" dev.ebpftraffic.bench.EmptyHook \
            "$ROOT/target/bench/empty.bpf.o" "$vb" > "$OUT/empty-hook.log" 2>&1 &
        EXPORTER_PID=$!
        bench_track "$EXPORTER_PID"
        for i in $(seq 200); do grep -q '^attached' "$OUT/empty-hook.log" && break; sleep 0.05; done
        grep -q '^attached' "$OUT/empty-hook.log" || { log "the empty program did not attach: $(cat "$OUT/empty-hook.log")"; return 1; }
    fi
    watched="$1 $2"
}

CSV=$OUT/throughput.csv
echo "round,mode,proto,bits_per_second,packets,lost,seconds,pps,sent_pps,pair,block,subject" > "$CSV"
TCP_BYTES="" UDP_PKTS=""
iperf() { iperf_sized "$1" "$2"; } # proto dst
run_iperf() { # round mode proto dst pair block (and $subject: exporter or empty)
    local r=$1 mode=$2 proto=$3 dst=$4 pair=$5 block=$6
    iperf "$proto" "$dst"
    if [ "$proto" = tcp ]; then
        jq -r --arg r "$r" --arg m "$mode" --arg p "$pair" --arg b "$block" --arg subj "$subject" '[$r, $m, "tcp", .end.sum_received.bits_per_second, "", "", .end.sum_received.seconds, "", "", $p, $b, $subj] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
    else
        jq -r --arg r "$r" --arg m "$mode" --arg p "$pair" --arg b "$block" --arg subj "$subject" '.end.sum as $s | [$r, $m, "udp", $s.bits_per_second, $s.packets, $s.lost_packets, $s.seconds, (($s.packets - $s.lost_packets) / $s.seconds), ($s.packets / $s.seconds), $p, $b, $subj] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
    fi
}
warm_up() { # after an exporter (re)start: one discarded 1-s run per protocol and pair
    local dst proto
    for proto in tcp udp; do
        for dst in "$IPB" "$NET3B.2"; do iperf "$proto" "$dst"; done
    done
    if [ -z "$TCP_BYTES" ]; then # size the measured runs from the last (1-s) warm-up runs
        iperf tcp "$NET3B.2"
        TCP_BYTES=$(jq -r --arg s "$RUN_S" '[.end.sum_received.bytes / .end.sum_received.seconds * ($s | tonumber), 10000000] | max | floor' "$OUT/iperf.json")
        iperf udp "$NET3B.2"
        UDP_PKTS=$(jq -r --arg s "$RUN_S" '[.end.sum.packets / .end.sum.seconds * ($s | tonumber), 5000] | max | floor' "$OUT/iperf.json")
        log "throughput: runs of $TCP_BYTES bytes (TCP) and $UDP_PKTS datagrams (UDP), about $RUN_S s each; ${BUDGET} s of rounds"
    fi
}

r=0
# block: subject, pair it watches, share of the time
for block in 1 2 3 4 5 6; do
    case $block in
        1|4) subject=exporter want=1 budget=$(awk -v b="$BUDGET" 'BEGIN { print b / 4 }') ;;
        2|3) subject=exporter want=2 budget=$(awk -v b="$BUDGET" 'BEGIN { print b / 4 }') ;;
        5|6) subject=empty want=$((block - 4)) budget=$(awk -v b="$EMPTY_BUDGET" 'BEGIN { print b / 2 }') ;;
    esac
    if [ "$watched" != "$subject $want" ]; then watch_pair "$subject" "$want"; warm_up; fi
    if [ "$want" = 1 ]; then on=$IPB; off=$NET3B.2; else on=$NET3B.2; off=$IPB; fi
    end=$(awk -v t="$EPOCHREALTIME" -v b="$budget" 'BEGIN { printf "%.3f", t + b }')
    while awk -v t="$EPOCHREALTIME" -v e="$end" 'BEGIN { exit !(t < e) }'; do
        r=$((r + 1))
        for proto in tcp udp; do
            if [ $((r % 2)) = 1 ]; then
                run_iperf "$r" off "$proto" "$off" "$((3 - want))" "$block"; run_iperf "$r" on "$proto" "$on" "$want" "$block"
            else
                run_iperf "$r" on "$proto" "$on" "$want" "$block"; run_iperf "$r" off "$proto" "$off" "$((3 - want))" "$block"
            fi
        done
    done
    log "throughput: block $block ($subject on pair $want) done, $r rounds so far"
done
