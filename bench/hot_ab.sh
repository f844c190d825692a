#!/bin/bash
# BPF_PROG_TEST_RUN cost of the flows path before and after the hot slots (bench/HOT_PAIR.md):
#   sudo bench/hot_ab.sh REF PAIRS [KernelCostBench args]
# builds three traffic.bpf.o: git REF's ("before"), the working tree's ("hot"), and the working tree's
# with HOT_AFTER so high that no entry ever takes a hot slot ("nohot": the path of an entry below
# HOT_AFTER packets in its epoch; a repeated run of one pair is past it after 1,024 runs). Then runs
# KernelCostBench (one pair repeated, next to the empty program and the floor) and MapScaleBench (one
# pair from one CPU and from both CPUs at once) PAIRS times for each, in rotating order; only the
# embedded object differs. Results: target/bench/hot_ab/{before,hot,nohot}-N/. Run `make build` first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${1:?usage: hot_ab.sh REF PAIRS [args]}; PAIRS=${2:-3}; shift 2 || true
[ "$(id -u)" = 0 ] || { echo "hot_ab: run as root" >&2; exit 1; }
B=$ROOT/target/bench/hot_ab
rm -rf "$B"; mkdir -p "$B/src" "$B/before/bpf" "$B/nohot/bpf"
git -C "$ROOT" show "$REF:bpf/traffic.bpf.c" > "$B/src/traffic.bpf.c"
git -C "$ROOT" show "$REF:bpf/traffic.h" > "$B/src/traffic.h"
CFLAGS="-O2 -g -Wall -Werror -target bpf -I/usr/include/$(uname -m)-linux-gnu"
clang $CFLAGS -I"$B/src" -c "$B/src/traffic.bpf.c" -o "$B/before/bpf/traffic.bpf.o"
clang $CFLAGS -I"$ROOT/bpf" -DHOT_AFTER=0xffffffffffffffffULL -c "$ROOT/bpf/traffic.bpf.c" -o "$B/nohot/bpf/traffic.bpf.o"
for p in empty floor shared; do
    clang $CFLAGS -I"$ROOT/bpf" -c "$ROOT/bpf/bench/$p.bpf.c" -o "$ROOT/target/bench/$p.bpf.o"
done
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
CP=$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar
V=(${HOT_AB_VARIANTS:-before hot nohot})
for i in $(seq "$PAIRS"); do
    for k in $(seq 0 $(( ${#V[@]} - 1 ))); do
        which=${V[$(( (k + i) % ${#V[@]} ))]}
        cp=$CP; [ "$which" != hot ] && cp=$B/$which:$CP
        echo "[hot_ab $(date +%T)] round $i: $which" >&2
        "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" \
            dev.ebpftraffic.bench.KernelCostBench --out "$B/$which-$i" --objdir "$ROOT/target/bench" "$@"
        "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" \
            dev.ebpftraffic.bench.MapScaleBench --out "$B/$which-$i" --objdir "$ROOT/target/bench" "$@"
    done
done
