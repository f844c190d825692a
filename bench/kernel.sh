#!/bin/bash
# Phase 1: kernel cost per packet, BPF_PROG_TEST_RUN (see KernelCostBench.java), then the flows map's
# memory, read, insert and contention costs by map type (MapScaleBench.java, bench/SCALE.md).
# Needs: ROOT, OUT (exported by run.sh). BENCH_QUICK=1 shortens it.
set -euo pipefail
. "$ROOT/bench/lib.sh"
mkdir -p "$ROOT/target/bench"
for p in empty floor shared; do
    clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -I"$ROOT/bpf" \
        -c "$ROOT/bpf/bench/$p.bpf.c" -o "$ROOT/target/bench/$p.bpf.o"
done
if [ "${BENCH_QUICK:-0}" = 1 ]; then set -- --rounds 6 --repeat 200000 --single 3000; else set -- --rounds 30 --repeat 1000000 --single 20000; fi
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
log "kernel cost: BPF_PROG_TEST_RUN $*"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar" \
    dev.ebpftraffic.bench.KernelCostBench --out "$OUT" --objdir "$ROOT/target/bench" "$@"
if [ "${BENCH_QUICK:-0}" = 1 ]; then set -- --rounds 4 --repeat 200000 --single 500; else set -- --rounds 10 --repeat 1000000 --single 3000; fi
log "map scale: MapScaleBench $*"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar" \
    dev.ebpftraffic.bench.MapScaleBench --out "$OUT" --objdir "$ROOT/target/bench" "$@"
