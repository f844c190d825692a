#!/bin/bash
# Per-packet cost of the live view's per-workload peers (WorkloadPeersCostBench.java): cgroup_wl_egress
# before the peers map (git REF, default main) and now, flag off and on, BPF_PROG_TEST_RUN.
#   sudo bench/peers_cost.sh [REF] [--rounds N] [--repeat N] [--prog P]   (P: another cgroup_skb program of both objects)
# Needs root, `make build` and the test classes (scripts/mvn -q test-compile).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${1:-main}; shift || true
OLD=$ROOT/target/bench/peers-old
rm -rf "$OLD"; mkdir -p "$OLD"
git -C "$ROOT" show "$REF:bpf/traffic.bpf.c" > "$OLD/traffic.bpf.c"
git -C "$ROOT" show "$REF:bpf/traffic.h" > "$OLD/traffic.h"
CFLAGS="-O2 -g -Wall -Werror -target bpf -I/usr/include/$(uname -m)-linux-gnu"
clang $CFLAGS -I"$OLD" -c "$OLD/traffic.bpf.c" -o "$OLD/traffic.bpf.o"
clang $CFLAGS -c "$ROOT/src/test/bpf/workload_cost.bpf.c" -o "$ROOT/target/bench/workload_cost.bpf.o"
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar" \
    dev.ebpftraffic.bench.WorkloadPeersCostBench --old "$OLD/traffic.bpf.o" --new "$ROOT/target/bpf/traffic.bpf.o" \
    --empty "$ROOT/target/bench/workload_cost.bpf.o" "$@"
