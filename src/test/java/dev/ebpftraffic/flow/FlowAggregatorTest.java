package dev.ebpftraffic.flow;

import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.testing.IncreaseOracle;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FlowAggregatorTest {
    static final long S = 1_000_000_000L;

    static FlowKey key(Direction d, String src, String dst) {
        return FakeFlowReader.key(1, d, src, dst);
    }

    static FlowAggregator aggregator(int maxSeries, long ttl, long drainIdle, int maxTracked) {
        return new FlowAggregator(new FlowAggregator.Settings(maxSeries, ttl, drainIdle, maxTracked), Labeler.plain());
    }

    /** One scrape: label text -> {packets, bytes}, "other" included (iface left out: one interface here). */
    static Map<String, long[]> exported(FlowAggregator a) {
        Map<String, long[]> out = new HashMap<>();
        a.scrape(new FlowAggregator.ScrapeVisitor() {
            @Override
            public void series(SeriesKey k, FlowAggregator.Series s, long packets, long bytes) {
                out.put(k.iface() + " " + k.direction().label() + " " + k.src() + ">" + k.dst(), new long[]{packets, bytes});
            }

            @Override
            public void other(OtherKey k, long packets, long bytes) {
                out.put(k.iface() + " " + k.direction().label() + " other " + k.ipType(), new long[]{packets, bytes});
            }
        });
        return out;
    }

    /** A scrape's keys without the "ifindex1 " prefix of the one interface these tests use. */
    static Map<String, long[]> scrape(FlowAggregator a) {
        Map<String, long[]> out = new HashMap<>();
        exported(a).forEach((k, v) -> out.put(k.substring(k.indexOf(' ') + 1), v));
        return out;
    }

    /** Feeds one scrape to the packets and the bytes oracles. */
    static Map<String, long[]> scrapeInto(FlowAggregator a, IncreaseOracle packets, IncreaseOracle bytes) {
        Map<String, long[]> e = exported(a);
        Map<String, Long> p = new HashMap<>();
        Map<String, Long> b = new HashMap<>();
        e.forEach((k, v) -> {
            p.put(k, v[0]);
            b.put(k, v[1]);
        });
        packets.scrape(p);
        bytes.scrape(b);
        return e;
    }

    static long[] sum(Map<String, long[]> m) {
        long[] t = new long[2];
        m.values().forEach(v -> {
            t[0] += v[0];
            t[1] += v[1];
        });
        return t;
    }

    @Test
    void withinBudgetEveryPairIsExportedExactlyAfterAFirstScrapeAtZero() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(10, 600 * S, 30 * S, 1000);
        k.send(key(Direction.INBOUND, "1.1.1.1", "192.168.1.5"), 3, 300);
        k.send(key(Direction.OUTBOUND, "192.168.1.5", "8.8.8.8"), 2, 200);
        a.refresh(k, 0, List.of());
        Map<String, long[]> e = scrape(a);
        assertEquals(2, e.size());
        // The first scrape that shows a series shows 0: increase() counts from that sample on.
        assertEquals(List.of(0L, 0L), List.of(e.get("inbound 1.1.1.1>192.168.1.5")[0], e.get("inbound 1.1.1.1>192.168.1.5")[1]));
        assertEquals(List.of(0L, 0L), List.of(e.get("outbound 192.168.1.5>8.8.8.8")[0], e.get("outbound 192.168.1.5>8.8.8.8")[1]));
        a.refresh(k, S, List.of());
        e = scrape(a);
        assertEquals(List.of(3L, 300L), List.of(e.get("inbound 1.1.1.1>192.168.1.5")[0], e.get("inbound 1.1.1.1>192.168.1.5")[1]));
        assertEquals(List.of(2L, 200L), List.of(e.get("outbound 192.168.1.5>8.8.8.8")[0], e.get("outbound 192.168.1.5>8.8.8.8")[1]));
        assertEquals(2, a.exportedSeries());
    }

    @Test
    void overBudgetTheQuietestFoldIntoOtherAndIncreaseStaysExact() {
        FakeFlowReader k = new FakeFlowReader(1000);
        FlowAggregator a = aggregator(6, 600 * S, 30 * S, 1000);
        IncreaseOracle op = new IncreaseOracle();
        IncreaseOracle ob = new IncreaseOracle();
        long sentP = 0;
        long sentB = 0;
        for (int i = 1; i <= 20; i++) { // 20 inbound pairs, pair i sends i packets of 100 bytes
            k.send(key(Direction.INBOUND, "10.0.0." + i, "10.1.0.1"), i, i * 100L);
            sentP += i;
            sentB += i * 100L;
        }
        a.refresh(k, 0, List.of());
        Map<String, long[]> first = scrapeInto(a, op, ob);
        assertEquals(6, first.size(), first.keySet().toString());
        first.forEach((x, v) -> assertEquals(0, v[1], x + " not at 0 in its first scrape"));
        a.refresh(k, S, List.of());
        Map<String, long[]> e = scrapeInto(a, op, ob);
        assertEquals(6, e.size(), "series " + e.size() + " over budget 6: " + e.keySet());
        assertEquals(sentP, op.increase());
        assertEquals(sentB, ob.increase());
        // One "other" slot is reserved for the one (direction, ip_type) group seen: 5 pairs remain, the loudest.
        assertEquals(5, a.exportedSeries());
        for (int i = 16; i <= 20; i++) {
            assertEquals(i, e.get("ifindex1 inbound 10.0.0." + i + ">10.1.0.1")[0], e.keySet().toString());
        }
        long otherPackets = 0;
        for (int i = 1; i <= 15; i++) {
            otherPackets += i;
        }
        assertEquals(otherPackets, e.get("ifindex1 inbound other private")[0]);
        assertEquals(otherPackets * 100, e.get("ifindex1 inbound other private")[1]);
    }

    /**
     * The invariant as Prometheus reads it: fed every scrape, an increase() oracle sums exactly the
     * traffic sent, through folds, unfolds, drains, expiry and eviction; no series over budget.
     */
    @Test
    void increaseOverEveryScrapeEqualsTrafficAcrossManyRandomRefreshes() {
        FakeFlowReader k = new FakeFlowReader(16);
        FlowAggregator a = aggregator(12, 20 * S, 3 * S, 40);
        IncreaseOracle op = new IncreaseOracle();
        IncreaseOracle ob = new IncreaseOracle();
        Random r = new Random(42);
        Map<String, long[]> last = new HashMap<>();
        long sentP = 0;
        long sentB = 0;
        int steps = 300;
        for (int step = 0; step < steps + 3; step++) {
            long now = step * S;
            for (int n = 0; step < steps && n < 30; n++) {
                int src = r.nextInt(r.nextBoolean() ? 8 : 200); // a few heavy hitters and a long tail
                long p = 1 + r.nextInt(5);
                k.send(key(r.nextBoolean() ? Direction.INBOUND : Direction.OUTBOUND, "10.2." + (src / 250) + "." + (src % 250),
                        src % 3 == 0 ? "203.0.113.9" : "10.1.0.1"), p, p * 90);
                sentP += p;
                sentB += p * 90;
            }
            a.refresh(k, now, List.of());
            Map<String, long[]> e = scrapeInto(a, op, ob);
            // Never more than was sent; what is not shown yet shows in a later scrape.
            assertTrue(op.increase() <= sentP - k.overflowPackets, "packets over at step " + step);
            assertTrue(ob.increase() <= sentB - k.overflowBytes, "bytes over at step " + step);
            assertTrue(e.size() <= 12, "series over budget at step " + step + ": " + e.size());
            assertTrue(a.trackedSeries() <= 40, "tracked " + a.trackedSeries());
            // A series that stays exported never goes down.
            for (Map.Entry<String, long[]> x : e.entrySet()) {
                long[] before = last.get(x.getKey());
                if (before != null) {
                    assertTrue(x.getValue()[1] >= before[1], x.getKey() + " went down at step " + step);
                }
            }
            last = e;
        }
        assertEquals(sentP - k.overflowPackets, op.increase(), "packets");
        assertEquals(sentB - k.overflowBytes, ob.increase(), "bytes");
        assertTrue(a.drainedTotal() > 0, "idle kernel entries were drained");
        assertTrue(a.evictedTotal() + a.expiredTotal() > 0, "memory bound exercised");
    }

    @Test
    void nearTheBoundaryPairsDoNotFlap() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(3, 600 * S, 30 * S, 1000); // 2 pair slots + 1 "other" slot
        FlowKey x = key(Direction.INBOUND, "10.0.0.1", "10.1.0.1");
        FlowKey y = key(Direction.INBOUND, "10.0.0.2", "10.1.0.1");
        FlowKey z = key(Direction.INBOUND, "10.0.0.3", "10.1.0.1");
        int swaps = 0;
        String before = null;
        for (int step = 0; step < 50; step++) {
            // y and z trade places by a few percent every step; x is far ahead.
            k.send(x, 10, 10_000);
            k.send(y, 1, step % 2 == 0 ? 1_050 : 950);
            k.send(z, 1, step % 2 == 0 ? 950 : 1_050);
            a.refresh(k, step * S, List.of());
            String exportedNow = scrape(a).keySet().stream().filter(s -> !s.contains("other")).sorted().toList().toString();
            if (before != null && !before.equals(exportedNow)) {
                swaps++;
            }
            before = exportedNow;
        }
        assertEquals(0, swaps, "the exported set changed " + swaps + " times");
    }

    @Test
    void aClearlyLouderPairTakesTheSlotAndTheFoldedOnesJustDisappear() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(2, 600 * S, 30 * S, 1000);
        FlowKey quiet1 = key(Direction.INBOUND, "10.0.0.1", "10.1.0.1");
        FlowKey quiet2 = key(Direction.INBOUND, "10.0.0.3", "10.1.0.1");
        FlowKey loud = key(Direction.INBOUND, "10.0.0.2", "10.1.0.1");
        k.send(quiet1, 1, 100);
        k.send(quiet2, 2, 200);
        a.refresh(k, 0, List.of());
        assertEquals(2, scrape(a).size(), "two pairs fit a budget of 2 without an \"other\"");
        a.refresh(k, S / 2, List.of());
        assertEquals(2, scrape(a).get("inbound 10.0.0.3>10.1.0.1")[0]);
        k.send(loud, 10, 10_000);
        k.send(quiet2, 1, 100); // after the last scrape: goes to "other" with the fold
        a.refresh(k, S, List.of());
        Map<String, long[]> e = scrape(a);
        // Three pairs do not fit: one slot goes to "other", the other to the loudest pair, which
        // competes with its first traffic. The quiet pairs disappear: what scrapes showed of them
        // stays in their own increase(), "other" gets only what no scrape showed. Both new series show 0.
        assertEquals(2, e.size(), e.keySet().toString());
        assertEquals(0, e.get("inbound 10.0.0.2>10.1.0.1")[0]);
        assertEquals(0, e.get("inbound other private")[0]);
        a.refresh(k, 3 * S / 2, List.of());
        e = scrape(a);
        assertEquals(10, e.get("inbound 10.0.0.2>10.1.0.1")[0]);
        assertEquals(1, e.get("inbound other private")[0]);
        assertEquals(100, e.get("inbound other private")[1]);
        k.send(loud, 5, 5_000);
        k.send(quiet1, 2, 200); // folded: straight into "other"
        a.refresh(k, 2 * S, List.of());
        e = scrape(a);
        assertEquals(15, e.get("inbound 10.0.0.2>10.1.0.1")[0]);
        assertEquals(3, e.get("inbound other private")[0]);
        assertFalse(e.containsKey("inbound 10.0.0.1>10.1.0.1"));
    }

    @Test
    void idlePairsExpireWithoutAddingToOtherAndMemoryIsFreed() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(100, 60 * S, 10 * S, 1000);
        k.send(key(Direction.OUTBOUND, "10.0.0.1", "192.0.2.7"), 4, 400);
        a.refresh(k, 0, List.of());
        assertEquals(1, a.trackedSeries());
        scrape(a); // at 0
        a.refresh(k, 10 * S, List.of()); // idle 10 s: the kernel entry is drained
        assertTrue(k.flows.isEmpty());
        assertEquals(1, a.drainedTotal());
        assertEquals(1, a.trackedSeries());
        assertEquals(4, scrape(a).get("outbound 10.0.0.1>192.0.2.7")[0]);
        a.refresh(k, 70 * S, List.of()); // idle 70 s > ttl
        assertEquals(0, a.trackedSeries());
        assertEquals(1, a.expiredTotal());
        // Every packet was shown by a scrape: the series just goes stale, no "other" is made.
        assertEquals(Map.of(), scrape(a));
        // It comes back: a new series, at 0 first, then from zero.
        k.send(key(Direction.OUTBOUND, "10.0.0.1", "192.0.2.7"), 1, 100);
        a.refresh(k, 71 * S, List.of());
        assertEquals(0, scrape(a).get("outbound 10.0.0.1>192.0.2.7")[0]);
        a.refresh(k, 72 * S, List.of());
        Map<String, long[]> e = scrape(a);
        assertEquals(1, e.get("outbound 10.0.0.1>192.0.2.7")[0]);
        assertEquals(1, e.size());
    }

    @Test
    void whatNoScrapeShowedGoesToOtherOnExpiry() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(100, 60 * S, 10 * S, 1000);
        k.send(key(Direction.OUTBOUND, "10.0.0.1", "192.0.2.7"), 4, 400);
        a.refresh(k, 0, List.of());
        scrape(a); // at 0
        a.refresh(k, S, List.of());
        scrape(a); // 4
        k.send(key(Direction.OUTBOUND, "10.0.0.1", "192.0.2.7"), 1, 100);
        a.refresh(k, 2 * S, List.of()); // counted, never scraped
        a.refresh(k, 70 * S, List.of()); // drained and expired
        Map<String, long[]> e = scrape(a);
        assertEquals(Map.of("outbound other public", 0L), Map.of(e.keySet().iterator().next(), e.values().iterator().next()[0]));
        a.refresh(k, 71 * S, List.of());
        assertEquals(100, scrape(a).get("outbound other public")[1]);
        // Idle, shown in full and fed by nothing: it goes after the TTL too.
        a.refresh(k, 140 * S, List.of());
        assertEquals(Map.of(), scrape(a));
    }

    @Test
    void kernelEntryRecreatedBySomeoneElseCountsFromZero() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(0, 600 * S, 600 * S, Integer.MAX_VALUE);
        FlowKey f = key(Direction.INBOUND, "fd00::1", "fd00::2");
        k.send(f, 5, 500);
        a.refresh(k, 0, List.of());
        k.flows.remove(f); // deleted behind our back
        a.refresh(k, S, List.of());
        k.send(f, 2, 200);
        a.refresh(k, 2 * S, List.of());
        scrape(a); // at 0
        assertEquals(7, scrape(a).get("inbound fd00::1>fd00::2")[0]);
        assertEquals(700, scrape(a).get("inbound fd00::1>fd00::2")[1]);
    }

    /** A drain that fails leaves the kernel entry, and the next read continues from what was seen. */
    @Test
    void aFailedDrainDoesNotCountTheEntryTwice() {
        FakeFlowReader k = new FakeFlowReader(100);
        FlowAggregator a = aggregator(0, 600 * S, 10 * S, Integer.MAX_VALUE);
        FlowKey f = key(Direction.INBOUND, "10.0.0.1", "10.1.0.1");
        FlowKey g = key(Direction.INBOUND, "10.0.0.2", "10.1.0.1");
        k.send(f, 5, 500);
        k.send(g, 1, 60);
        a.refresh(k, 0, List.of());
        scrape(a); // at 0
        k.failDrains = 1; // the first lookup-and-delete fails (ENOMEM, a bucket lock timeout)
        RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                () -> a.refresh(k, 10 * S, List.of()));
        assertTrue(e.getMessage().contains("drain"), e.getMessage());
        assertEquals(1, a.drainedTotal(), "the other idle entry was drained all the same");
        assertEquals(1, k.flows.size());
        k.send(f, 2, 200);
        a.refresh(k, 11 * S, List.of()); // read again: only the growth counts
        a.refresh(k, 21 * S, List.of()); // idle again: drained this time
        assertTrue(k.flows.isEmpty());
        Map<String, long[]> s = scrape(a);
        assertEquals(7, s.get("inbound 10.0.0.1>10.1.0.1")[0]);
        assertEquals(700, s.get("inbound 10.0.0.1>10.1.0.1")[1]);
        assertEquals(1, s.get("inbound 10.0.0.2>10.1.0.1")[0]);
        assertEquals(60, s.get("inbound 10.0.0.2>10.1.0.1")[1]);
        // An interface that is gone: same rule for drainIfindex.
        k.send(f, 1, 100);
        a.refresh(k, 22 * S, List.of());
        k.failDrains = 1;
        org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> a.drainIfindex(k, 1, 22 * S));
        assertEquals(1, k.flows.size());
        a.drainIfindex(k, 1, 22 * S);
        assertTrue(k.flows.isEmpty());
        a.refresh(k, 23 * S, List.of());
        assertEquals(800, scrape(a).get("inbound 10.0.0.1>10.1.0.1")[1]);
    }

    @Test
    void mapUnderPressureDrainsEverythingThatDidNotChange() {
        FakeFlowReader k = new FakeFlowReader(8);
        FlowAggregator a = aggregator(0, 600 * S, 600 * S, Integer.MAX_VALUE);
        for (int i = 0; i < 7; i++) {
            k.send(key(Direction.INBOUND, "10.0.0." + i, "10.1.0.1"), 1, 60);
        }
        a.refresh(k, 0, List.of());
        assertEquals(7, k.flows.size());
        k.send(key(Direction.INBOUND, "10.0.0.0", "10.1.0.1"), 1, 60);
        a.refresh(k, S, List.of()); // 7/8 > 75%: the 6 unchanged entries go
        assertEquals(1, k.flows.size());
        assertEquals(6, a.drainedTotal());
        scrape(a); // at 0
        assertEquals(8, sum(scrape(a))[0]);
    }

    /** The kernel has one map per family: a nearly full IPv4 map does not make IPv6 entries go, and back. */
    @Test
    void pressureIsJudgedPerFamilyMap() {
        FakeFlowReader k = new FakeFlowReader(8);
        FlowAggregator a = aggregator(0, 600 * S, 600 * S, Integer.MAX_VALUE);
        for (int i = 0; i < 7; i++) {
            k.send(key(Direction.INBOUND, "10.0.0." + i, "10.1.0.1"), 1, 60);
        }
        for (int i = 0; i < 5; i++) {
            k.send(key(Direction.INBOUND, "fd00::" + (i + 1), "fd00::ff"), 1, 80);
        }
        a.refresh(k, 0, List.of());
        assertEquals(7, a.kernelEntries(true));
        assertEquals(5, a.kernelEntries(false));
        a.refresh(k, S, List.of()); // IPv4 7/8 > 75%: its unchanged entries go; IPv6 5/8 stays
        assertEquals(7, a.drainedTotal());
        assertEquals(5, k.flows.size());
        assertTrue(k.flows.keySet().stream().noneMatch(FlowKey::ipv4), k.flows.keySet().toString());
        assertEquals(7, a.kernelEntries(true)); // as read, before the drain
        assertEquals(5, a.kernelEntries(false));

        // Now the IPv6 map fills past 75%: only its unchanged entries go, the new IPv4 pair stays.
        k.send(key(Direction.INBOUND, "fd00::6", "fd00::ff"), 1, 80);
        k.send(key(Direction.INBOUND, "10.0.0.9", "10.1.0.1"), 1, 60);
        a.refresh(k, 2 * S, List.of()); // IPv6 6/8 = 75%: not above, nothing goes yet
        assertEquals(7, a.drainedTotal());
        k.send(key(Direction.INBOUND, "fd00::7", "fd00::ff"), 1, 80);
        a.refresh(k, 3 * S, List.of()); // IPv6 7/8: the 6 unchanged go, the one that just arrived stays
        assertEquals(13, a.drainedTotal());
        assertEquals(List.of(key(Direction.INBOUND, "10.0.0.9", "10.1.0.1"), key(Direction.INBOUND, "fd00::7", "fd00::ff")),
                List.copyOf(k.flows.keySet()));
        scrape(a); // at 0
        assertEquals(15, sum(scrape(a))[0]); // every packet sent, drained or not
    }
}
