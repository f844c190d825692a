#!/bin/bash
# Regenerates bench/REPORT.md and bench/*.png on this machine. Run it through `sudo make bench`
# (which installs the tools and builds first); it needs root (BPF, namespaces, cgroups).
#
#   BENCH_QUICK=1          a short smoke run (numbers too noisy to quote)
#   BENCH_PHASES="kernel throughput tools jvm workloads"   a subset (the report keeps only what ran)
#
# Raw results go to target/bench/results/; only the report and the plots are committed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/target/bench/results
export ROOT OUT
[ "$(id -u)" = 0 ] || { echo "bench: run as root (sudo make bench): BPF, network namespaces and cgroups need it" >&2; exit 1; }
for t in trafgen iperf3 pmacctd iftop jq curl bpftool /usr/bin/python3; do
    command -v "$t" > /dev/null || { echo "bench: $t is missing: run \`sudo make bench\`, which installs it" >&2; exit 1; }
done
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || { echo "bench: python3-matplotlib is missing: run \`sudo make bench\`" >&2; exit 1; }
[ -f "$ROOT/target/test-classes/dev/ebpftraffic/bench/KernelCostBench.class" ] || { echo "bench: build first (make build)" >&2; exit 1; }

PHASES=${BENCH_PHASES:-kernel throughput tools jvm workloads}
rm -rf "$OUT"; mkdir -p "$OUT"
start=$(date +%s)
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
busy0=$(cpu_busy)
load_start=$(loadavg)
# bpf_stats adds two clock reads to every BPF program run (BPF_PROG_TEST_RUN included): the
# report says so if something left it on. tools.sh turns it on for itself and restores it.
stats_at_start=$(sysctl -n kernel.bpf_stats_enabled)
declare -A took
for p in $PHASES; do
    t=$(date +%s)
    bash "$ROOT/bench/$p.sh"
    took[$p]=$(( $(date +%s) - t ))
done
busy1=$(cpu_busy)
end=$(date +%s)

JAVA_HOME=$("$ROOT/scripts/find-jdk.sh")
jq -n \
    --arg date "$(date -u +%Y-%m-%dT%H:%MZ)" \
    --arg command "${BENCH_COMMAND:-sudo make bench}" \
    --arg quick "${BENCH_QUICK:-0}" \
    --arg phases "$PHASES" \
    --arg kernel "$(uname -r)" \
    --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    --arg ncpu "$(nproc)" \
    --arg mem "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)" \
    --arg os "$(. /etc/os-release; echo "$PRETTY_NAME")" \
    --arg java "$("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 2p)" \
    --arg libbpf "$(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null)" \
    --arg tools "iperf3 $(dpkg-query -W -f='${Version}' iperf3), pmacct $(dpkg-query -W -f='${Version}' pmacct), iftop $(dpkg-query -W -f='${Version}' iftop), trafgen (netsniff-ng) $(dpkg-query -W -f='${Version}' netsniff-ng)" \
    --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+changes')" \
    --arg load_start "$load_start" --arg load_end "$(loadavg)" \
    --arg busy "$(echo "$busy0 $busy1" | awk '{ printf "%.0f", 100 * ($3 - $1) / ($4 - $2) }')" \
    --arg seconds "$((end - start))" \
    --arg bpf_stats "$stats_at_start" \
    --arg took "$(for p in $PHASES; do printf '%s %ss, ' "$p" "${took[$p]}"; done | sed 's/, $//')" \
    '$ARGS.named' > "$OUT/meta.json"

/usr/bin/python3 "$ROOT/bench/report.py" "$OUT" "$ROOT/bench"
echo "bench: wrote bench/REPORT.md and bench/*.png in $((end - start)) s (raw results in target/bench/results)"
