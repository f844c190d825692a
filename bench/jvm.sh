#!/bin/bash
# Phase 4: the JVM's own cost. Start-up (fork to first scrape, fork to "attached"), idle RSS,
# RSS and scrape time with 10k series, for the launcher (with the AOT cache of `make build`), the
# launcher before it, the launcher's fallback without the cache, and JDK defaults, measured in
# alternating order by bench/jvm_start.py inside the receiver namespace.
set -euo pipefail
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
if [ "${BENCH_QUICK:-0}" = 1 ]; then ITER=2; SITER=1; else ITER=6; SITER=2; fi
PORT=$((20000 + RANDOM % 20000))
W=$OUT/jvm-work
rm -rf "$W"; mkdir -p "$W"
JAVA=$("$ROOT/scripts/find-jdk.sh")/bin/java
JAR=$ROOT/target/ebpf-traffic-exporter.jar
# The launcher's JVM flags, as `make build` wrote them into ./ebpf-traffic-exporter.
read -ra FLAGS <<< "$(make -s -C "$ROOT" --no-print-directory print-jvm-flags)"
[ ${#FLAGS[@]} -gt 0 ] || { log "cannot read the JVM flags (make print-jvm-flags)"; exit 1; }
printf '%s\n' "${FLAGS[*]}" > "$OUT/launcher_flags.txt"
# The launcher before the AOT cache and the memory flags (commit c5d8677), measured side by side:
# the same JVM and jar, its flags, no cache, glibc's default malloc arenas.
BEFORE_FLAGS=(-XX:+UseSerialGC -Xms8m -Xmx256m -XX:MaxNewSize=16m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=20
              -Xss512k -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError --enable-native-access=ALL-UNNAMED)
[ -s "$ROOT/target/ebpf-traffic-exporter.aot" ] || { log "no AOT cache: run make build"; exit 1; }

# Start-up is a race between threads (main, linking ahead, the compiler): on a shared machine the
# starts get most of the CPU, as throughput.sh does for its runs (cgroup v1 cpu.shares).
bench_cpu_priority "${JVM_CPU_SHARES:-10240}"
bench_ns_setup

json_cmd() { # name, then argv
    local name=$1; shift
    printf '{"name": "%s", "cmd": [' "$name"
    local first=1 a
    for a in "$@"; do [ $first = 1 ] || printf ', '; first=0; printf '"%s"' "$a"; done
    printf ']}'
}
{
    echo "["
    json_cmd "launcher" "$ROOT/ebpf-traffic-exporter"; echo ","
    json_cmd "launcher-before" "$JAVA" "${BEFORE_FLAGS[@]}" -jar "$JAR"; echo ","
    # The launcher's fallback: what a start costs when the cache is missing or stale.
    json_cmd "launcher-without-cache" env MALLOC_ARENA_MAX=2 "$JAVA" "${FLAGS[@]}" -jar "$JAR"; echo ","
    json_cmd "jdk-defaults" "$JAVA" --enable-native-access=ALL-UNNAMED -jar "$JAR"
    echo "]"
} > "$W/variants.json"

# nsenter, not `ip netns exec`: that remounts /sys, which hides the cgroup v2 mount, and the start
# measured would be one without per-workload traffic (not the default start).
log "jvm: start-up and idle RSS, $ITER rounds"
nsenter --net="/var/run/netns/$NSB" /usr/bin/python3 "$ROOT/bench/jvm_start.py" --variants "$W/variants.json" --iface "$VB" \
    --iterations "$ITER" --port "$PORT" --out "$OUT/jvm.csv"
PORT=$((PORT + 100))

log "jvm: 10k series, $SITER rounds"
sv=launcher,launcher-before
nsenter --net="/var/run/netns/$NSB" /usr/bin/python3 "$ROOT/bench/jvm_start.py" --variants "$W/variants.json" --iface "$VB" \
    --iterations "$SITER" --port "$PORT" --out "$OUT/jvm_series.csv" --series 10000 --series-variants "$sv" \
    --sender "ip netns exec $NSA /usr/bin/python3 $ROOT/bench/gen_series.py $VA $MACA $MACB $IPSINK 10000"
PORT=$((PORT + 100))

# Where start-up time goes: one launcher start with class-loading timestamps.
log "jvm: start-up timeline"
nsenter --net="/var/run/netns/$NSB" env MALLOC_ARENA_MAX=2 "$JAVA" "${FLAGS[@]}" -XX:AOTCache="$ROOT/target/ebpf-traffic-exporter.aot" \
    -Xlog:class+load:file="$W/classload.log":uptime -jar "$JAR" \
    --iface "$VB" --addr "127.0.0.1:$PORT" --log.level warn > /dev/null 2>&1 &
EXPORTER_PID=$!; bench_track "$EXPORTER_PID"
t0=$(date +%s%N)
exporter_wait_ready "$PORT"
t1=$(date +%s%N)
bench_stop "$EXPORTER_PID"
{
    echo "milestone,uptime_s"
    for c in 'dev.ebpftraffic.app.Main ' 'dev.ebpftraffic.libbpf.Libbpf ' 'dev.ebpftraffic.bpf.BpfObject ' \
             'dev.ebpftraffic.bpf.BpfFlowReader ' 'dev.ebpftraffic.web.MetricsServer ' \
             'dev.ebpftraffic.bpf.TcAttachment ' 'io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter '; do
        # A class that is no longer loaded leaves its milestone out instead of failing the run.
        { grep -m1 -F "] $c" "$W/classload.log" || true; } | sed -E 's/^\[([0-9.]+)s\] ([^ ]+) .*/\2,\1/'
    done
    echo "ready (measured by the poller),$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    echo "classes loaded,$(grep -c 'source:' "$W/classload.log")"
} > "$OUT/jvm_timeline.csv"
