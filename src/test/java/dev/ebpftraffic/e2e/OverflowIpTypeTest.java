package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.LinkStats;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.PacketSocket;
import dev.ebpftraffic.testing.Snapshot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The exporter fills the kernel's "ip_groups" trie from --config.file: with full flows maps
 * (--map-size 1), packets to a range a group marks private land in the private overflow counter,
 * like the pairs userspace labels. Frames are sent with a packet socket into b's veth in one burst
 * right after a scrape, so the maps hold only the burst's first pair of each family.
 */
@KernelTest
@Timeout(120)
class OverflowIpTypeTest {

    @Test
    void overflowedPacketsToAPrivateGroupAreClassedPrivate() throws Exception {
        Path config = Files.createTempFile("overflow-groups", ".yml");
        try (NetNs net = NetNs.pair()) {
            Files.writeString(config, """
                    groups:
                      ours:
                        cidrs: [198.51.100.0/24, "2001:db8:5::/48"]
                        private: true
                      theirs:
                        cidrs: [198.51.100.128/25]
                    """);
            net.addPair("10.89.0.1", "10.89.0.2", 24);
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "overflow-groups", "--iface", net.ifB,
                    "--addr", ExporterProcess.LISTEN, "--map-size", "1", "--config.file", config.toString()));
            exporter.awaitAttached(Duration.ofSeconds(30));
            LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(1500), Duration.ofSeconds(20));
            Snapshot before = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));

            byte[] filler4 = frame("10.89.0.77", "10.89.0.78");
            byte[] filler6 = frame("fd00:89::77", "fd00:89::78");
            byte[] ours4 = frame("10.89.0.77", "198.51.100.9");
            byte[] ours6 = frame("fd00:89::77", "2001:db8:5::9");
            byte[] theirs = frame("10.89.0.77", "198.51.100.200");
            byte[] doc = frame("10.89.0.77", "203.0.113.9");
            try (PacketSocket sa = PacketSocket.open(net.a, net.ifA)) {
                for (byte[] f : new byte[][] {filler4, filler6, ours4, ours4, ours6, theirs, doc, doc}) {
                    sa.send(PacketSocket.withMacs(f, net.macB, net.macA));
                }
            }
            LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(500), Duration.ofSeconds(20));
            Snapshot after = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
            String ctx = "\n" + after.metrics().text();
            assertEquals(3, overflow(before, after, "packets", "private"), "to the private group: 2 IPv4, 1 IPv6" + ctx);
            assertEquals(2L * ours4.length + ours6.length, overflow(before, after, "bytes", "private"), ctx);
            assertEquals(3, overflow(before, after, "packets", "public"), "the more specific public CIDR and a documentation address" + ctx);
            assertEquals(theirs.length + 2L * doc.length, overflow(before, after, "bytes", "public"), ctx);
        } finally {
            Files.deleteIfExists(config);
        }
    }

    private static byte[] frame(String src, String dst) {
        return dst.contains(":")
                ? Frames.ethernet().ipv6(src, dst).udp(7, 9).payload(20).build()
                : Frames.ethernet().ipv4(src, dst).udp(7, 9).payload(20).build();
    }

    private static long overflow(Snapshot before, Snapshot after, String unit, String ipType) {
        String name = "ebpf_traffic_exporter_flow_map_overflow_" + unit + "_total";
        Predicate<Metrics.Sample> f = s -> "inbound".equals(s.label("direction")) && ipType.equals(s.label("ip_type"));
        return after.metrics().sum(name, f) - before.metrics().sum(name, f);
    }
}
