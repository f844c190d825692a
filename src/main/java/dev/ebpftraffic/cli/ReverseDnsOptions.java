package dev.ebpftraffic.cli;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * The live view's reverse DNS flags, --live.reverse-dns and --live.dns-server, taken out of the
 * arguments before the other flags are parsed (the exporter and `top --iface` share them).
 *
 * @param servers the --live.dns-server addresses, or empty for those of /etc/resolv.conf
 */
public record ReverseDnsOptions(boolean enabled, List<InetSocketAddress> servers, List<String> rest) {
    public static final String USAGE = """
            live view host names (see README "Live view"):
              --live.reverse-dns BOOL  show host names next to addresses in the live view, /api/v1/top and top,
                                       from PTR lookups (asynchronous, cached, rate-limited; default true)
              --live.dns-server ADDRS  DNS servers to ask, IP or IP:PORT ([IPV6]:PORT), comma separated
                                       (default: the nameservers of /etc/resolv.conf)
            """;
    static final String ENABLE = "--live.reverse-dns";
    static final String SERVER = "--live.dns-server";

    /** Reverse DNS on, servers from /etc/resolv.conf. */
    public static ReverseDnsOptions defaults() {
        return new ReverseDnsOptions(true, List.of(), List.of());
    }

    public static ReverseDnsOptions extract(List<String> args) {
        return extract(args, "--help");
    }

    /** help: how the command's help is asked for, for the error message ("--help", "top --help"). */
    public static ReverseDnsOptions extract(List<String> args, String help) {
        List<String> rest = new ArrayList<>();
        boolean enabled = true;
        List<InetSocketAddress> servers = List.of();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            int eq = a.startsWith("--") ? a.indexOf('=') : -1;
            String name = eq >= 0 ? a.substring(0, eq) : a;
            if (!name.equals(ENABLE) && !name.equals(SERVER)) {
                rest.add(a);
                continue;
            }
            String value;
            if (eq >= 0) {
                value = a.substring(eq + 1);
            } else if (i + 1 < args.size()) {
                value = args.get(++i);
            } else {
                throw new UsageException("flag " + name + " needs a value, see " + help);
            }
            if (name.equals(ENABLE)) {
                enabled = switch (value) {
                    case "true" -> true;
                    case "false" -> false;
                    default -> throw new UsageException("invalid " + ENABLE + " \"" + value + "\": use true or false");
                };
            } else {
                servers = servers(value);
            }
        }
        return new ReverseDnsOptions(enabled, servers, List.copyOf(rest));
    }

    static List<InetSocketAddress> servers(String value) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (String s : value.split(",", -1)) {
            out.add(server(s.strip(), value));
        }
        return List.copyOf(out);
    }

    private static InetSocketAddress server(String s, String value) {
        String host = s;
        int port = 53;
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0 || close + 1 < s.length() && s.charAt(close + 1) != ':') {
                throw bad(value);
            }
            host = s.substring(1, close);
            if (close + 1 < s.length()) {
                port = port(s.substring(close + 2), value);
            }
        } else if (s.indexOf(':') >= 0 && s.indexOf(':') == s.lastIndexOf(':')) { // IPv4:PORT
            host = s.substring(0, s.indexOf(':'));
            port = port(s.substring(s.indexOf(':') + 1), value);
        }
        if (host.isEmpty() || !host.chars().allMatch(c -> c == '.' || c == ':' || Character.digit(c, 16) >= 0)
                || host.indexOf(':') < 0 && host.chars().filter(c -> c == '.').count() != 3) { // not "10.1" for 10.0.0.1
            throw bad(value);
        }
        try {
            return new InetSocketAddress(InetAddress.ofLiteral(host), port); // a literal: never a lookup
        } catch (IllegalArgumentException e) {
            throw bad(value);
        }
    }

    private static int port(String p, String value) {
        try {
            int n = Integer.parseInt(p);
            if (n >= 1 && n <= 65535) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw bad(value);
    }

    private static UsageException bad(String value) {
        return new UsageException("invalid " + SERVER + " \"" + value
                + "\": give IP addresses, with a port if not 53: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53, comma separated");
    }
}
