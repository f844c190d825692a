package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.IpClass;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.iface.IfaceNames;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.testing.IncreaseOracle;
import dev.ebpftraffic.testing.Metrics;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exporter read the way users read it: every scrape's traffic samples go into an increase()
 * oracle (Prometheus' arithmetic without the edge extrapolation), and the sum over all series,
 * "other" included, must equal the traffic sent, exactly, through folds, unfolds, expiry, map
 * overflow, drains and interface churn. Also: the budget holds at every scrape.
 */
class ExactIncreaseTest {
    static final long S = 1_000_000_000L;

    /** The collector over a fake kernel, with a clock the test steps. */
    static final class Rig {
        final FakeFlowReader reader;
        final IfaceNames names = new IfaceNames(i -> null);
        final TrafficCollector collector;
        final PrometheusRegistry registry = new PrometheusRegistry();
        final List<String> errors = new ArrayList<>();
        final int budget;
        long now = 1_000 * S;
        long sentPackets;
        long sentBytes;
        long overflowSent;

        Rig(int mapSize, FlowAggregator.Settings settings) {
            reader = new FakeFlowReader(mapSize);
            budget = settings.maxSeries();
            collector = new TrafficCollector(reader, new FlowAggregator(settings, Labeler.plain()), names, List::of,
                    new BuildInfo("v", "j"), errors::add);
            collector.clock(() -> now);
            registry.register(collector);
        }

        /** Like the BPF program: into the pair's entry, or, with the family's map full, its overflow stat. */
        void send(int ifindex, Direction d, String src, String dst, long packets, long bytes) {
            FlowKey k = FakeFlowReader.key(ifindex, d, src, dst);
            boolean full = !reader.flows.containsKey(k)
                    && reader.flows.keySet().stream().filter(x -> x.ipv4() == k.ipv4()).count() >= reader.capacity;
            if (full) {
                KernelStat s = IpClass.PRIVATE.equals(IpClass.of(k.dst())) ? KernelStat.OVERFLOW_PRIVATE : KernelStat.OVERFLOW_PUBLIC;
                overflowSent += packets;
                reader.stats.merge(new StatKey(ifindex, d, s), new long[]{packets, bytes}, (a, b) -> new long[]{a[0] + b[0], a[1] + b[1]});
            } else {
                reader.send(k, packets, bytes);
            }
            sentPackets += packets;
            sentBytes += bytes;
        }

        /** One scrape, alternately through the streaming writer and the client library. */
        Metrics scrape(boolean streaming) throws IOException {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (streaming) {
                collector.writeTrafficText(out, false);
                PrometheusTextFormatWriter.create().write(out, registry.scrape(n -> !TrafficCollector.isTrafficName(n)));
            } else {
                PrometheusTextFormatWriter.create().write(out, registry.scrape());
            }
            return Metrics.parse(out.toString(StandardCharsets.UTF_8));
        }
    }

    static Map<String, Long> values(Metrics m, String name) {
        Map<String, Long> out = new HashMap<>();
        for (Metrics.Sample s : m.samples(name)) {
            out.put(new java.util.TreeMap<>(s.labels()).toString(), (long) s.value());
        }
        return out;
    }

    @Test
    void sumOfIncreaseOverEveryScrapeEqualsTheTrafficSent() throws IOException {
        Rig t = new Rig(8, new FlowAggregator.Settings(10, 15 * S, 3 * S, 60));
        IncreaseOracle packets = new IncreaseOracle();
        IncreaseOracle bytes = new IncreaseOracle();
        Random r = new Random(20261201L);
        List<Integer> live = new ArrayList<>();
        int nextIfindex = 10;
        for (int i = 0; i < 3; i++) {
            t.names.put(nextIfindex, "veth" + nextIfindex);
            live.add(nextIfindex++);
        }
        int folds = 0;
        int steps = 400;
        int maxSeen = 0;
        List<String> overBudget = new ArrayList<>();
        TreeSet<String> everExported = new TreeSet<>();
        for (int step = 0; step < steps + 4; step++) {
            t.now += S;
            if (step < steps) {
                int n = r.nextInt(r.nextInt(20) == 0 ? 40 : 12); // now and then a burst that fills the map
                for (int i = 0; i < n; i++) {
                    int ifindex = live.get(r.nextInt(live.size()));
                    // Heavy hitters whose ranking changes, and a long tail that folds and expires.
                    int src = (step / 25 + (r.nextInt(4) == 0 ? r.nextInt(40) : r.nextInt(4))) % 40;
                    long p = 1 + r.nextInt(r.nextInt(10) == 0 ? 200 : 5);
                    t.send(ifindex, r.nextBoolean() ? Direction.INBOUND : Direction.OUTBOUND, "10.9.0." + src,
                            src % 3 == 0 ? "203.0.113.7" : "10.8.0.1", p, p * (60 + r.nextInt(1400)));
                }
                if (r.nextInt(30) == 0) { // an interface goes; another comes, sometimes under the same name
                    int gone = live.remove(r.nextInt(live.size()));
                    t.collector.retire(gone);
                    String name = t.names.apply(gone);
                    t.names.gone(gone);
                    t.names.put(nextIfindex, r.nextInt(3) == 0 ? name : "veth" + nextIfindex);
                    live.add(nextIfindex++);
                }
            }
            if (r.nextInt(3) == 0) {
                t.collector.refresh(); // the timer between scrapes: nobody sees this one
            }
            Metrics m = t.scrape(step % 2 == 0);
            Map<String, Long> b = values(m, "network_traffic_bytes_total");
            Map<String, Long> p = values(m, "network_traffic_packets_total");
            if (b.size() > t.budget) { // asserted after the sums, which this test is first about
                overBudget.add("step " + step + ": " + b.size() + " series: " + b.keySet());
            }
            maxSeen = Math.max(maxSeen, b.size());
            everExported.addAll(b.keySet());
            bytes.scrape(b);
            packets.scrape(p);
            folds = (int) m.samples("ebpf_traffic_exporter_series_expired_total").getFirst().value();
        }
        assertEquals(t.sentBytes, bytes.increase(), "sum(increase(network_traffic_bytes_total))");
        assertEquals(t.sentPackets, packets.increase(), "sum(increase(network_traffic_packets_total))");
        assertEquals(List.of(), overBudget, "over the budget of " + t.budget);
        // The run did what it is meant to exercise.
        assertEquals(t.budget, maxSeen, "the budget was reached");
        assertTrue(folds > 0, "series expired");
        assertTrue(everExported.stream().filter(x -> x.contains("src_ip=other")).count() > 3, everExported.toString());
        // Three interfaces x 2 directions x 2 ip_types is more "other" groups than the budget of 10:
        // the quietest shared the catch-all.
        assertTrue(everExported.stream().anyMatch(x -> x.contains("iface=other")), everExported.toString());
        assertTrue(t.overflowSent > 0, "the kernel map overflowed");
        assertEquals(List.of(), t.errors);
    }

    /**
     * A pair that Prometheus has seen at X, then folded: X stays in the pair's own increase() and
     * must not be added to "other"'s as well. Read from a baseline where every series exists.
     */
    @Test
    void aFoldedPairIsNotCountedTwice() throws IOException {
        Rig t = new Rig(64, new FlowAggregator.Settings(4, 600 * S, 60 * S, 1000)); // 3 pairs and 1 "other"
        t.names.put(9, "eth9");
        t.send(9, Direction.INBOUND, "10.4.0.1", "10.4.1.1", 10, 1_000);
        for (int i = 2; i <= 5; i++) {
            t.send(9, Direction.INBOUND, "10.4.0." + i, "10.4.1.1", 1, 100);
        }
        IncreaseOracle bytes = new IncreaseOracle();
        for (int i = 0; i < 3; i++) { // every series exists and shows its total: the baseline
            t.now += S;
            Map<String, Long> b = values(t.scrape(true), "network_traffic_bytes_total");
            if (i == 2) {
                bytes.scrape(b);
            }
        }
        long baseline = t.sentBytes;
        t.now += S;
        t.send(9, Direction.INBOUND, "10.4.0.1", "10.4.1.1", 1_000, 1_000_000);
        bytes.scrape(values(t.scrape(true), "network_traffic_bytes_total"));
        t.now += S;
        for (int i = 2; i <= 5; i++) { // four louder pairs: the first one is folded
            t.send(9, Direction.INBOUND, "10.4.0." + i, "10.4.1.1", 5_000, 5_000_000);
        }
        Map<String, Long> b = values(t.scrape(true), "network_traffic_bytes_total");
        assertTrue(b.keySet().stream().noneMatch(k -> k.contains("src_ip=10.4.0.1,")), b.toString());
        bytes.scrape(b);
        t.now += S;
        t.send(9, Direction.INBOUND, "10.4.0.1", "10.4.1.1", 1, 10); // folded: into "other"
        bytes.scrape(values(t.scrape(false), "network_traffic_bytes_total"));
        t.now += S;
        bytes.scrape(values(t.scrape(true), "network_traffic_bytes_total"));
        assertEquals(t.sentBytes - baseline, bytes.increase());
    }

    /**
     * Twelve interfaces appear, each carries one pair, each is deleted. Their series ("other" and
     * the stats families included) go after the TTL; the budget holds at every scrape; a pair on a
     * new interface is exported.
     */
    @Test
    void interfaceChurnDoesNotEatTheBudget() throws IOException {
        Rig t = new Rig(64, new FlowAggregator.Settings(8, 3 * S, 3 * S / 2, 8 + 4 * 64));
        IncreaseOracle bytes = new IncreaseOracle();
        for (int i = 0; i < 12; i++) {
            int ifindex = 100 + i;
            t.names.put(ifindex, "tx" + i);
            for (int s = 0; s < 3; s++) {
                t.now += S / 2;
                t.send(ifindex, Direction.OUTBOUND, "10.7.0." + (i + 1), "10.7.1.1", 2, 300);
                t.send(ifindex, Direction.INBOUND, "10.7.1.1", "10.7.0." + (i + 1), 1, 90);
                t.reader.stat(ifindex, Direction.INBOUND, KernelStat.NON_IP, 1 + s, 60L * (1 + s));
                Map<String, Long> b = values(t.scrape(true), "network_traffic_bytes_total");
                assertTrue(b.size() <= 8, "interface " + i + ": " + b.size() + " series: " + b.keySet());
                bytes.scrape(b);
            }
            t.collector.retire(ifindex);
            t.names.gone(ifindex);
        }
        for (int s = 0; s < 10; s++) { // the TTL passes
            t.now += S / 2;
            Metrics m = t.scrape(s % 2 == 0);
            Map<String, Long> b = values(m, "network_traffic_bytes_total");
            assertTrue(b.size() <= 8, b.keySet().toString());
            bytes.scrape(b);
        }
        Metrics m = t.scrape(true);
        assertEquals(Map.of(), values(m, "network_traffic_bytes_total"), "series of gone interfaces are gone");
        assertEquals(List.of(), m.samples("ebpf_traffic_exporter_skipped_packets_total"), m.text());
        assertEquals(t.sentBytes, bytes.increase());

        // A pair on a new interface is exported under its own labels.
        t.names.put(200, "tx-new");
        t.send(200, Direction.OUTBOUND, "10.7.0.99", "10.7.1.1", 5, 5_000);
        t.now += S / 2;
        bytes.scrape(values(t.scrape(true), "network_traffic_bytes_total"));
        t.now += S / 2;
        Map<String, Long> b = values(t.scrape(true), "network_traffic_bytes_total");
        bytes.scrape(b);
        Long pair = b.get("{direction=outbound, dst_ip=10.7.1.1, iface=tx-new, ip_type=private, src_ip=10.7.0.99}");
        assertNotNull(pair, b.toString());
        assertEquals(5_000, pair);
        assertEquals(t.sentBytes, bytes.increase());
    }

    /**
     * Fairness: one busy interface with many loud pairs does not take the slots of another
     * interface's top pair.
     */
    @Test
    void aBusyInterfaceDoesNotStarveTheOthersTopPairs() throws IOException {
        Rig t = new Rig(256, new FlowAggregator.Settings(12, 600 * S, 60 * S, 1000));
        t.names.put(1, "busy");
        t.names.put(2, "quiet");
        for (int step = 0; step < 5; step++) {
            t.now += S;
            for (int i = 0; i < 30; i++) {
                t.send(1, Direction.INBOUND, "10.6.0." + (i + 1), "10.6.1.1", 100, 100_000);
            }
            t.send(2, Direction.INBOUND, "10.5.0.1", "10.5.1.1", 1, 100);
            t.scrape(true);
        }
        Map<String, Long> b = values(t.scrape(true), "network_traffic_bytes_total");
        assertTrue(b.size() <= 12, b.keySet().toString());
        assertEquals(500, b.get("{direction=inbound, dst_ip=10.5.1.1, iface=quiet, ip_type=private, src_ip=10.5.0.1}"),
                b.toString());
    }
}
