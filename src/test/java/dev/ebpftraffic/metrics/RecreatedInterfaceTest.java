package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.iface.IfaceNames;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.testing.Metrics;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Series are identified by the interface's name: an interface deleted and recreated under the same
 * name (a new ifindex) continues its counters, the last counts of the old ifindex are drained out
 * of the kernel maps under the old name, and nothing ever goes backwards.
 */
class RecreatedInterfaceTest {
    static final String A = "10.1.0.1";
    static final String B = "10.1.0.2";

    final FakeFlowReader reader = new FakeFlowReader(65536);
    final IfaceNames names = new IfaceNames(i -> null);
    final List<String> errors = new ArrayList<>();
    final TrafficCollector collector = new TrafficCollector(reader,
            new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4, Long.MAX_VALUE / 4, Integer.MAX_VALUE),
                    Labeler.plain()), names, List::of, new BuildInfo("v", "j"), errors::add);
    final PrometheusRegistry registry = new PrometheusRegistry();

    {
        registry.register(collector);
    }

    Metrics scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        return Metrics.parse(out.toString(StandardCharsets.UTF_8));
    }

    /** {packets, bytes} of the inbound A -> B series on iface, or null when there is none. */
    static long[] pair(Metrics m, String iface) {
        long[] v = {-1, -1};
        for (Metrics.Sample s : m.samples(x -> A.equals(x.label("src_ip")) && B.equals(x.label("dst_ip")))) {
            assertEquals(iface, s.label("iface"), "only " + iface + " carries A -> B: " + s);
            v[s.name().equals("network_traffic_packets_total") ? 0 : 1] = (long) s.value();
        }
        return v[0] < 0 ? null : v;
    }

    static long skipped(Metrics m, String iface, String what) {
        return m.samples("ebpf_traffic_exporter_skipped_" + what + "_total").stream()
                .filter(s -> iface.equals(s.label("iface"))).mapToLong(s -> (long) s.value()).sum();
    }

    @Test
    void deletedAndRecreatedInterfaceContinuesUnderItsName() throws IOException {
        names.put(5, "veth1");
        reader.flow(5, Direction.INBOUND, A, B, 10, 1000);
        reader.stat(5, Direction.INBOUND, KernelStat.NON_IP, 2, 120);
        Metrics m = scrape();
        assertEquals(List.of(0L, 0L), List.of(pair(m, "veth1")[0], pair(m, "veth1")[1]), "a series shows 0 in its first scrape");
        m = scrape();
        assertEquals(List.of(10L, 1000L), List.of(pair(m, "veth1")[0], pair(m, "veth1")[1]));

        // More traffic, then the interface is deleted: its kernel entries are drained under its name.
        reader.flow(5, Direction.INBOUND, A, B, 12, 1200);
        collector.retire(5);
        names.gone(5);
        assertTrue(reader.flows.isEmpty(), "every flows entry of ifindex 5 was drained: " + reader.flows);
        assertTrue(reader.stats.isEmpty(), "every stats entry of ifindex 5 was drained: " + reader.stats);
        m = scrape();
        assertEquals(12, pair(m, "veth1")[0]);
        assertEquals(1200, pair(m, "veth1")[1]);
        assertEquals(2, skipped(m, "veth1", "packets"));

        // Recreated: same name, ifindex 9. The kernel starts from zero; the exported counters continue.
        names.put(9, "veth1");
        reader.flow(9, Direction.INBOUND, A, B, 3, 300);
        reader.stat(9, Direction.INBOUND, KernelStat.NON_IP, 1, 60);
        m = scrape();
        assertEquals(15, pair(m, "veth1")[0]);
        assertEquals(1500, pair(m, "veth1")[1]);
        assertEquals(3, skipped(m, "veth1", "packets"));
        assertEquals(180, skipped(m, "veth1", "bytes"));
        assertEquals(List.of(), errors);
    }

    @Test
    void recreatedBeforeTheOldOneWasNoticedCountsBoth() throws IOException {
        // The new ifindex starts counting while the old one's entries are still in the kernel map.
        names.put(5, "eth1");
        names.put(9, "eth1");
        reader.flow(5, Direction.INBOUND, A, B, 4, 400);
        reader.flow(9, Direction.INBOUND, A, B, 1, 100);
        reader.stat(5, Direction.OUTBOUND, KernelStat.MALFORMED, 1, 10);
        reader.stat(9, Direction.OUTBOUND, KernelStat.MALFORMED, 2, 20);
        Metrics m = scrape();
        assertEquals(0, pair(m, "eth1")[0], "a series shows 0 in its first scrape");
        m = scrape();
        assertEquals(5, pair(m, "eth1")[0]);
        assertEquals(500, pair(m, "eth1")[1]);
        assertEquals(3, skipped(m, "eth1", "packets"));
        // Exactly one series per label set: the two ifindexes are one series.
        assertEquals(1, m.samples("network_traffic_packets_total").size(), m.text());
        assertEquals(1, m.samples("ebpf_traffic_exporter_skipped_packets_total").size(), m.text());

        collector.retire(5);
        names.gone(5);
        reader.flow(9, Direction.INBOUND, A, B, 2, 200);
        m = scrape();
        assertEquals(6, pair(m, "eth1")[0]);
        assertEquals(600, pair(m, "eth1")[1]);
        assertEquals(3, skipped(m, "eth1", "packets"));
    }

    @Test
    void overflowOfAGoneInterfaceStaysInOtherUnderItsName() throws IOException {
        names.put(5, "tun0");
        reader.stat(5, Direction.INBOUND, KernelStat.OVERFLOW_PUBLIC, 3, 300);
        collector.retire(5);
        names.gone(5);
        names.put(6, "tun0");
        reader.stat(6, Direction.INBOUND, KernelStat.OVERFLOW_PUBLIC, 1, 100);
        scrape(); // "other" shows 0 in its first scrape
        Metrics m = scrape();
        List<Metrics.Sample> other = m.samples(s -> s.name().equals("network_traffic_bytes_total")
                && "other".equals(s.label("src_ip")));
        assertEquals(1, other.size(), m.text());
        assertEquals("tun0", other.getFirst().label("iface"));
        assertEquals(400, (long) other.getFirst().value());
        assertEquals(4, (long) m.samples("ebpf_traffic_exporter_flow_map_overflow_packets_total").getFirst().value());
    }

    @Test
    void renamedInterfaceKeepsItsPastUnderTheOldName() throws IOException {
        names.put(5, "eth1");
        reader.flow(5, Direction.INBOUND, A, B, 4, 400);
        scrape();
        collector.retire(5);     // what the manager does on a rename: drain under the old name ...
        names.put(5, "uplink");  // ... then name the ifindex anew
        reader.flow(5, Direction.INBOUND, A, B, 1, 100);
        Metrics m = scrape();
        List<Metrics.Sample> s = m.samples("network_traffic_packets_total");
        assertEquals(2, s.size(), m.text());
        assertEquals(4, (long) s.stream().filter(x -> x.label("iface").equals("eth1")).findFirst().orElseThrow().value());
        assertEquals(0, (long) s.stream().filter(x -> x.label("iface").equals("uplink")).findFirst().orElseThrow().value());
        s = scrape().samples("network_traffic_packets_total");
        assertEquals(1, (long) s.stream().filter(x -> x.label("iface").equals("uplink")).findFirst().orElseThrow().value());
    }

    /**
     * A rename as the attach manager does it: drain under the old name, then record the new one.
     * A refresh (the timer, a scrape) that runs in between must not bind the ifindex's next
     * kernel entries to the old name (or to none): the rename is atomic for readers.
     */
    @Test
    void renameIsAtomicForReaders() throws Exception {
        names.put(5, "eth1");
        reader.flow(5, Direction.INBOUND, A, B, 4, 400);
        scrape();
        Thread[] refresher = new Thread[1];
        boolean[] finishedInside = {false};
        collector.retire(5, () -> {
            // A packet lands right after the drain, and a refresh tries to run before the new name is set.
            reader.flow(5, Direction.INBOUND, A, B, 1, 100);
            names.gone(5);
            refresher[0] = Thread.ofPlatform().start(collector::refresh);
            try {
                refresher[0].join(300);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            finishedInside[0] = !refresher[0].isAlive();
            names.put(5, "uplink");
        });
        refresher[0].join(5000);
        assertTrue(!finishedInside[0], "a refresh ran in the middle of the rename");
        scrape();
        Metrics m = scrape();
        List<Metrics.Sample> s = m.samples("network_traffic_packets_total");
        assertEquals(4, (long) s.stream().filter(x -> x.label("iface").equals("eth1")).findFirst().orElseThrow().value(), m.text());
        assertEquals(1, (long) s.stream().filter(x -> x.label("iface").equals("uplink")).findFirst().orElseThrow().value(), m.text());
        assertEquals(2, s.size(), m.text());
    }
}
