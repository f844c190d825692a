#!/bin/bash
# Phase 2: iperf3 through veth between two namespaces, with and without the exporter, side by
# side. Two identical veth pairs join the namespaces; the exporter (launcher, both hooks) watches
# the receiver's end of one of them, and each round sends the same iperf3 test over both pairs
# back to back, in alternating order. Half-way the exporter moves to the other pair, so a
# difference between the pairs themselves cancels out. No exporter restarts between the runs
# being compared, so rounds can be short and many.
#
# TCP bulk: bits/s. UDP with 64-byte payloads: packets/s sent with -b 0. veth delivers
# synchronously, so the receive path up to the server's socket (our hook included) runs in the
# sending CPU's softirq: every sent packet crossed the hook. The client is pinned to CPU 0, the
# server to CPU 1. What the server then read (sent - lost at its socket buffer) is kept too.
set -euo pipefail
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROUNDS=4; SECS=1; else ROUNDS=12; SECS=2; fi
PORT=$((20000 + RANDOM % 20000))
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
watch_pair() { # 1 or 2: (re)start the exporter on that pair's receiving end
    [ -n "${EXPORTER_PID:-}" ] && bench_stop "$EXPORTER_PID"
    local vb=$VB
    [ "$1" = 2 ] && vb=$VB2
    ip netns exec "$NSB" "$ROOT/ebpf-traffic-exporter" --iface "$vb" --addr "127.0.0.1:$PORT" --log.level warn &
    EXPORTER_PID=$!
    bench_track "$EXPORTER_PID"
    exporter_wait_ready "$PORT"
    PORT=$((PORT + 1))
    watched=$1
}

CSV=$OUT/throughput.csv
echo "round,mode,proto,bits_per_second,packets,lost,seconds,pps,sent_pps,pair" > "$CSV"
run_iperf() { # round mode proto dst pair
    local r=$1 mode=$2 proto=$3 dst=$4 pair=$5
    if [ "$proto" = tcp ]; then
        ip netns exec "$NSA" taskset -c 0 iperf3 -c "$dst" -p 5201 -t "$SECS" -J > "$OUT/iperf.json"
        jq -r --arg r "$r" --arg m "$mode" --arg p "$pair" '[$r, $m, "tcp", .end.sum_received.bits_per_second, "", "", .end.sum_received.seconds, "", "", $p] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
    else
        ip netns exec "$NSA" taskset -c 0 iperf3 -c "$dst" -p 5201 -u -l 64 -b 0 -t "$SECS" -J > "$OUT/iperf.json"
        jq -r --arg r "$r" --arg m "$mode" --arg p "$pair" '.end.sum as $s | [$r, $m, "udp", $s.bits_per_second, $s.packets, $s.lost_packets, $s.seconds, (($s.packets - $s.lost_packets) / $s.seconds), ($s.packets / $s.seconds), $p] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
    fi
}

for r in $(seq "$ROUNDS"); do
    if [ "$r" -le $((ROUNDS / 2)) ]; then want=1; else want=2; fi
    [ "$watched" = "$want" ] || watch_pair "$want"
    if [ "$want" = 1 ]; then on=$IPB; off=$NET3B.2; else on=$NET3B.2; off=$IPB; fi
    for proto in tcp udp; do
        if [ $((r % 2)) = 1 ]; then
            run_iperf "$r" off "$proto" "$off" "$((3 - want))"; run_iperf "$r" on "$proto" "$on" "$want"
        else
            run_iperf "$r" on "$proto" "$on" "$want"; run_iperf "$r" off "$proto" "$off" "$((3 - want))"
        fi
        log "throughput: round $r $proto: $(tail -2 "$CSV" | cut -d, -f2,4,9 | tr '\n' ' ')"
    done
done
