#!/bin/bash
# Per-packet cost of candidate designs for per-workload attribution (WorkloadCostBench.java),
# BPF_PROG_TEST_RUN. Needs root, `make build` and the test classes (scripts/mvn -q test-compile).
# Writes target/bench/results/workload_cost.csv and prints the table recorded in bench/WORKLOAD_COST.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$ROOT/target/bench"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu \
    -c "$ROOT/src/test/bpf/workload_cost.bpf.c" -o "$ROOT/target/bench/workload_cost.bpf.o"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -I"$ROOT/bpf" \
    -c "$ROOT/src/test/bpf/proc_cost.bpf.c" -o "$ROOT/target/bench/proc_cost.bpf.o"
JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "$ROOT/target/test-classes:$ROOT/target/ebpf-traffic-exporter.jar" \
    dev.ebpftraffic.bench.WorkloadCostBench --obj "$ROOT/target/bench/workload_cost.bpf.o" \
    --proc "$ROOT/target/bench/proc_cost.bpf.o" --shipped "$ROOT/target/bpf/traffic.bpf.o" --out "$ROOT/target/bench/results" "$@"
