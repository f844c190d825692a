package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Traffic;
import dev.ebpftraffic.testing.Traffic.Ping;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exporter, started through ./ebpf-traffic-exporter inside namespace b and attached to b's
 * veth end, counts known UDP and ICMP traffic between a and b exactly, per pair and direction,
 * over IPv4, IPv6 and the documentation ranges (ip_type="public").
 */
@KernelTest
@Timeout(120)
class EndToEndTrafficTest {
    /** a side, b side, prefix length. */
    private static final List<String[]> PAIRS = List.of(
            new String[] {"10.77.0.1", "10.77.0.2", "24"},
            new String[] {"fd00:77::1", "fd00:77::2", "64"},
            new String[] {"192.0.2.1", "192.0.2.2", "24"},
            new String[] {"2001:db8::1", "2001:db8::2", "64"});

    @Test
    void countsKnownUdpAndIcmpExactlyPerPairAndDirection() {
        try (NetNs net = NetNs.pair()) {
            for (String[] p : PAIRS) {
                net.addPair(p[0], p[1], Integer.parseInt(p[2]));
            }
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "traffic",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
            Metrics first = exporter.awaitAttached(Duration.ofSeconds(30));
            assertEquals(Set.of("ingress/tcx", "egress/tcx"),
                    first.samples("ebpf_traffic_exporter_attached").stream()
                            .peek(s -> assertEquals(net.ifB, s.label("iface")))
                            .map(s -> s.label("hook") + "/" + s.label("mode")).collect(Collectors.toSet()),
                    "auto mode on a TCX kernel attaches TCX links at both hooks");

            Traffic traffic = new Traffic(net);
            int port = 40000;
            for (String[] p : PAIRS) {
                // Payload 0 gives a 42/62-byte frame: veth does not pad to 60 bytes.
                traffic.udp(true, p[0], p[1], port++, Map.of(1, 3, 100, 4, 1000, 2, 1400, 5));
                traffic.udp(false, p[1], p[0], port++, Map.of(0, 2, 200, 3, 1200, 1));
            }
            traffic.ping(PAIRS.stream().flatMap(p -> java.util.stream.Stream.of(
                    new Ping(true, p[0], p[1], 3), new Ping(false, p[1], p[0], 2))).toArray(Ping[]::new));
            assertEquals(8, traffic.expected().size(), "two series (one per direction) per pair");

            Metrics m = exporter.scrape();
            traffic.assertExact(m, net.ifB);
            // A second scrape must not change the totals (no double counting in the exporter).
            traffic.assertExact(exporter.scrape(), net.ifB);

            // With every neighbour pinned there is no ARP/NDP: nothing non-IP, nothing malformed.
            assertEquals(List.of(), m.samples("ebpf_traffic_exporter_skipped_packets_total"), m.text());
            assertEquals(List.of(), m.samples("ebpf_traffic_exporter_flow_map_overflow_packets_total"));
            // Whatever else the stack sent (MLD reports) is reported here, and may not involve a measured address.
            Set<String> measured = PAIRS.stream().flatMap(p -> java.util.stream.Stream.of(p[0], p[1]))
                    .collect(Collectors.toSet());
            List<Metrics.Sample> noise = m.samples(s -> s.name().equals(Traffic.PACKETS)
                    && !measured.contains(s.label("src_ip")) && !measured.contains(s.label("dst_ip")));
            System.out.println("[e2e] background traffic on " + net.ifB + " besides the measured pairs: " + noise);
            for (Metrics.Sample s : noise) {
                assertTrue(s.label("src_ip").equals("::") && s.label("dst_ip").startsWith("ff02:"),
                        "unexpected background traffic (only MLD from :: expected): " + s);
            }

            int code = exporter.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code + "\n" + exporter.stderr());
        }
    }
}
