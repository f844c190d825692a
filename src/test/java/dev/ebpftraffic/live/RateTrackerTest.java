package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Rates from refreshes at known times with known deltas: exact. */
class RateTrackerTest {
    static final long S = 1_000_000_000L;
    static final SeriesKey A = new SeriesKey("eth0", Direction.INBOUND, "10.0.0.1", "10.0.0.2", "private");
    static final SeriesKey B = new SeriesKey("eth0", Direction.OUTBOUND, "10.0.0.2", "192.0.2.9", "public");
    static final OtherKey A_OTHER = OtherKey.of(A);
    static final OtherKey B_OTHER = OtherKey.of(B);

    final RateTracker t = new RateTracker(0);

    /** One refresh at time (ns): overflow counters first, then deltas, as the collector does. */
    void refresh(long now, Runnable deltas) {
        t.begin(now);
        deltas.run();
        t.end(now);
    }

    static double[] d(double... v) {
        return v;
    }

    @Test
    void steadyTrafficEverySecondGivesExactRatesOverEveryWindow() {
        refresh(S / 2, () -> t.delta(A, true, 999, 999_999)); // baseline: covers an unknown time, ignored
        for (int k = 1; k <= 45; k++) {
            refresh(k * S + S / 2, () -> t.delta(A, true, 10, 1000)); // 1000 B and 10 packets per second
        }
        // Latest refresh at 45.5 s: seconds 1..44 are complete (second 0 is only half covered).
        assertEquals(44, t.coveredSeconds());
        RateTracker.Rates r = t.rates(A);
        assertArrayEquals(d(8000, 8000, 8000), r.bitsPerSecond(), 1e-9);
        assertArrayEquals(d(10, 10, 10), r.packetsPerSecond(), 1e-9);
        assertEquals(44, r.historyBits().length);
        for (float h : r.historyBits()) {
            assertEquals(8000f, h, 1e-3);
        }
        // Nothing for a series without traffic; the group saw all of it.
        assertArrayEquals(d(0, 0, 0), t.rates(B).bitsPerSecond());
        assertArrayEquals(d(8000, 8000, 8000), t.groupRates(A_OTHER).bitsPerSecond(), 1e-9);
    }

    @Test
    void whileWarmingUpRatesAverageOverTheSecondsCovered() {
        refresh(0, () -> { });
        refresh(S, () -> t.delta(A, true, 1, 500));
        assertEquals(1, t.coveredSeconds(), "second 0 is complete, second 1 not yet");
        assertArrayEquals(d(4000, 4000, 4000), t.rates(A).bitsPerSecond(), 1e-9);
        refresh(S + S / 2, () -> t.delta(A, true, 0, 0)); // half a second later: still one complete second
        assertEquals(1, t.coveredSeconds());
        refresh(2 * S, () -> t.delta(A, true, 3, 1500)); // over [1.5, 2]; nothing over [1, 1.5]
        refresh(3 * S, () -> t.delta(A, true, 2, 1000));
        // Seconds 0, 1, 2 complete: 500, 1500, 1000 bytes.
        assertEquals(3, t.coveredSeconds());
        RateTracker.Rates r = t.rates(A);
        assertArrayEquals(d(8 * 2500 / 2.0, 8 * 3000 / 3.0, 8 * 3000 / 3.0), r.bitsPerSecond(), 1e-9);
        assertArrayEquals(d(5 / 2.0, 6 / 3.0, 6 / 3.0), r.packetsPerSecond(), 1e-9);
        assertArrayEquals(new float[] {4000, 12000, 8000}, r.historyBits(), 1e-3f);
    }

    @Test
    void aLongGapIsSpreadEvenlyAndScrapesInBetweenChangeNothing() {
        refresh(0, () -> { });
        refresh(5 * S, () -> t.delta(A, true, 50, 5000)); // the 5 s timer: 1000 B/s for five seconds
        refresh(5 * S + S / 4, () -> t.delta(A, true, 0, 250)); // a scrape a quarter second later
        refresh(6 * S, () -> t.delta(A, true, 0, 750));
        refresh(7 * S, () -> t.delta(A, true, 10, 1000));
        assertEquals(7, t.coveredSeconds());
        RateTracker.Rates r = t.rates(A);
        assertArrayEquals(d(8000, 8000, 8000), r.bitsPerSecond(), 1e-6);
        assertArrayEquals(new float[] {8000, 8000, 8000, 8000, 8000, 8000, 8000}, r.historyBits(), 1e-2f);
    }

    @Test
    void foldedDeltasGoToOtherAndTheGroupTotalSeesEverything() {
        refresh(0, () -> { });
        for (int k = 1; k <= 3; k++) {
            refresh(k * S, () -> {
                t.delta(A, true, 1, 100);
                t.delta(new SeriesKey("eth0", Direction.INBOUND, "10.0.0.9", "10.0.0.2", "private"), false, 2, 300);
            });
        }
        assertArrayEquals(d(800, 800, 800), t.rates(A).bitsPerSecond(), 1e-9);
        assertArrayEquals(d(2400, 2400, 2400), t.rates(A_OTHER).bitsPerSecond(), 1e-9);
        assertArrayEquals(d(3200, 3200, 3200), t.groupRates(A_OTHER).bitsPerSecond(), 1e-9);
        List<OtherKey> groups = new ArrayList<>();
        t.forEachGroup((k, r) -> groups.add(k));
        assertEquals(List.of(A_OTHER), groups);
    }

    @Test
    void aFoldedSeriesTakesItsPastIntoOther() {
        refresh(0, () -> { });
        for (int k = 1; k <= 5; k++) {
            refresh(k * S, () -> t.delta(A, true, 1, 100));
        }
        refresh(6 * S, () -> {
            t.delta(A, true, 1, 100);
            t.folded(A); // e.g. the budget folds it at the end of this refresh
        });
        refresh(7 * S, () -> t.delta(A, false, 1, 100));
        assertArrayEquals(d(0, 0, 0), t.rates(A).bitsPerSecond());
        assertArrayEquals(d(800, 800, 800), t.rates(A_OTHER).bitsPerSecond(), 1e-9);
        assertEquals(7, t.rates(A_OTHER).historyBits().length);
        assertArrayEquals(d(800, 800, 800), t.groupRates(A_OTHER).bitsPerSecond(), 1e-9);
    }

    /** The budget folds newborn and quiet pairs while sampled: rows (pairs and "other") add up to the group. */
    @Test
    void withARealAggregatorUnderABudgetRowsAddUpToTheTotals() {
        dev.ebpftraffic.testing.FakeFlowReader reader = new dev.ebpftraffic.testing.FakeFlowReader(1024);
        dev.ebpftraffic.flow.FlowAggregator agg = new dev.ebpftraffic.flow.FlowAggregator(
                new dev.ebpftraffic.flow.FlowAggregator.Settings(5, 600 * S, 30 * S, 100),
                dev.ebpftraffic.flow.Labeler.plain());
        agg.setDeltaListener(t);
        agg.ifaceNames(i -> i == 2 ? "eth0" : "ifindex" + i);
        long[] perSecond = {9000, 7000, 5000, 3000, 200, 100}; // six pairs, room for four and "other"
        agg.refresh(reader, 0, List.of());
        for (int k = 1; k <= 12; k++) {
            for (int i = 0; i < perSecond.length; i++) {
                long[] v = reader.flows.computeIfAbsent(dev.ebpftraffic.flow.FlowKey.of(2, Direction.INBOUND,
                        dev.ebpftraffic.flow.IpAddress.parse("10.0.0." + (i + 1)),
                        dev.ebpftraffic.flow.IpAddress.parse("10.0.1.1")), x -> new long[2]);
                v[0] += perSecond[i] / 100;
                v[1] += perSecond[i];
            }
            agg.refresh(reader, k * S, List.of());
        }
        OtherKey group = new OtherKey("eth0", Direction.INBOUND, "private");
        double sum = 0;
        List<String> exported = new ArrayList<>();
        for (int i = 0; i < perSecond.length; i++) {
            SeriesKey key = new SeriesKey("eth0", Direction.INBOUND, "10.0.0." + (i + 1), "10.0.1.1", "private");
            double bits = t.rates(key).bitsPerSecond()[1];
            if (bits > 0) {
                exported.add(key.src());
                assertEquals(8.0 * perSecond[i], bits, 1e-6, key.src());
            }
            sum += bits;
        }
        assertEquals(List.of("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"), exported);
        assertArrayEquals(d(8 * 300, 8 * 300, 8 * 300), t.rates(group).bitsPerSecond(), 1e-6,
                "the two quiet pairs, folded at birth, are all in other");
        assertEquals(8.0 * 24_300, sum + t.rates(group).bitsPerSecond()[1], 1e-6);
        assertEquals(8.0 * 24_300, t.groupRates(group).bitsPerSecond()[1], 1e-6);
    }

    @Test
    void kernelOverflowCountersAreDiffedIntoOther() {
        t.overflow(B_OTHER, 1000, 64_000); // the baseline: counted before anyone watched
        refresh(0, () -> { });
        for (int k = 1; k <= 4; k++) {
            t.overflow(B_OTHER, 1000 + 5L * k, 64_000 + 640L * k);
            refresh(k * S, () -> { });
        }
        assertArrayEquals(d(5120, 5120, 5120), t.rates(B_OTHER).bitsPerSecond(), 1e-9);
        assertArrayEquals(d(5, 5, 5), t.rates(B_OTHER).packetsPerSecond(), 1e-9);
        assertArrayEquals(d(5120, 5120, 5120), t.groupRates(B_OTHER).bitsPerSecond(), 1e-9);
    }

    @Test
    void memoryIsBoundedQuietRingsGoAndRetainDropsUnexportedRows() {
        refresh(0, () -> { });
        refresh(S, () -> {
            t.delta(A, true, 1, 100);
            t.delta(B, true, 1, 100);
        });
        assertEquals(4, t.rings(), "two rows and two groups");
        t.retain(Set.of(B));
        assertEquals(3, t.rings());
        assertArrayEquals(d(0, 0, 0), t.rates(A).bitsPerSecond());
        // 60 s without traffic: every ring is dropped.
        refresh(62 * S, () -> { });
        assertEquals(0, t.rings());
        t.reset();
        assertEquals(0, t.coveredSeconds());
    }

    @Test
    void theRingKeepsSixtySecondsAndRatesUseOnlyTheWindow() {
        refresh(0, () -> { });
        for (int k = 1; k <= 100; k++) {
            long bytes = k <= 60 ? 0 : (k <= 90 ? 1000 : 3000); // 1000 B/s from 60 s, 3000 B/s from 90 s
            long kk = bytes;
            refresh(k * S, () -> t.delta(A, true, kk / 100, kk));
        }
        // complete seconds up to 99; second s holds the delta reported at s+1.
        assertEquals(60, t.coveredSeconds());
        RateTracker.Rates r = t.rates(A);
        // 2 s: seconds 98, 99 at 3000; 10 s: 90..99 at 3000; 40 s: 60..89 at 1000 and 90..99 at 3000.
        assertArrayEquals(d(24000, 24000, 8 * (30 * 1000 + 10 * 3000) / 40.0), r.bitsPerSecond(), 1e-9);
        assertEquals(60, r.historyBits().length);
        assertEquals(0f, r.historyBits()[0]); // second 40
        assertEquals(8000f, r.historyBits()[59 - 10]); // second 89
        assertEquals(24000f, r.historyBits()[59]); // second 99
    }
}
