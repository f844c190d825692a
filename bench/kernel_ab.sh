#!/bin/bash
# Kernel cost per packet, old program against new, alternating (bench/FLOOD.md):
#   sudo bench/kernel_ab.sh REF PAIRS [KernelCostBench args]
# builds traffic.bpf.o of git REF (e.g. main) next to the working tree's, then runs KernelCostBench
# PAIRS times for each, old and new alternately (the bench code is the working tree's; only the
# embedded object differs). Results: target/bench/ab/{old,new}-N/. Run `make build` first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${1:?usage: kernel_ab.sh REF PAIRS [args]}; PAIRS=${2:-3}; shift 2 || true
[ "$(id -u)" = 0 ] || { echo "kernel_ab: run as root" >&2; exit 1; }
OLD=$ROOT/target/bench/old
rm -rf "$OLD"; mkdir -p "$OLD/src" "$OLD/cp/bpf"
git -C "$ROOT" show "$REF:bpf/traffic.bpf.c" > "$OLD/src/traffic.bpf.c"
git -C "$ROOT" show "$REF:bpf/traffic.h" > "$OLD/src/traffic.h"
CFLAGS="-O2 -g -Wall -Werror -target bpf -I/usr/include/$(uname -m)-linux-gnu"
clang $CFLAGS -I"$OLD/src" -c "$OLD/src/traffic.bpf.c" -o "$OLD/cp/bpf/traffic.bpf.o"
for p in empty floor shared; do
    clang $CFLAGS -I"$ROOT/bpf" -c "$ROOT/bpf/bench/$p.bpf.c" -o "$ROOT/target/bench/$p.bpf.o"
done
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
CP=$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar
for i in $(seq "$PAIRS"); do
    for which in old new; do
        # Odd pairs run old first, even pairs new first.
        [ $((i % 2)) = 0 ] && which=$([ "$which" = old ] && echo new || echo old)
        cp=$CP; [ "$which" = old ] && cp=$OLD/cp:$CP
        echo "[kernel_ab $(date +%T)] pair $i: $which" >&2
        "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" \
            dev.ebpftraffic.bench.KernelCostBench --out "$ROOT/target/bench/ab/$which-$i" --objdir "$ROOT/target/bench" "$@"
    done
done
