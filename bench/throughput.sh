#!/bin/bash
# Phase 2: iperf3 through a veth pair between two namespaces, with the exporter attached on
# both hooks of the receiver's end vs not attached, alternating (off,on / on,off per round).
# TCP bulk (bits/s) and UDP with 64-byte payloads (packets/s). The client is pinned to CPU 0 and
# the server to CPU 1. For UDP the figure compared is the client's send rate with -b 0: the
# veth delivers synchronously, so the receive path up to the server's socket (our hook
# included) runs in the sending CPU's softirq, and every sent packet crossed the hook. What
# the server then read (sent - lost at its socket buffer) is recorded too.
set -euo pipefail
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROUNDS=2; SECS=2; else ROUNDS=6; SECS=3; fi
PORT=$((20000 + RANDOM % 20000))
bench_ns_setup
ip netns exec "$NSB" taskset -c 1 iperf3 -s -B "$IPB" -p 5201 >/dev/null 2>&1 &
bench_track $!
sleep 0.5
CSV=$OUT/throughput.csv
echo "round,mode,proto,bits_per_second,packets,lost,seconds,pps,sent_pps" > "$CSV"
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then modes="off on"; else modes="on off"; fi
    for mode in $modes; do
        if [ "$mode" = on ]; then
            exporter_start "$PORT" ""
            exporter_wait_ready "$PORT"
        fi
        for proto in tcp udp; do
            if [ "$proto" = tcp ]; then
                ip netns exec "$NSA" taskset -c 0 iperf3 -c "$IPB" -p 5201 -t "$SECS" -O 1 -J > "$OUT/iperf.json"
                jq -r --arg r "$r" --arg m "$mode" '[$r, $m, "tcp", .end.sum_received.bits_per_second, "", "", .end.sum_received.seconds, "", ""] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
            else
                ip netns exec "$NSA" taskset -c 0 iperf3 -c "$IPB" -p 5201 -u -l 64 -b 0 -t "$SECS" -O 1 -J > "$OUT/iperf.json"
                jq -r --arg r "$r" --arg m "$mode" '.end.sum as $s | [$r, $m, "udp", $s.bits_per_second, $s.packets, $s.lost_packets, $s.seconds, (($s.packets - $s.lost_packets) / $s.seconds), ($s.packets / $s.seconds)] | @csv' "$OUT/iperf.json" | tr -d '"' >> "$CSV"
            fi
            log "throughput: round $r exporter=$mode $proto: $(tail -1 "$CSV")"
        done
        if [ "$mode" = on ]; then
            bench_stop "$EXPORTER_PID"
            PORT=$((PORT + 1))
        fi
    done
done
