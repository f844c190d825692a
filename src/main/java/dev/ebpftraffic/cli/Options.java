package dev.ebpftraffic.cli;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.libbpf.Libbpf;

/** Parsed command line. Flags take "--name value" or "--name=value". */
public record Options(String iface, ListenAddress addr, AttachMode attachMode, String libbpfPath,
                      Log.Level logLevel, boolean help, boolean version,
                      String telemetryPath, String webConfigFile, Log.Format logFormat) {

    public static final String USAGE = """
            usage: ebpf-traffic-exporter [flags]

            Counts packets and bytes per (src_ip, dst_ip, direction) at the TC hook of an
            interface with eBPF and serves them as Prometheus metrics.

            flags:
              --iface NAME            interface to watch (default eth0)
              --addr ADDR             listen address for /metrics: :PORT, HOST:PORT or [IPV6]:PORT (default :9091)
              --web.listen-address ADDR  same as --addr
              --web.telemetry-path PATH  path of the metrics (default /metrics)
              --web.config.file FILE  TLS, basic auth and headers, in the Prometheus exporter-toolkit format
              --attach-mode MODE      auto (TCX links if the kernel has them, else clsact), tcx or legacy (default auto)
              --log.level LEVEL       debug, info, warn or error (default info)
              --log.format FORMAT     logfmt or json (default logfmt)
              --libbpf-path PATH      libbpf shared library to load (default libbpf.so.1)
              --version               print the version and exit
              -h, --help              print this help and exit
            """;

    public static Options parse(String[] args) {
        String iface = "eth0";
        String addr = ":9091";
        String mode = "auto";
        String libbpf = Libbpf.DEFAULT_PATH;
        String level = "info";
        boolean help = false;
        boolean version = false;
        String telemetryPath = "/metrics";
        String webConfigFile = null;
        String logFormat = "logfmt";
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
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
            String name = a;
            String value = null;
            int eq = a.indexOf('=');
            if (eq >= 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            switch (name) {
                case "--iface", "--addr", "--attach-mode", "--libbpf-path", "--log.level",
                     "--web.listen-address", "--web.telemetry-path", "--web.config.file", "--log.format" -> {
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException("flag " + name + " needs a value, see --help");
                        }
                        value = args[++i];
                    }
                }
                default -> throw new UsageException("unknown flag " + name + ", see --help");
            }
            switch (name) {
                case "--iface" -> iface = value;
                case "--addr" -> addr = value;
                case "--attach-mode" -> mode = value;
                case "--libbpf-path" -> libbpf = value;
                case "--log.level" -> level = value;
                case "--web.listen-address" -> addr = value;
                case "--web.telemetry-path" -> telemetryPath = value;
                case "--web.config.file" -> webConfigFile = value;
                case "--log.format" -> logFormat = value;
                default -> throw new AssertionError(name);
            }
        }
        if (iface.isEmpty()) {
            throw new UsageException("--iface is empty: name an interface, e.g. --iface eth0");
        }
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
        return new Options(iface, ListenAddress.parse(addr), attachMode, libbpf, Log.parseLevel(level), help, version,
                telemetryPath, webConfigFile, Log.parseFormat(logFormat));
    }

    /** The metrics path must be an absolute path of its own, not one of the fixed pages. */
    static void checkTelemetryPath(String p) {
        if (!p.startsWith("/") || p.equals("/") || p.startsWith("/-/")
                || !p.chars().allMatch(c -> c > 0x20 && c < 0x7f && c != '?' && c != '#')) {
            throw new UsageException("invalid --web.telemetry-path \"" + p
                    + "\": use a path such as /metrics (starting with /, not / itself, not under /-/, no spaces, ? or #)");
        }
    }
}
