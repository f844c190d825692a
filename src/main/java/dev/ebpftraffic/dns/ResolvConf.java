package dev.ebpftraffic.dns;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The nameservers of resolv.conf(5), as glibc reads them: at most 3, 127.0.0.1 when there are none. */
public final class ResolvConf {
    public static final Path DEFAULT = Path.of("/etc/resolv.conf");
    static final int MAX_SERVERS = 3;

    private ResolvConf() {
    }

    public static List<InetSocketAddress> servers(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, java.nio.charset.StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            lines = List.of();
        }
        return parse(lines);
    }

    static List<InetSocketAddress> parse(List<String> lines) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (String line : lines) {
            String[] w = line.strip().split("[ \t]+");
            if (w.length < 2 || !w[0].equals("nameserver") || out.size() >= MAX_SERVERS) {
                continue;
            }
            InetAddress a = ReverseDns.literal(w[1]); // a link-local address with %scope is not taken
            if (a != null) {
                out.add(new InetSocketAddress(a, 53));
            }
        }
        if (out.isEmpty()) {
            out.add(new InetSocketAddress(InetAddress.getLoopbackAddress(), 53));
        }
        return List.copyOf(out);
    }
}
