#!/bin/bash
# One pair hit by one or two CPUs at once, in situ (bench/HOT_PAIR.md): trafgen sends UDP frames of one
# pair from namespace A over a veth pair, as fast as it can on one CPU ("1") or on both ("2": the
# receive path, and so the TC hook, then runs on both CPUs for the same pair). Each variant is a TC
# program attached with tc to the ingress of B's end; its in-kernel ns per packet is read from
# bpf_stats (kernel.bpf_stats_enabled, restored afterwards), the empty program's is subtracted.
# Variants and senders rotate per round, so every figure is compared with runs made seconds apart.
#
#   bench/hot_pair.sh ROUNDS NAME=OBJECT ...        as root, after make build; results in $OUT/hot_pair.csv
# OBJECT's first SEC("tc") program is attached (tc picks it); "empty" is always added.
# HOT_SENDERS (default "2 1"): the cases, each a sender count, or "1@RATE" for one sender at RATE
# packets/s (3 s of it) instead of as fast as it goes.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
OUT=${OUT:-$ROOT/target/bench/results}
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
ROUNDS=$1; shift
N=${HOT_N:-1500000}
mkdir -p "$ROOT/target/bench" "$OUT"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c "$ROOT/bpf/bench/empty.bpf.c" -o "$ROOT/target/bench/empty.bpf.o"
VARIANTS=("empty=$ROOT/target/bench/empty.bpf.o" "$@")
bench_ns_setup
W=$OUT/hot-work
mkdir -p "$W"
trafgen_conf "$W/traffic.cfg"
BPF_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
CSV=$OUT/hot_pair.csv
[ -f "$CSV" ] || echo "round,senders,variant,sent,seconds,bpf_ns,bpf_runs" > "$CSV"

run_one() {
    local round=$1 senders=${2%@*} name=${3%%=*} obj=${3#*=} id r0 r1 t0 t1 n=$N rateopt=""
    if [ "$2" != "$senders" ]; then rateopt="-b ${2#*@}pps"; n=$(( ${2#*@} * 3 )); fi
    ip netns exec "$NSB" tc qdisc add dev "$VB" clsact
    ip netns exec "$NSB" tc filter add dev "$VB" ingress bpf direct-action obj "$obj" sec tc
    id=$(ip netns exec "$NSB" tc -j filter show dev "$VB" ingress | jq -r '.. | objects | select(has("prog")) | .prog.id')
    # a few frames first: the pair's entry exists before the window
    ip netns exec "$NSA" trafgen --dev "$VA" --conf "$W/traffic.cfg" -n 2000 -P 1 -q -Q -C >/dev/null 2>&1
    r0=$(bpf_runtime "$id")
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    ip netns exec "$NSA" trafgen --dev "$VA" --conf "$W/traffic.cfg" -n "$n" $rateopt -P "$senders" -q -Q -C >/dev/null 2>&1
    t1=$(date +%s%N)
    r1=$(bpf_runtime "$id")
    ip netns exec "$NSB" tc qdisc del dev "$VB" clsact
    echo "$round,$2,$name,$n,$(( (t1 - t0) ))e-9,$(( ${r1% *} - ${r0% *} )),$(( ${r1#* } - ${r0#* } ))" >> "$CSV"
    log "hot pair: $(tail -1 "$CSV")"
}

for round in $(seq "$ROUNDS"); do
    n=${#VARIANTS[@]}
    for senders in ${HOT_SENDERS:-2 1}; do
        for i in $(seq 0 $((n - 1))); do
            j=$(( round % 2 == 0 ? (i + round) % n : (n - 1 - i + round) % n ))
            run_one "$round" "$senders" "${VARIANTS[$j]}"
        done
    done
done
