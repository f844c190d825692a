#!/bin/bash
# Phase 3: the exporter against pmacctd (per-host aggregation over libpcap) and iftop (text
# mode) on the same traffic: trafgen sends a known number of UDP frames (64-byte payload)
# from namespace A to a sink address behind B's veth end, where the tool under test watches.
# For each rate, every tool (and "none", the baseline) runs once per round, in rotating order.
#
# Per run: CPU of the tool's whole process tree (a cpuacct cgroup: user+sys, children and
# exited threads included; for the exporter that is the JVM), from the end of a warm-up until
# it has reported (the exporter's two scrapes at the end are inside the window); for the exporter
# also the BPF programs' own run time (kernel.bpf_stats_enabled, restored afterwards); the
# sender's CPU (softirq work on the receive path lands there); and the packets the tool counted
# for the pair vs the number sent.
#
# Warm-up, the same for every tool: once it is ready, WARM_N frames in two pairs that are not the
# measured one ($IPWARM to $IPSINK and to $IPWARMDST, so no count below includes them), for the
# exporter WARM_SCRAPES scrapes (one connection each, like the scrape that ends the window), then
# SETTLE seconds of nothing. This measures the exporter as it runs for real, not as it starts:
# the JVM loads, links and JIT-compiles the code that reads the first flows, creates the first
# series and renders them once (about 20-35 ms of CPU, measured per thread), and a scrape costs
# 6-10 ms while its code is still interpreted; after some 300 scrapes (an hour of Prometheus at a
# 15 s interval) one costs about 1.5-2 ms. At 50k packets/s for 3 s those one-time costs alone would
# be 0.1-0.2 s per Mpkt. The measured pair is still new to the tool when the window starts, and the
# BPF run-time counters are read after the warm-up too.
set -euo pipefail
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROUNDS=1; SECS=2; MAXN=600000; else ROUNDS=${BENCH_TOOL_ROUNDS:-2}; SECS=3; MAXN=1500000; fi
RATES=${BENCH_TOOL_RATES:-50000 200000 0 max2}   # packets/s; 0 = as fast as trafgen can on one core, max2 on two
# empty-bpf: an empty TC program (bpf/bench/empty.bpf.c) attached with tc, to see what bpf_stats
# and the hook itself cost per packet on this path; the exporter's added cost is the difference.
# BENCH_TOOLS picks a subset; "exporter-ref" is the exporter of another build (BENCH_REF_LAUNCHER, its
# ./ebpf-traffic-exporter), run like "exporter": a before/after comparison in the same run (bench/HOT_PAIR.md).
TOOLS=${BENCH_TOOLS:-none exporter pmacctd iftop empty-bpf}
PORT=$((20000 + RANDOM % 20000))
W=$OUT/tools-work
mkdir -p "$W"
IPTRIG=$NET3.98                              # iftop prints only when a packet arrives: a trigger pair
IPWARM=$NET3.97                              # the warm-up's pairs (see above); nobody owns these
IPWARMDST=$NET3.96
WARM_N=2000
WARM_SCRAPES=${BENCH_WARM_SCRAPES:-300}      # the exporter's scrapes before the window (see above)
SETTLE=2                                     # seconds between the warm-up and the measured window

mkdir -p "$ROOT/target/bench"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c "$ROOT/bpf/bench/empty.bpf.c" -o "$ROOT/target/bench/empty.bpf.o"
bench_ns_setup
trafgen_conf "$W/traffic.cfg"
cat > "$W/trigger.cfg" <<EOF
{ eth(da=$MACB, sa=$MACA), ipv4(saddr=$IPA, daddr=$IPTRIG, ttl=64), udp(sp=40001, dp=9), fill(0x00, 64) }
EOF
cat > "$W/warmup.cfg" <<EOF
{ eth(da=$MACB, sa=$MACA), ipv4(saddr=$IPWARM, daddr=$IPSINK, ttl=64), udp(sp=40002, dp=9), fill(0x00, 64) }
{ eth(da=$MACB, sa=$MACA), ipv4(saddr=$IPWARM, daddr=$IPWARMDST, ttl=64), udp(sp=40002, dp=9), fill(0x00, 64) }
EOF
BPF_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1

CSV=$OUT/tools.csv
echo "rate,round,tool,sent,send_s,counted,missed,resolution,tool_cpu_ns,bpf_ns,bpf_runs,sender_cpu_ns,note" > "$CSV"

# iftop shows cumulative bytes with 3 significant digits (1024-based units): prints the bytes
# for the pair and the resolution of that figure (half a unit of the last digit shown, per line).
iftop_bytes() {
    awk -v a="$IPA" -v b="$IPSINK" '
        function mult(s,  u) { u = s; sub(/^[0-9.]+/, "", u)
            return u == "KB" ? 1024 : u == "MB" ? 1048576 : u == "GB" ? 1073741824 : 1 }
        function val(s) { return (s + 0) * mult(s) }
        function res(s,  d, n) { n = s; sub(/[A-Za-z]+$/, "", n); d = index(n, ".") ? length(n) - index(n, ".") : 0
            return 0.5 * mult(s) / (10 ^ d) }
        /=>/ { h1 = $2; c1 = $NF; next }
        /<=/ && h1 != "" { h2 = $1; if ((h1 == a && h2 == b) || (h1 == b && h2 == a)) { t += val(c1) + val($NF); r += res(c1) + res($NF) }; h1 = "" }
        END { printf "%d %d\n", t, r }' "$1"
}

# The warm-up of every run (see the header): two other pairs, the exporter's scrapes, then SETTLE s.
warm_up() {
    ip netns exec "$NSA" trafgen --dev "$VA" --conf "$W/warmup.cfg" -n "$WARM_N" -b 20000pps -P 1 -q -Q -C >/dev/null 2>&1
    sleep 0.2
    if [ "$1" = exporter ] || [ "$1" = exporter-ref ]; then
        # One curl per scrape, like the one at the end of the window (a new connection each time).
        ip netns exec "$NSB" sh -c 'i=0; while [ $i -lt "$1" ]; do curl -sf --max-time 10 "$2" > /dev/null || exit 1; i=$((i + 1)); done' \
            sh "$WARM_SCRAPES" "http://127.0.0.1:$PORT/metrics"
    fi
    sleep "$SETTLE"
}

run_one() {
    local rate=$1 round=$2 tool=$3 n cg cgs pid="" cpu0 cpu1 ids="" bpf0="0 0" bpf1="0 0" counted=0 note="" t0 t1 snd resolution=0
    # 0: as fast as trafgen goes on one CPU; max2: on both CPUs, so the tools compete with the
    # senders for CPU (the bursts where a userspace capture falls behind and the kernel hook does not).
    local senders=1
    [ "$rate" = max2 ] && senders=2
    if [ "$rate" = 0 ] || [ "$rate" = max2 ]; then n=$MAXN; else n=$((rate * SECS)); fi
    bench_cgroup "$tool-$rate-$round" cg
    bench_cgroup "sender-$tool-$rate-$round" cgs
    case $tool in
        exporter|exporter-ref)
            EXPORTER_LAUNCHER=$([ "$tool" = exporter-ref ] && echo "${BENCH_REF_LAUNCHER:?exporter-ref needs BENCH_REF_LAUNCHER}" || echo "$ROOT/ebpf-traffic-exporter") \
                exporter_start "$PORT" "$cg"
            pid=$EXPORTER_PID
            exporter_wait_ready "$PORT"
            ids=$(exporter_prog_ids) ;;
        pmacctd)
            cat > "$W/pmacctd.conf" <<EOF
daemonize: false
pcap_interface: $VB
promisc: false
aggregate: src_host, dst_host
plugins: print
print_output: csv
print_output_file: $W/pmacctd.csv
print_refresh_time: 3600
EOF
            rm -f "$W/pmacctd.csv"
            sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" \
                ip netns exec "$NSB" pmacctd -f "$W/pmacctd.conf" > "$W/pmacctd.log" 2>&1 &
            pid=$!; bench_track "$pid"
            for _ in $(seq 100); do grep -q 'link type is' "$W/pmacctd.log" && break; sleep 0.05; done
            sleep 0.3 ;;
        empty-bpf)
            ip netns exec "$NSB" tc qdisc add dev "$VB" clsact
            ip netns exec "$NSB" tc filter add dev "$VB" ingress bpf direct-action obj "$ROOT/target/bench/empty.bpf.o" sec tc
            ids=$(ip netns exec "$NSB" tc -j filter show dev "$VB" ingress | jq -r '.. | objects | select(has("prog")) | .prog.id') ;;
        iftop)
            sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" \
                ip netns exec "$NSB" iftop -t -n -N -B -L 50 -i "$VB" -s $((n / (senders == 1 && rate > 0 ? rate : 400000) + 3 + SETTLE + 1)) \
                > "$W/iftop.txt" 2> "$W/iftop.err" &
            pid=$!; bench_track "$pid"
            for _ in $(seq 100); do grep -q 'MAC address' "$W/iftop.err" && break; sleep 0.05; done
            sleep 0.5 ;;
    esac
    warm_up "$tool"
    # shellcheck disable=SC2086
    if [ -n "$ids" ]; then bpf0=$(bpf_runtime $ids); fi
    cpu0=$(bench_cg_ns "$cg")
    t0=$(date +%s%N)
    local rateopt=""
    [ "$senders" = 1 ] && [ "$rate" != 0 ] && rateopt="-b ${rate}pps"
    # shellcheck disable=SC2086
    sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cgs" \
        ip netns exec "$NSA" trafgen --dev "$VA" --conf "$W/traffic.cfg" -n "$n" $rateopt -P "$senders" -q -Q -C >/dev/null 2>&1
    t1=$(date +%s%N)
    snd=$(bench_cg_ns "$cgs")
    sleep 1
    case $tool in
        exporter|exporter-ref)
            counted=$(exporter_packets "$PORT" "$IPA" "$IPSINK")
            bpf1=$(bpf_runtime $ids)
            cpu1=$(bench_cg_ns "$cg")
            bench_stop "$pid"
            PORT=$((PORT + 1)) ;;
        pmacctd)
            bench_stop "$pid" INT
            cpu1=$(bench_cg_ns "$cg")
            counted=$(awk -F, -v a="$IPA" -v b="$IPSINK" '$1 == a && $2 == b { n += $3 } END { printf "%d\n", n }' "$W/pmacctd.csv" 2>/dev/null || echo 0)
            note="pcap: $(grep -o 'received_packets=[0-9]* dropped_packets=[0-9]*' "$W/pmacctd.log" | tail -1) (incl. $WARM_N warm-up)" ;;
        iftop)
            for _ in $(seq 200); do
                kill -0 "$pid" 2>/dev/null || break
                ip netns exec "$NSA" trafgen --dev "$VA" --conf "$W/trigger.cfg" -n 1 -P 1 -q -Q -C >/dev/null 2>&1
                sleep 0.1
            done
            bench_stop "$pid"
            cpu1=$(bench_cg_ns "$cg")
            local bytes
            read -r bytes resolution <<< "$(iftop_bytes "$W/iftop.txt")"
            counted=$((bytes / 92))   # iftop counts IP length: 20 + 8 + 64
            resolution=$((resolution / 92 + 1))
            note="iftop cumulative bytes $bytes +- $((resolution * 92)) (3 significant digits)" ;;
        empty-bpf)
            bpf1=$(bpf_runtime $ids)
            cpu1=$cpu0
            counted=$(( ${bpf1#* } - ${bpf0#* } ))
            ip netns exec "$NSB" tc qdisc del dev "$VB" clsact ;;
        none)
            cpu1=$cpu0 ;;
    esac
    local missed=$((n - counted))
    [ "$tool" = none ] && missed=""
    echo "$rate,$round,$tool,$n,$(( (t1 - t0) ))e-9,$counted,$missed,$resolution,$((cpu1 - cpu0)),$(( ${bpf1% *} - ${bpf0% *} )),$(( ${bpf1#* } - ${bpf0#* } )),$snd,\"$note\"" >> "$CSV"
    log "tools: $(tail -1 "$CSV")"
    bench_cg_rm "$cg"
    bench_cg_rm "$cgs"
}

read -ra TOOLV <<< "$TOOLS"
for rate in $RATES; do
    for round in $(seq "$ROUNDS"); do
        # Rotate the order by round, and reverse it every other round.
        order=()
        for i in "${!TOOLV[@]}"; do order+=("${TOOLV[$(( (i + round - 1) % ${#TOOLV[@]} ))]}"); done
        if [ $((round % 2)) = 0 ]; then
            rev=(); for ((i = ${#order[@]} - 1; i >= 0; i--)); do rev+=("${order[$i]}"); done; order=("${rev[@]}")
        fi
        for tool in "${order[@]}"; do
            run_one "$rate" "$round" "$tool"
        done
    done
done
