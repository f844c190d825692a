#!/bin/bash
# Phase 4: the JVM's own cost. Start-up (fork to first scrape, fork to "attached"), idle RSS,
# RSS and scrape time with 10k series, for the launcher's flags and alternatives, measured in
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
# The launcher's own JVM flags, as `make build` wrote them.
read -ra FLAGS <<< "$(sed -n 's/^exec "\$JAVA_HOME\/bin\/java" \(.*\) -jar .*/\1/p' "$ROOT/ebpf-traffic-exporter")"
[ ${#FLAGS[@]} -gt 0 ] || { log "cannot read the JVM flags from ./ebpf-traffic-exporter"; exit 1; }
printf '%s\n' "${FLAGS[*]}" > "$OUT/launcher_flags.txt"

bench_ns_setup

# An AOT cache (JDK 25, JEP 514/515) from one training run: start, attach, a few scrapes, exit.
log "jvm: AOT cache training run"
ip netns exec "$NSB" "$JAVA" "${FLAGS[@]}" -XX:AOTCacheOutput="$W/exporter.aot" -jar "$JAR" \
    --iface "$VB" --addr "127.0.0.1:$PORT" --log.level warn > "$W/aot-train.log" 2>&1 &
EXPORTER_PID=$!; bench_track "$EXPORTER_PID"
exporter_wait_ready "$PORT"
for _ in 1 2 3 4 5; do scrape "$PORT" > /dev/null; sleep 0.2; done
bench_stop "$EXPORTER_PID"
PORT=$((PORT + 1))

# A dynamic CDS archive the JVM makes by itself at the first exit (-XX:+AutoCreateSharedArchive,
# JDK 19+) and reuses afterwards: what a launcher can do without a separate training step.
log "jvm: auto-created CDS archive, first run"
ip netns exec "$NSB" "$JAVA" "${FLAGS[@]}" -XX:SharedArchiveFile="$W/exporter.jsa" -XX:+AutoCreateSharedArchive -jar "$JAR" \
    --iface "$VB" --addr "127.0.0.1:$PORT" --log.level warn > "$W/cds-train.log" 2>&1 &
EXPORTER_PID=$!; bench_track "$EXPORTER_PID"
exporter_wait_ready "$PORT"
for _ in 1 2 3 4 5; do scrape "$PORT" > /dev/null; sleep 0.2; done
bench_stop "$EXPORTER_PID"
PORT=$((PORT + 1))

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
    json_cmd "jdk-defaults" "$JAVA" --enable-native-access=ALL-UNNAMED -jar "$JAR"; echo ","
    if [ -s "$W/exporter.aot" ]; then
        json_cmd "launcher+aot-cache" "$JAVA" "${FLAGS[@]}" -XX:AOTCache="$W/exporter.aot" -jar "$JAR"; echo ","
    else
        log "jvm: no AOT cache was written (see $W/aot-train.log); that variant is left out"
    fi
    if [ -s "$W/exporter.jsa" ]; then
        json_cmd "launcher+auto-cds" "$JAVA" "${FLAGS[@]}" -XX:SharedArchiveFile="$W/exporter.jsa" -XX:+AutoCreateSharedArchive -jar "$JAR"; echo ","
    fi
    json_cmd "launcher+no-perfdata+c1-only-1-thread" "$JAVA" "${FLAGS[@]}" -XX:-UsePerfData -XX:CICompilerCount=1 \
        -XX:ReservedCodeCacheSize=16m -jar "$JAR"
    echo "]"
} > "$W/variants.json"

log "jvm: start-up and idle RSS, $ITER rounds"
ip netns exec "$NSB" /usr/bin/python3 "$ROOT/bench/jvm_start.py" --variants "$W/variants.json" --iface "$VB" \
    --iterations "$ITER" --port "$PORT" --out "$OUT/jvm.csv"
PORT=$((PORT + 100))

log "jvm: 10k series, $SITER rounds"
sv=launcher
[ -s "$W/exporter.aot" ] && sv=$sv,launcher+aot-cache
[ -s "$W/exporter.jsa" ] && sv=$sv,launcher+auto-cds
ip netns exec "$NSB" /usr/bin/python3 "$ROOT/bench/jvm_start.py" --variants "$W/variants.json" --iface "$VB" \
    --iterations "$SITER" --port "$PORT" --out "$OUT/jvm_series.csv" --series 10000 --series-variants "$sv" \
    --sender "ip netns exec $NSA /usr/bin/python3 $ROOT/bench/gen_series.py $VA $MACA $MACB $IPSINK 10000"
PORT=$((PORT + 100))

# Where start-up time goes: one launcher start with class-loading timestamps.
log "jvm: start-up timeline"
ip netns exec "$NSB" "$JAVA" "${FLAGS[@]}" -Xlog:class+load:file="$W/classload.log":uptime -jar "$JAR" \
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
