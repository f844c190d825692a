# Shared helpers for the bench/ scripts (sourced, not run).
#
# Network hygiene: everything happens in two network namespaces created here, joined by a
# veth pair, with addresses from 10.0.0.0/8 only. IPv6 is disabled on the pair so that router
# solicitations and MLD reports add nothing to the measured traffic. bench_cleanup (run from
# an EXIT trap) stops what we started, by pid, and deletes the namespaces, which removes the
# veth pair and every TC attachment on it.

BENCH_ID=${BENCH_ID:-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
NSA=ebench-a-$BENCH_ID          # sender
NSB=ebench-b-$BENCH_ID          # receiver; the exporter, pmacctd and iftop watch its end
VA=ebva$BENCH_ID                # <= 15 chars
VB=ebvb$BENCH_ID
NET3=10.$((0x${BENCH_ID:0:2} % 200 + 20)).$((0x${BENCH_ID:2:2}))
IPA=$NET3.1
IPB=$NET3.2
IPSINK=$NET3.99                 # not owned by anyone: B drops it silently (no forwarding, no ICMP)
CGROOT=/sys/fs/cgroup/cpuacct
BENCH_PIDS=""
BENCH_CGROUPS=""
BPF_STATS_OLD=""

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
# Every phase script says where it failed (set -e would otherwise exit silently).
set -E
trap 'log "$(basename "$0"): failed at line $LINENO: $BASH_COMMAND"' ERR

bench_ns_setup() {
    ip netns add "$NSA"
    ip netns add "$NSB"
    ip link add "$VA" netns "$NSA" type veth peer name "$VB" netns "$NSB"
    for ns in "$NSA" "$NSB"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip -n "$NSA" addr add "$IPA/24" dev "$VA"
    ip -n "$NSB" addr add "$IPB/24" dev "$VB"
    ip -n "$NSA" link set "$VA" up
    ip -n "$NSB" link set "$VB" up
    MACA=$(ip -n "$NSA" -j link show "$VA" | jq -r '.[0].address')
    MACB=$(ip -n "$NSB" -j link show "$VB" | jq -r '.[0].address')
    # Pinned neighbours: no ARP on the measured pair.
    ip -n "$NSA" neigh replace "$IPB" lladdr "$MACB" dev "$VA" nud permanent
    ip -n "$NSB" neigh replace "$IPA" lladdr "$MACA" dev "$VB" nud permanent
    log "namespaces $NSA ($VA $IPA) <-> $NSB ($VB $IPB)"
}

bench_track() { BENCH_PIDS="$BENCH_PIDS $*"; }

# Stops one process we started (SIGTERM, then SIGKILL after 5 s) and reaps it.
bench_stop() {
    local pid=$1 sig=${2:-TERM} i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -s "$sig" "$pid" 2>/dev/null
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
    return 0
}

# A cpuacct cgroup (cgroup v1 here) for one tool run: bench_cgroup NAME VAR sets VAR to its path.
bench_cgroup() {
    local _path=$CGROOT/ebench-$BENCH_ID-$1
    mkdir -p "$_path"
    BENCH_CGROUPS="$BENCH_CGROUPS $_path"
    printf -v "$2" '%s' "$_path"
}

# Cumulative user+system CPU of a cgroup, in ns (exited tasks included).
bench_cg_ns() { cat "$1/cpuacct.usage"; }

# Moves this shell (and so everything it starts from now on) into a cgroup-v1 cpu group with
# cpu.shares=$1 (1024 is a normal process's session): the measured processes then keep most of
# their CPU when other jobs on the shared machine compete for it. No-op without the cpu controller.
bench_cpu_priority() {
    local g=/sys/fs/cgroup/cpu/ebench-$BENCH_ID-prio
    [ -f /sys/fs/cgroup/cpu/cpu.shares ] && [ "${1:-0}" -gt 0 ] || { log "no CPU priority (no cgroup v1 cpu controller, or shares 0)"; return 0; }
    mkdir -p "$g"
    BENCH_CGROUPS="$BENCH_CGROUPS $g"
    echo "$1" > "$g/cpu.shares"
    echo $$ > "$g/cgroup.procs"
}

bench_cg_rm() { rmdir "$1" 2>/dev/null || true; }

bench_cleanup() {
    local pid cg
    set +e
    trap - ERR  # best effort: a process that exited meanwhile is no failure
    for pid in $BENCH_PIDS; do bench_stop "$pid"; done
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    for cg in $BENCH_CGROUPS; do
        [ -d "$cg" ] || continue
        # Anything still in it was started by us: move it out before removing the group.
        # (to the root of the group's own hierarchy: cpuacct, or cpu for bench_cpu_priority)
        for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$pid" > "$(dirname "$cg")/cgroup.procs" 2>/dev/null; done
        rmdir "$cg" 2>/dev/null
    done
    [ -n "$BPF_STATS_OLD" ] && sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_OLD"
    BPF_STATS_OLD=""
}

# Starts the exporter through the launcher in namespace B (optionally inside a cgroup);
# sets EXPORTER_PID. Extra args go to the launcher. EXPORTER_LAUNCHER: another build's launcher.
exporter_start() {
    local port=$1 cg=${2:-} launcher=${EXPORTER_LAUNCHER:-$ROOT/ebpf-traffic-exporter}; shift 2
    if [ -n "$cg" ]; then
        sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" \
            ip netns exec "$NSB" "$launcher" --iface "$VB" --addr "127.0.0.1:$port" --log.level warn "$@" &
    else
        ip netns exec "$NSB" "$launcher" --iface "$VB" --addr "127.0.0.1:$port" --log.level warn "$@" &
    fi
    EXPORTER_PID=$!
    bench_track "$EXPORTER_PID"
}

# One iperf3 client run from namespace A (CPU 0) to dst:5201, JSON to $OUT/iperf.json; the rest of
# the arguments are iperf3's (length, protocol). Back to back, the server may still be closing the
# previous test ("the server is busy"): retried; any other error fails.
iperf_client() {
    local dst=$1 i; shift
    for i in $(seq 100); do
        ip netns exec "$NSA" taskset -c 0 iperf3 -c "$dst" -p 5201 "$@" -J > "$OUT/iperf.json" || true
        jq -e '.error' "$OUT/iperf.json" > /dev/null 2>&1 || return 0
        grep -q 'server is busy' "$OUT/iperf.json" || { log "iperf3: $(jq -r .error "$OUT/iperf.json")"; return 1; }
        sleep 0.05
    done
    log "iperf3: the server stayed busy"
    return 1
}

# iperf_client sized by count once calibrated (TCP_BYTES, UDP_PKTS: empty for a 1 s run). proto dst
iperf_sized() {
    if [ "$1" = tcp ]; then
        if [ -n "$TCP_BYTES" ]; then iperf_client "$2" -n "$TCP_BYTES"; else iperf_client "$2" -t 1; fi
    elif [ -n "$UDP_PKTS" ]; then
        iperf_client "$2" -u -l 64 -b 0 -k "$UDP_PKTS"
    else
        iperf_client "$2" -u -l 64 -b 0 -t 1
    fi
}

# The receiver side of the workload benches (workloads.sh, udp_hooks.sh): namespaces, an iperf3
# server on CPU 1, the exporter with --workloads off on B's veth (its TC hooks count in every mode)
# and WorkloadHook, which attaches the exporter's own cgroup programs on request (hook). Needs
# JAVA_HOME and CP; sets PORT and HOOK_READY (what WorkloadHook found).
workload_bench_setup() {
    PORT=$((20000 + RANDOM % 20000))
    bench_cpu_priority "${TPUT_CPU_SHARES:-10240}"
    bench_ns_setup
    ip netns exec "$NSB" taskset -c 1 iperf3 -s -p 5201 >/dev/null 2>&1 &
    bench_track $!
    exporter_start "$PORT" "" --workloads off
    exporter_wait_ready "$PORT"
    coproc HOOK { exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$CP" dev.ebpftraffic.bench.WorkloadHook; }
    bench_track "$HOOK_PID"
    read -r -t 30 HOOK_READY <&"${HOOK[0]}" || { log "WorkloadHook did not start"; exit 1; }
}

# on|cg|off: WorkloadHook attaches (per process, or per workload only) or detaches, and answers when done.
hook() {
    local reply
    echo "$1" >&"${HOOK[1]}"
    read -r -t 10 reply <&"${HOOK[0]}" && [ "$reply" = "$1" ] || { log "WorkloadHook did not answer $1"; return 1; }
}

scrape() { ip netns exec "$NSB" curl -sf --max-time 10 "http://127.0.0.1:$1/metrics"; }

# Waits until both hooks are attached (up to 20 s).
exporter_wait_ready() {
    local port=$1 i
    for i in $(seq 400); do
        if scrape "$port" 2>/dev/null | grep -q 'ebpf_traffic_exporter_attached{.*hook="egress"'; then
            return 0
        fi
        kill -0 "$EXPORTER_PID" 2>/dev/null || { log "the exporter exited during start-up"; return 1; }
        sleep 0.05
    done
    log "the exporter did not become ready"
    return 1
}

# Exact inbound packets for src -> dst from the exporter's /metrics (0 when absent). Two scrapes:
# the first that exports a series shows it at 0 (so that increase() counts it whole).
exporter_packets() {
    local port=$1 src=$2 dst=$3
    scrape "$port" > /dev/null
    scrape "$port" | awk -v s="src_ip=\"$src\"" -v d="dst_ip=\"$dst\"" '
        /^network_traffic_packets_total\{/ && index($0, "direction=\"inbound\"") && index($0, s) && index($0, d) { n += $NF }
        END { printf "%d\n", n }'
}

# Ids of the BPF programs the exporter holds (its prog and link fds say so in fdinfo).
exporter_prog_ids() {
    # fds may close while grep reads them: ignore its complaints
    { grep -h '^prog_id:' /proc/"$EXPORTER_PID"/fdinfo/* 2>/dev/null || true; } | awk '{ print $2 }' | sort -u
}

# Sum of run_time_ns and run_cnt over the given program ids: "ns cnt".
bpf_runtime() {
    local ns=0 cnt=0 id r
    for id in "$@"; do
        r=$(bpftool -j prog show id "$id" | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"')
        ns=$((ns + ${r% *})); cnt=$((cnt + ${r#* }))
    done
    echo "$ns $cnt"
}

# trafgen config: UDP frames with a 64-byte payload from A to the sink address.
trafgen_conf() {
    local f=$1
    cat > "$f" <<EOF
{ eth(da=$MACB, sa=$MACA), ipv4(saddr=$IPA, daddr=$IPSINK, ttl=64), udp(sp=40000, dp=9), fill(0x00, 64) }
EOF
}
