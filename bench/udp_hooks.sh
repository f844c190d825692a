#!/bin/bash
# Why 64-byte UDP between two namespaces loses more packets/s with the cgroup programs attached than
# their BPF_PROG_TEST_RUN cost says (bench/WORKLOAD_COST.md, "Where the UDP rate goes"). Not a phase
# of `make bench`; run alone, as root, after `make build && scripts/mvn -q test-compile`:
#
#   bench/udp_hooks.sh stats   # per program in situ: run_cnt per datagram (exact) and run_time_ns per run
#   bench/udp_hooks.sh tput    # iperf3 -u -l 64 rate per mode, modes alternating in every round
#   bench/udp_hooks.sh perf    # perf cpu-clock samples of the sending CPU, by where they fall
#
# Two namespaces joined by a veth pair (bench/lib.sh), iperf3 client pinned to CPU 0, server to CPU 1,
# the exporter with --workloads off on the receiver's veth in every mode (its TC hooks always count),
# as bench/workloads.sh. Modes (the programs go on the cgroup v2 root, as the exporter attaches them):
#   off     nothing
#   empty   an empty cgroup_skb program (cg_empty of src/test/bpf/workload_cost.bpf.c), ingress and egress
#   cg      cgroup_wl_ingress/egress (--workloads cgroup), through WorkloadHook
#   on      what --workloads auto attaches (cgroup_proc_*, proc_sock_create, the proc_scan pass), WorkloadHook
#   v0..v6  the ablation steps of src/test/bpf/udp_hooks.bpf.c, ingress and egress (bpftool)
#   untagged  the shipped cgroup_proc_* (that object's copy) without proc_sock_create: no socket is
#           tagged, so every packet takes the storage miss + proc_scanned miss path
#
#   MODES   modes to run (default per command), ROUNDS (stats: 3, tput: 30, perf: 5)
#   PKTS    datagrams per iperf3 run (default 60000)
# Writes $OUT (default target/bench/udp_hooks) and prints the summary (bench/udp_hooks_summary.py).
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
CMD=${1:?usage: udp_hooks.sh stats|tput|perf}
. "$ROOT/bench/lib.sh"
OUT=${OUT:-$ROOT/target/bench/udp_hooks}
rm -rf "$OUT"; mkdir -p "$OUT"
PIN=/sys/fs/bpf/etx-udphooks-$BENCH_ID
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || { log "no cgroup v2 mount"; exit 1; }
ATTACHED=""
cleanup() { set +e; detach; rm -rf "$PIN"; bench_cleanup; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
# spec: prog@attach_type,... ; bpftool attaches each pinned program to the cgroup v2 root
specs() { local x; for x in ${1//,/ }; do echo "${x%@*} ${x#*@}"; done; }
attach() { local p t; ATTACHED=$1; while read -r p t; do bpftool cgroup attach "$CG2" "$t" pinned "$PIN/$p" multi; done < <(specs "$1"); }
detach() { local p t; [ -n "$ATTACHED" ] || return 0; while read -r p t; do bpftool cgroup detach "$CG2" "$t" pinned "$PIN/$p"; done < <(specs "$ATTACHED"); ATTACHED=""; }

mkdir -p "$OUT/obj" "$PIN/w" "$PIN/a"
CFLAGS="-O2 -g -Wall -Werror -target bpf -I/usr/include/$(uname -m)-linux-gnu -I$ROOT/bpf"
clang $CFLAGS -c "$ROOT/src/test/bpf/workload_cost.bpf.c" -o "$OUT/obj/workload_cost.bpf.o"
clang $CFLAGS -c "$ROOT/src/test/bpf/udp_hooks.bpf.c" -o "$OUT/obj/udp_hooks.bpf.o"
bpftool prog loadall "$OUT/obj/workload_cost.bpf.o" "$PIN/w"
bpftool prog loadall "$OUT/obj/udp_hooks.bpf.o" "$PIN/a" pinmaps "$PIN/am"

JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
CP=$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar
workload_bench_setup
mode() {
    detach
    case $1 in
        off) hook off ;;
        cg|on) hook "$1" ;;
        empty) hook off; attach "w/cg_empty@ingress,w/cg_empty@egress" ;;
        v[0-9]) hook off; attach "a/$1_in@ingress,a/$1_out@egress" ;;
        untagged) hook off; attach "a/cgroup_proc_ingress@ingress,a/cgroup_proc_egress@egress" ;;
        *) log "unknown mode $1"; return 1 ;;
    esac
}
PKTS=${PKTS:-60000}
iperf() { iperf_client "$IPB" -u -l 64 -b 0 -k "$PKTS"; } # one run of PKTS 64-byte datagrams
sent() { jq -r '.end.sum.packets' "$OUT/iperf.json"; }
order() { # round: the modes rotated by the round, reversed in odd rounds
    local -a m=($MODES); local n=${#m[@]} k
    for k in $(seq 0 $((n - 1))); do
        if [ $(($1 % 2)) = 0 ]; then echo "${m[$(((k + $1) % n))]}"; else echo "${m[$(((n - 1 - k + $1) % n))]}"; fi
    done
}

case $CMD in
stats)
    MODES=${MODES:-empty v0 v1 v2 v3 v4 v5 cg on}; ROUNDS=${ROUNDS:-3}
    BPF_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled); sysctl -qw kernel.bpf_stats_enabled=1
    echo "round,mode,datagrams,prog,type,runs,run_time_ns" > "$OUT/stats.csv"
    for r in $(seq "$ROUNDS"); do
        for m in $(order "$r"); do
            mode "$m"; sleep 0.3
            bpftool -j prog show > "$OUT/before.json"
            iperf
            bpftool -j prog show > "$OUT/after.json"
            # Only our own programs: the ones attached for this mode, found by name (other jobs may run others).
            jq -r --slurpfile b "$OUT/before.json" --arg r "$r" --arg m "$m" --arg n "$(sent)" '
                ($b[0] | map({key: (.id | tostring), value: .}) | from_entries) as $old
                | .[] | select(.type == "cgroup_skb" or .type == "cgroup_sock")
                | select(.name | test("^(cg_empty|v[0-9]_(in|out)|cgroup_wl_|cgroup_proc_|proc_sock_create)"))
                | . as $p | ($old[$p.id | tostring] // {run_cnt: 0, run_time_ns: 0}) as $o
                | select(($p.run_cnt // 0) > ($o.run_cnt // 0))
                | [$r, $m, $n, $p.name, $p.type, ($p.run_cnt - ($o.run_cnt // 0)), ($p.run_time_ns - ($o.run_time_ns // 0))] | @csv' \
                "$OUT/after.json" | tr -d '"' >> "$OUT/stats.csv"
        done
    done
    ;;
tput)
    MODES=${MODES:-off empty cg on}; ROUNDS=${ROUNDS:-30}
    echo "round,mode,sent_pps,read_pps" > "$OUT/tput.csv"
    for m in $MODES; do mode "$m"; iperf; done # warm-up, discarded
    for r in $(seq "$ROUNDS"); do
        for m in $(order "$r"); do
            mode "$m"; iperf
            jq -r --arg r "$r" --arg m "$m" '.end.sum as $s | [$r, $m, ($s.packets / $s.seconds), (($s.packets - $s.lost_packets) / $s.seconds)] | @csv' \
                "$OUT/iperf.json" | tr -d '"' >> "$OUT/tput.csv"
        done
    done
    ;;
perf)
    MODES=${MODES:-off empty cg on}; ROUNDS=${ROUNDS:-5}
    command -v perf > /dev/null || { log "perf is not installed (Debian: linux-perf)"; exit 1; }
    for r in $(seq "$ROUNDS"); do
        for m in $(order "$r"); do
            mode "$m"; sleep 0.3
            perf record -q -g -C 0 -e cpu-clock -c 25000 -o "$OUT/perf-$r-$m.data" 2> /dev/null &
            PERF_PID=$!; sleep 0.5
            iperf
            kill -INT "$PERF_PID"; wait "$PERF_PID" || true
            sent > "$OUT/perf-$r-$m.datagrams"
            perf script -i "$OUT/perf-$r-$m.data" --comm iperf3 -F ip,sym 2> /dev/null > "$OUT/perf-$r-$m.script"
            rm -f "$OUT/perf-$r-$m.data"
        done
    done
    ;;
*) log "usage: udp_hooks.sh stats|tput|perf"; exit 2 ;;
esac
mode off
python3 "$ROOT/bench/udp_hooks_summary.py" "$CMD" "$OUT"
