package dev.ebpftraffic.cli;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.iface.IfacePatterns;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.web.ListenAddress;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Parsed command line. Flags take "--name value" or "--name=value".
 *
 * @param iface  every --iface value, joined with commas ("eth0" by default)
 * @param ifaces what --iface and --iface-exclude select
 */
public record Options(String iface, ListenAddress addr, AttachMode attachMode, String libbpfPath,
                      Log.Level logLevel, boolean help, boolean version,
                      String telemetryPath, String webConfigFile, Log.Format logFormat,
                      int maxSeries, Duration seriesTtl, int mapSize, String configFile, IfacePatterns ifaces,
                      String workloads, Kubernetes kubernetes) {
    /**
     * --kubernetes: names for the cluster's addresses.
     *
     * @param mode       off, labels (src_/dst_ namespace, workload, kind on each pair) or aggregate (and no pod IPs)
     * @param kubeconfig a kubeconfig file (outside a cluster), or null: in-cluster config
     * @param nodeName   --kubernetes.node-name, else $NODE_NAME (the downward API), or null
     */
    public record Kubernetes(String mode, String kubeconfig, String nodeName) {
        public static final List<String> MODES = List.of("off", "labels", "aggregate");

        public boolean enabled() {
            return !mode.equals("off");
        }
    }

    /** --workloads: per-workload and per-process attribution when possible (auto), per workload only and required (cgroup), or none (off). */
    public static final List<String> WORKLOAD_MODES = List.of("auto", "cgroup", "off");
    public static final int DEFAULT_MAX_SERIES = 10_000;
    public static final Duration DEFAULT_SERIES_TTL = Duration.ofMinutes(10);
    public static final int DEFAULT_MAP_SIZE = 16_384;
    static final int MAX_MAP_SIZE = 1 << 24;
    static final int MIN_MAX_SERIES = 4;

    public static final String USAGE = """
            usage: ebpf-traffic-exporter [flags]
                   ebpf-traffic-exporter top [flags]   (live view in the terminal, see top --help)

            Counts packets and bytes per (src_ip, dst_ip, direction) at the TC hook of an
            interface with eBPF and serves them as Prometheus metrics.

            flags:
              --iface NAMES           interfaces to watch: names and shell globs, comma separated, the flag
                                      may repeat (eth0,ens*); "all" = every interface but loopback (default eth0)
              --iface-exclude GLOBS   interfaces not to watch, even when --iface matches them (veth*,docker0)
              --addr ADDR             listen address for /metrics: :PORT, HOST:PORT or [IPV6]:PORT (default :9091)
              --web.listen-address ADDR  same as --addr
              --web.telemetry-path PATH  path of the metrics (default /metrics)
              --web.config.file FILE  TLS, basic auth and headers, in the Prometheus exporter-toolkit format
              --max-series N          export at most N IP-pair series, "other" included; the rest fold into
                                      src_ip="other",dst_ip="other" (default 10000; 0 = unlimited)
              --series-ttl DURATION   drop a pair idle this long, keeping its totals in "other" (default 10m)
              --map-size N            entries of each kernel flows map, IPv4 and IPv6 (default 16384)
              --config.file PATH      YAML file with CIDR groups (see README)
              --workloads MODE        traffic per workload (the sockets' cgroup v2) and per process: auto (both
                                      when cgroup v2 is mounted and the kernel allows, else less, with one
                                      line), cgroup (per workload only, required) or off (default auto)
              --kubernetes MODE       names for pod, service and node IPs from the Kubernetes API: off, labels
                                      (src_/dst_ namespace, workload and kind labels on each pair) or aggregate
                                      (the same, without the IPs of the cluster's addresses) (default off)
              --kubernetes.kubeconfig PATH  kubeconfig to use outside a cluster (default: in-cluster config)
              --kubernetes.node-name NAME   this node (default $NODE_NAME, from the downward API)
              --attach-mode MODE      auto (TCX links if the kernel has them, else clsact), tcx or legacy (default auto)
              --log.level LEVEL       debug, info, warn or error (default info)
              --log.format FORMAT     logfmt or json (default logfmt)
              --libbpf-path PATH      libbpf shared library to load (default libbpf.so.1)
              --version               print the version and exit
              -h, --help              print this help and exit
            """;

    /** The exporter's flags; each takes a value. */
    private static final Set<String> VALUE_FLAGS = Set.of("--iface", "--iface-exclude", "--addr", "--attach-mode",
            "--libbpf-path", "--log.level", "--web.listen-address", "--web.telemetry-path", "--web.config.file",
            "--log.format", "--max-series", "--series-ttl", "--map-size", "--config.file", "--workloads",
            "--kubernetes", "--kubernetes.kubeconfig", "--kubernetes.node-name");

    /** Whether name is one of the exporter's flags (all of them take a value). */
    public static boolean takesValue(String name) {
        return VALUE_FLAGS.contains(name);
    }

    public static Options parse(String[] args) {
        List<String> ifaceValues = new ArrayList<>();
        List<String> excludeValues = new ArrayList<>();
        String addr = ":9091";
        String mode = "auto";
        String libbpf = Libbpf.DEFAULT_PATH;
        String level = "info";
        String maxSeries = String.valueOf(DEFAULT_MAX_SERIES);
        String ttl = "10m";
        String mapSize = String.valueOf(DEFAULT_MAP_SIZE);
        String configFile = null;
        boolean help = false;
        boolean version = false;
        String telemetryPath = "/metrics";
        String webConfigFile = null;
        String logFormat = "logfmt";
        String workloads = "auto";
        String kubernetes = "off";
        String kubeconfig = null;
        String nodeName = null;
        Flags flags = new Flags(args, "--help");
        while (flags.next()) {
            String a = flags.arg();
            if (a.equals("-h") || a.equals("--help") || a.equals("-help")) {
                help = true;
                continue;
            }
            if (a.equals("--version")) {
                version = true;
                continue;
            }
            if (!a.startsWith("--")) {
                throw new UsageException("unexpected argument \"" + a + "\": flags start with --, see --help");
            }
            String name = flags.name();
            if (!takesValue(name)) {
                throw flags.unknown();
            }
            String value = flags.value();
            switch (name) {
                case "--iface" -> ifaceValues.add(value);
                case "--iface-exclude" -> excludeValues.add(value);
                case "--addr" -> addr = value;
                case "--attach-mode" -> mode = value;
                case "--libbpf-path" -> libbpf = value;
                case "--log.level" -> level = value;
                case "--web.listen-address" -> addr = value;
                case "--web.telemetry-path" -> telemetryPath = value;
                case "--web.config.file" -> webConfigFile = value;
                case "--log.format" -> logFormat = value;
                case "--max-series" -> maxSeries = value;
                case "--series-ttl" -> ttl = value;
                case "--map-size" -> mapSize = value;
                case "--config.file" -> configFile = value;
                case "--workloads" -> workloads = value;
                case "--kubernetes" -> kubernetes = value;
                case "--kubernetes.kubeconfig" -> kubeconfig = value;
                case "--kubernetes.node-name" -> nodeName = value;
                default -> throw new AssertionError(name);
            }
        }
        if (ifaceValues.isEmpty()) {
            ifaceValues.add("eth0");
        }
        if (ifaceValues.stream().anyMatch(String::isBlank)) {
            throw new UsageException("--iface is empty: name an interface, e.g. --iface eth0");
        }
        if (excludeValues.stream().anyMatch(String::isBlank)) {
            throw new UsageException("--iface-exclude is empty: name the interfaces to leave out, e.g. --iface-exclude 'veth*'");
        }
        IfacePatterns ifaces;
        try {
            ifaces = IfacePatterns.parse(ifaceValues, excludeValues);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        String iface = String.join(",", ifaceValues);
        AttachMode attachMode;
        try {
            attachMode = AttachMode.parse(mode);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        checkTelemetryPath(telemetryPath);
        if (webConfigFile != null && webConfigFile.isEmpty()) {
            webConfigFile = null; // as in the exporter-toolkit: an empty --web.config.file means none
        }
        if (configFile != null && configFile.isBlank()) {
            throw new UsageException("invalid --config.file \"" + configFile + "\": give the path of a YAML file, or leave the flag out");
        }
        int maxSeriesN = parseInt("--max-series", maxSeries, 0, Integer.MAX_VALUE);
        if (maxSeriesN > 0 && maxSeriesN < MIN_MAX_SERIES) {
            throw new UsageException("invalid --max-series " + maxSeries + ": must be 0 (unlimited) or at least "
                    + MIN_MAX_SERIES + ", room for the 4 \"other\" series of an interface");
        }
        Duration seriesTtl = Durations.parse("--series-ttl", ttl);
        if (seriesTtl.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new UsageException("invalid --series-ttl \"" + ttl + "\": must be at least 1s");
        }
        if (!WORKLOAD_MODES.contains(workloads)) {
            throw new UsageException("invalid --workloads \"" + workloads + "\": use auto, cgroup or off");
        }
        return new Options(iface, listenAddress(addr), attachMode, libbpf, Log.parseLevel(level), help, version,
                telemetryPath, webConfigFile, Log.parseFormat(logFormat),
                maxSeriesN, seriesTtl, parseInt("--map-size", mapSize, 1, MAX_MAP_SIZE), configFile, ifaces, workloads,
                kubernetes(kubernetes, kubeconfig, nodeName, System.getenv("NODE_NAME")));
    }

    static Kubernetes kubernetes(String mode, String kubeconfig, String nodeName, String nodeNameEnv) {
        if (!Kubernetes.MODES.contains(mode)) {
            throw new UsageException("invalid --kubernetes \"" + mode + "\": use off, labels or aggregate");
        }
        if (kubeconfig != null) {
            if (mode.equals("off")) {
                throw new UsageException("--kubernetes.kubeconfig needs --kubernetes labels or aggregate");
            }
            if (kubeconfig.isBlank()) {
                throw new UsageException("invalid --kubernetes.kubeconfig \"\": give the path of a kubeconfig file, or leave"
                        + " the flag out for the in-cluster config");
            }
            java.nio.file.Path p = java.nio.file.Path.of(kubeconfig);
            if (!java.nio.file.Files.isRegularFile(p) || !java.nio.file.Files.isReadable(p)) {
                throw new UsageException("invalid --kubernetes.kubeconfig " + kubeconfig + ": not a readable file");
            }
        }
        if (nodeName != null && nodeName.isBlank()) {
            throw new UsageException("invalid --kubernetes.node-name \"\": give the node's name, or leave the flag out"
                    + " to read $NODE_NAME");
        }
        String node = nodeName != null ? nodeName : nodeNameEnv == null || nodeNameEnv.isBlank() ? null : nodeNameEnv;
        return new Kubernetes(mode, kubeconfig, node);
    }

    private static int parseInt(String flag, String value, int min, int max) {
        long n;
        try {
            n = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new UsageException("invalid " + flag + " \"" + value + "\": not a whole number");
        }
        if (n < min || n > max) {
            throw new UsageException("invalid " + flag + " " + value + ": must be between " + min + " and " + max);
        }
        return (int) n;
    }

    /** The metrics path must be an absolute path of its own, not one of the fixed pages. */
    static void checkTelemetryPath(String p) {
        if (!p.startsWith("/") || p.equals("/") || p.startsWith("/-/")
                || !p.chars().allMatch(c -> c > 0x20 && c < 0x7f && c != '?' && c != '#')) {
            throw new UsageException("invalid --web.telemetry-path \"" + p
                    + "\": use a path such as /metrics (starting with /, not / itself, not under /-/, no spaces, ? or #)");
        }
        if (p.startsWith("/api/") || p.startsWith("/static/")) {
            throw new UsageException("invalid --web.telemetry-path \"" + p
                    + "\": /api/ and /static/ belong to the live view; use a path such as /metrics");
        }
    }

    /** The web layer checks --addr; here its refusal is a usage error (exit 2). */
    private static ListenAddress listenAddress(String addr) {
        try {
            return ListenAddress.parse(addr);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
