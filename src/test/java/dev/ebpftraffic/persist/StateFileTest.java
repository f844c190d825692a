package dev.ebpftraffic.persist;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.AggregatorState;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;
import dev.ebpftraffic.metrics.CollectorState;
import dev.ebpftraffic.testing.FakeFlowReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The state file round-trips exactly, and an aggregator restored from it continues exactly as the original would. */
class StateFileTest {
    private static final long S = 1_000_000_000L;

    private static FlowAggregator aggregator(boolean names) {
        // A small budget, so that folds, "other" and coarse groups are part of the state.
        return new FlowAggregator(new FlowAggregator.Settings(5, 60 * S, 30 * S, 50), names ? NAMED : Labeler.plain());
    }

    /** Like --kubernetes: each end has a name (two workloads by the last octet), part of the series. */
    private static final Labeler NAMED = (k, iface) -> {
        SeriesKey b = Labeler.plain().seriesKey(k, iface);
        return new SeriesKey(b.iface(), b.direction(), b.src(), b.dst(), b.ipType(),
                new dev.ebpftraffic.flow.Peer("shop", "w" + (k.src().lo() & 1), "deployment"),
                dev.ebpftraffic.flow.Peer.EXTERNAL);
    };

    /** What a scrape exports: labels -> {packets, bytes}. */
    private static Map<String, List<Long>> scrape(FlowAggregator a) {
        Map<String, List<Long>> out = new TreeMap<>();
        a.scrape(new FlowAggregator.ScrapeVisitor() {
            @Override
            public void series(SeriesKey key, FlowAggregator.Series s, long packets, long bytes) {
                out.put(key.toString(), List.of(packets, bytes));
            }

            @Override
            public void other(OtherKey key, long packets, long bytes) {
                out.put("other " + key, List.of(packets, bytes));
            }
        });
        return out;
    }

    private static void traffic(FakeFlowReader r, Random rnd, int pairs) {
        for (int i = 0; i < pairs; i++) {
            int ifindex = 2 + i % 2;
            r.flow(ifindex, i % 3 == 0 ? Direction.OUTBOUND : Direction.INBOUND, "10.0.0." + (1 + i), "192.0.2." + (1 + i % 4),
                    1 + rnd.nextInt(5), 60 + rnd.nextInt(1400));
        }
    }

    private static Set<Object> asSets(AggregatorState s) {
        return Set.of(new HashSet<>(s.series()), new HashSet<>(s.others()), new HashSet<>(s.kernel()), new HashSet<>(s.coarse()),
                List.of(s.drained(), s.expired(), s.evicted()));
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "names={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void roundTripAndExactContinuation(boolean names, @TempDir Path dir) {
        Random rnd = new Random(7);
        FakeFlowReader reader = new FakeFlowReader(1000);
        FlowAggregator original = aggregator(names);
        long now = 100 * S;
        for (int i = 0; i < 6; i++) {
            traffic(reader, rnd, 4 + 2 * i);
            original.refresh(reader, now, List.of());
            scrape(original);
            now += S;
        }
        traffic(reader, rnd, 12);
        original.refresh(reader, now, List.of()); // counted, not yet scraped: the state holds it too
        CollectorState st = new CollectorState(original.saveState(now),
                List.of(new CollectorState.RetiredStat("gone0", Direction.INBOUND, KernelStat.NON_IP, 3, 180, 5 * S)),
                List.of(new CollectorState.OverflowSeen(new OtherKey("eth0", Direction.OUTBOUND, "public"), 4, 400)),
                new dev.ebpftraffic.flow.ReaderState(41, List.of(
                        new dev.ebpftraffic.flow.ReaderState.Moved(st0key(4), 17, 1700),
                        new dev.ebpftraffic.flow.ReaderState.Moved(dev.ebpftraffic.flow.FlowKey.of(3, Direction.OUTBOUND,
                                dev.ebpftraffic.flow.IpAddress.parse("2001:db8::1"), dev.ebpftraffic.flow.IpAddress.parse("fd00::2")), -5, -500)),
                        List.of(new dev.ebpftraffic.flow.ReaderState.OverflowBase(
                                new dev.ebpftraffic.flow.StatKey(7, Direction.INBOUND, KernelStat.OVERFLOW_PRIVATE), 9, 900))));
        assertFalse(st.flows().others().isEmpty(), "the budget folded nothing: the test would not cover \"other\"");

        StateFile file = new StateFile(dir.resolve("state"));
        assertNull(file.read());
        file.write(new StateFile.Contents("boot-1", List.of(11, 12, 13), st));
        assertFalse(Files.exists(dir.resolve("state.tmp")), "the temporary file stayed");
        StateFile.Contents back = file.read();
        assertEquals("boot-1", back.bootId());
        assertEquals(List.of(11, 12, 13), back.mapIds());
        assertEquals(st, back.state());

        FlowAggregator restored = aggregator(names);
        restored.restoreState(back.state().flows(), true, now);
        assertEquals(names, back.state().flows().series().stream().allMatch(x -> x.key().srcPeer() != null),
                "the names are saved with the series");
        assertEquals(asSets(st.flows()), asSets(restored.saveState(now)));

        // From here on, both see the same kernel: they must export exactly the same, scrape by scrape.
        for (int i = 0; i < 8; i++) {
            now += S;
            traffic(reader, rnd, 14);
            original.refresh(reader, now, List.of());
            restored.refresh(reader, now, List.of());
            assertEquals(scrape(original), scrape(restored), "scrape " + i + " after the restore");
        }
    }

    private static dev.ebpftraffic.flow.FlowKey st0key(int ifindex) {
        return dev.ebpftraffic.flow.FlowKey.of(ifindex, Direction.INBOUND, dev.ebpftraffic.flow.IpAddress.parse("10.1.2.3"),
                dev.ebpftraffic.flow.IpAddress.parse("192.0.2.9"));
    }

    @Test
    void newKernelMapsCountEverythingInThemAsNew() {
        FakeFlowReader reader = new FakeFlowReader(1000);
        FlowAggregator a = new FlowAggregator(new FlowAggregator.Settings(0, 60 * S, 30 * S, Integer.MAX_VALUE), Labeler.plain());
        reader.flow(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 10, 1000);
        a.refresh(reader, S, List.of());
        scrape(a);
        scrape(a); // shows 10 packets
        AggregatorState st = a.saveState(S);

        FakeFlowReader fresh = new FakeFlowReader(1000); // the maps were recreated: they hold only new traffic
        fresh.flow(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 3, 300);
        FlowAggregator b = new FlowAggregator(new FlowAggregator.Settings(0, 60 * S, 30 * S, Integer.MAX_VALUE), Labeler.plain());
        b.restoreState(st, false, 2 * S);
        assertTrue(b.saveState(2 * S).kernel().isEmpty());
        b.refresh(fresh, 2 * S, List.of());
        Map<String, List<Long>> m = scrape(b);
        assertEquals(1, m.size(), m.toString());
        assertEquals(List.of(13L, 1300L), m.values().iterator().next(), "the counter continues at 10 + 3 new");
    }

    /** A "workloads" map in memory: deltas per call, and cumulative overflow counters. */
    private static final class WorkloadDeltas implements dev.ebpftraffic.flow.FlowReader {
        final Map<dev.ebpftraffic.flow.WorkloadKey, long[]> next = new java.util.LinkedHashMap<>();
        final long[][] overflow = new long[4][2];

        @Override
        public void readFlows(Sink<dev.ebpftraffic.flow.FlowKey> sink) {
        }

        @Override
        public void readStats(Sink<dev.ebpftraffic.flow.StatKey> sink) {
        }

        @Override
        public boolean drainFlow(dev.ebpftraffic.flow.FlowKey key, Sink<dev.ebpftraffic.flow.FlowKey> sink) {
            return false;
        }

        @Override
        public void readWorkloadDeltas(Sink<dev.ebpftraffic.flow.WorkloadKey> sink) {
            next.forEach((k, v) -> sink.accept(k, v[0], v[1]));
            next.clear();
        }

        @Override
        public long[][] readWorkloadOverflow() {
            long[][] o = new long[4][];
            for (int i = 0; i < 4; i++) {
                o[i] = overflow[i].clone();
            }
            return o;
        }

        @Override
        public int flowCapacity() {
            return 1000;
        }

        void traffic(Random rnd) {
            for (long cg = 1; cg <= 7; cg++) {
                if (rnd.nextBoolean()) {
                    next.put(new dev.ebpftraffic.flow.WorkloadKey(cg, rnd.nextBoolean() ? Direction.INBOUND : Direction.OUTBOUND,
                            rnd.nextBoolean()), new long[] {1 + rnd.nextInt(9), 100 + rnd.nextInt(9000)});
                }
            }
            overflow[rnd.nextInt(4)][0] += 2;
            overflow[1][1] += 300;
        }
    }

    private static dev.ebpftraffic.workload.WorkloadAggregator workloads() {
        // Room for 3 workload series besides the 4 "other" ones, and cgroup 7 never resolves.
        return new dev.ebpftraffic.workload.WorkloadAggregator(7, 60 * S,
                id -> id == 7 ? java.util.Optional.empty() : java.util.Optional.of("system.slice/svc" + id + ".service"));
    }

    private static Map<String, List<Long>> scrape(dev.ebpftraffic.workload.WorkloadAggregator w) {
        Map<String, List<Long>> out = new TreeMap<>();
        w.scrape((k, p, b) -> out.put(k.toString(), List.of(p, b)));
        return out;
    }

    /** The per-workload series round-trip, and a restored aggregator continues exactly as the original. */
    @Test
    void workloadSeriesRoundTripAndContinue(@TempDir Path dir) {
        Random rnd = new Random(11);
        WorkloadDeltas kernel = new WorkloadDeltas();
        dev.ebpftraffic.workload.WorkloadAggregator original = workloads();
        long now = 50 * S;
        for (int i = 0; i < 5; i++) {
            kernel.traffic(rnd);
            original.refresh(kernel, now);
            scrape(original);
            now += S;
        }
        kernel.traffic(rnd);
        original.refresh(kernel, now); // counted, not yet scraped
        dev.ebpftraffic.workload.WorkloadAggregator.State ws = original.saveState(now);
        assertFalse(ws.others().isEmpty(), "the budget sent nothing to \"other\": the test would not cover it");
        CollectorState st = new CollectorState(aggregator(false).saveState(now), List.of(), List.of(),
                new dev.ebpftraffic.flow.ReaderState(41, List.of(), List.of(), 39), ws);
        StateFile file = new StateFile(dir.resolve("state"));
        file.write(new StateFile.Contents("boot-1", List.of(1, 2), st));
        CollectorState back = file.read().state();
        assertEquals(39, back.reader().workloadEpoch());
        assertEquals(ws.series(), back.workloads().series());
        assertEquals(ws.others(), back.workloads().others());
        assertEquals(ws.expired(), back.workloads().expired());
        assertEquals(java.util.Arrays.deepToString(ws.overflowSeen()), java.util.Arrays.deepToString(back.workloads().overflowSeen()));
        assertEquals(java.util.Arrays.toString(ws.overflowTotal()), java.util.Arrays.toString(back.workloads().overflowTotal()));

        dev.ebpftraffic.workload.WorkloadAggregator restored = workloads();
        restored.restoreState(back.workloads(), true, now);
        for (int i = 0; i < 6; i++) {
            now += S;
            kernel.traffic(rnd);
            Map<dev.ebpftraffic.flow.WorkloadKey, long[]> same = new java.util.LinkedHashMap<>(kernel.next);
            original.refresh(kernel, now);
            kernel.next.putAll(same); // the restored one sees the very same deltas
            restored.refresh(kernel, now);
            assertEquals(scrape(original), scrape(restored), "scrape " + i + " after the restore");
            assertEquals(java.util.Arrays.toString(original.overflowTotal()), java.util.Arrays.toString(restored.overflowTotal()));
        }
    }

    @Test
    void damagedOrForeignFilesAreRefusedWithAReason(@TempDir Path dir) throws IOException {
        StateFile file = new StateFile(dir.resolve("state"));
        FlowAggregator a = aggregator(false);
        file.write(new StateFile.Contents("b", List.of(), new CollectorState(a.saveState(0), List.of(), List.of(), null)));
        byte[] whole = Files.readAllBytes(file.path());
        Files.write(file.path(), java.util.Arrays.copyOf(whole, whole.length - 2));
        assertTrue(assertThrows(IllegalStateException.class, file::read).getMessage().contains("truncated"));
        byte[] other = whole.clone();
        other[7] = 9; // version 9
        Files.write(file.path(), other);
        assertTrue(assertThrows(IllegalStateException.class, file::read).getMessage().contains("version 9"));
        Files.writeString(file.path(), "hello, world");
        assertTrue(assertThrows(IllegalStateException.class, file::read).getMessage().contains("not a state file"));
        assertTrue(file.delete());
        assertFalse(Files.exists(file.path()));
    }
}
