package dev.ebpftraffic.testing;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generates exactly known traffic between namespace a and namespace b of a {@link NetNs} and
 * keeps what the exporter on b's veth end (ifB) must count for it: frames from a are inbound
 * there, frames from b outbound. Frame lengths include the 14-byte Ethernet header.
 */
public final class Traffic {
    /** One expected series, seen from ifB. */
    public record Key(String direction, String src, String dst) {
    }

    /** Packets and bytes. */
    public record Counts(long packets, long bytes) {
        Counts plus(long p, long b) {
            return new Counts(packets + p, bytes + b);
        }
    }

    public static final String PACKETS = "network_traffic_packets_total";
    public static final String BYTES = "network_traffic_bytes_total";

    private final NetNs net;
    private final Map<Key, Counts> expected = new LinkedHashMap<>();

    public Traffic(NetNs net) {
        this.net = net;
    }

    public static boolean isV4(String addr) {
        return addr.indexOf(':') < 0;
    }

    /** Frame length of a UDP datagram with payload bytes. */
    public static long udpFrame(String addr, int payload) {
        return 14 + (isV4(addr) ? 20 : 40) + 8 + payload;
    }

    /** Frame length of a default ping (56 bytes of data): ICMP 64 + IP header + Ethernet. */
    public static long echoFrame(String addr) {
        return 14 + (isV4(addr) ? 20 : 40) + 64;
    }

    private synchronized void expect(boolean fromA, String src, String dst, long packets, long bytes) {
        expected.merge(new Key(fromA ? "inbound" : "outbound", src, dst), new Counts(packets, bytes),
                (x, y) -> x.plus(y.packets(), y.bytes()));
    }

    /**
     * Sends count datagrams of each payload size (sizes: size -> count) from src (in a when fromA,
     * else in b) to dst:port, where a sink is bound first so nothing answers with ICMP. Asserts
     * the sink received every datagram with the right sizes.
     */
    public void udp(boolean fromA, String src, String dst, int port, Map<Integer, Integer> sizes) {
        InetAddress s = NetNs.parse(src);
        InetAddress d = NetNs.parse(dst);
        ProtocolFamily fam = d instanceof Inet4Address ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
        String srcNs = fromA ? net.a : net.b;
        String dstNs = fromA ? net.b : net.a;
        InetSocketAddress target = new InetSocketAddress(d, port);
        int total = sizes.values().stream().mapToInt(Integer::intValue).sum();
        try (DatagramChannel sink = Setns.call(dstNs, () -> {
            DatagramChannel c = DatagramChannel.open(fam);
            c.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 22);
            c.bind(target);
            c.configureBlocking(false);
            return c;
        })) {
            Setns.run(srcNs, () -> {
                try (DatagramChannel c = DatagramChannel.open(fam)) {
                    c.bind(new InetSocketAddress(s, 0));
                    for (Map.Entry<Integer, Integer> e : sizes.entrySet()) {
                        for (int i = 0; i < e.getValue(); i++) {
                            int sent = c.send(ByteBuffer.allocate(e.getKey()), target);
                            assertEquals(e.getKey(), sent, "UDP send " + src + " -> " + dst);
                        }
                    }
                }
            });
            Map<Integer, Integer> got = new TreeMap<>();
            ByteBuffer buf = ByteBuffer.allocate(65536);
            long deadline = System.nanoTime() + 5_000_000_000L;
            int n = 0;
            while (n < total && System.nanoTime() < deadline) {
                buf.clear();
                SocketAddress from = sink.receive(buf);
                if (from == null) {
                    Thread.sleep(5);
                    continue;
                }
                assertEquals(s, ((InetSocketAddress) from).getAddress(), "datagram source");
                got.merge(buf.position(), 1, Integer::sum);
                n++;
            }
            assertEquals(new TreeMap<>(sizes), got, "datagrams the sink on " + dst + " received from " + src);
            buf.clear();
            assertEquals(null, sink.receive(buf), "an extra datagram arrived at " + dst);
        } catch (Exception e) {
            throw new AssertionError("UDP " + src + " -> " + dst + ": " + e, e);
        }
        for (Map.Entry<Integer, Integer> e : sizes.entrySet()) {
            expect(fromA, src, dst, e.getValue(), e.getValue() * udpFrame(dst, e.getKey()));
        }
    }

    /** One ping run: count echo requests src -> dst from a (fromA) or b. */
    public record Ping(boolean fromA, String src, String dst, int count) {
    }

    /**
     * Runs the pings in parallel ({@code ping -c N -i 0.2 -W 1 -I src dst}), asserts every reply
     * arrived, and expects count requests src -> dst plus count replies dst -> src.
     */
    public void ping(Ping... pings) {
        List<CompletableFuture<Void>> runs = new ArrayList<>();
        for (Ping p : pings) {
            runs.add(CompletableFuture.runAsync(() -> {
                Cmd.Result r = net.exec(p.fromA() ? net.a : net.b, "ping", isV4(p.dst()) ? "-4" : "-6",
                        "-c", Integer.toString(p.count()), "-i", "0.2", "-W", "1", "-I", p.src(), p.dst());
                assertEquals(0, r.exitCode(), r.toString());
                assertTrue(r.stdout().contains(p.count() + " packets transmitted, " + p.count() + " received,"),
                        "not every echo reply arrived: " + r);
            }));
        }
        CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).join();
        for (Ping p : pings) {
            long frame = echoFrame(p.dst());
            expect(p.fromA(), p.src(), p.dst(), p.count(), p.count() * frame);
            expect(!p.fromA(), p.dst(), p.src(), p.count(), p.count() * frame);
        }
    }

    public synchronized Map<Key, Counts> expected() {
        return Map.copyOf(expected);
    }

    /** ip_type the exporter must give a destination (only the ranges tests may use). */
    public static String ipType(String dst) {
        if (dst.startsWith("10.") || dst.startsWith("192.168.") || dst.matches("172\\.(1[6-9]|2\\d|3[01])\\..*")
                || dst.matches("(?i)f[cd][0-9a-f]{2}:.*")) {
            return "private";
        }
        if (dst.startsWith("192.0.2.") || dst.startsWith("198.51.100.") || dst.startsWith("203.0.113.")
                || dst.toLowerCase().startsWith("2001:db8:")) {
            return "public";
        }
        throw new IllegalArgumentException("tests may not use " + dst);
    }

    /**
     * Asserts the scrape has exactly the expected packets and bytes for every expected series,
     * with iface and ip_type right, and that no other traffic series mentions any of the
     * addresses involved.
     */
    public void assertExact(Metrics m, String iface) {
        Map<Key, Counts> want = expected();
        Set<String> addrs = new HashSet<>();
        want.keySet().forEach(k -> {
            addrs.add(k.src());
            addrs.add(k.dst());
        });
        Map<Key, long[]> got = new LinkedHashMap<>();
        List<String> seen = new ArrayList<>();
        for (String name : List.of(PACKETS, BYTES)) {
            for (Metrics.Sample s : m.samples(name)) {
                if (!addrs.contains(s.label("src_ip")) && !addrs.contains(s.label("dst_ip"))) {
                    continue;
                }
                seen.add(s.toString());
                Key k = new Key(s.label("direction"), s.label("src_ip"), s.label("dst_ip"));
                assertEquals(iface, s.label("iface"), "iface label of " + s);
                assertEquals(ipType(k.dst()), s.label("ip_type"), "ip_type label of " + s);
                long[] v = got.computeIfAbsent(k, x -> new long[] {-1, -1});
                v[name.equals(PACKETS) ? 0 : 1] = (long) s.value();
            }
        }
        Map<Key, Counts> actual = new LinkedHashMap<>();
        got.forEach((k, v) -> actual.put(k, new Counts(v[0], v[1])));
        assertEquals(new TreeMap<>(stringKeys(want)), new TreeMap<>(stringKeys(actual)),
                "traffic series for " + addrs + " (expected vs scraped); scraped:\n" + String.join("\n", seen));
    }

    private static Map<String, Counts> stringKeys(Map<Key, Counts> m) {
        Map<String, Counts> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(k.direction() + " " + k.src() + " -> " + k.dst(), v));
        return out;
    }
}
