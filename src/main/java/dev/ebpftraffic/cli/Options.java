package dev.ebpftraffic.cli;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.libbpf.Libbpf;

/** Parsed command line. Flags take "--name value" or "--name=value". */
public record Options(String iface, ListenAddress addr, AttachMode attachMode, String libbpfPath,
                      Log.Level logLevel, boolean help, boolean version) {

    public static final String USAGE = """
            usage: ebpf-traffic-exporter [flags]

            Counts packets and bytes per (src_ip, dst_ip, direction) at the TC hook of an
            interface with eBPF and serves them as Prometheus metrics.

            flags:
              --iface NAME            interface to watch (default eth0)
              --addr ADDR             listen address for /metrics: :PORT, HOST:PORT or [IPV6]:PORT (default :9091)
              --attach-mode MODE      auto (TCX links if the kernel has them, else clsact), tcx or legacy (default auto)
              --log.level LEVEL       debug, info, warn or error (default info)
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
                case "--iface", "--addr", "--attach-mode", "--libbpf-path", "--log.level" -> {
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
        return new Options(iface, ListenAddress.parse(addr), attachMode, libbpf, Log.parseLevel(level), help, version);
    }
}
