package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;
import dev.ebpftraffic.metrics.TrafficCollector;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * Per-series rates for the live view, fed with each refresh's deltas while someone watches.
 *
 * <p>A refresh at time t reports what every series grew by since the previous refresh at t'. That
 * growth is spread evenly over [t', t] into one-second buckets, so a refresh every second puts one
 * second of traffic in each bucket, and a longer gap (a slow timer, a scrape in between) is
 * spread without spikes. Each series keeps a fixed ring of {@link #HISTORY} buckets (bytes and
 * packets as floats: 480 bytes a series). The rate over a window of W seconds is the sum of the W
 * complete seconds before the current one, divided by W; right after the tracker starts, by the
 * seconds covered so far ({@link #coveredSeconds()}).
 *
 * <p>Rows are keyed by SeriesKey (an exported series) or OtherKey (its "other" series: folded
 * series' deltas and the kernel's overflow counters). When a series is folded (budget, expiry),
 * its ring moves into its "other" ring, as its total moves into "other"'s counter: the rows add
 * up to the group totals (keyed by OtherKey, fed with every delta) at any time. A ring without
 * traffic for {@link #HISTORY} seconds is dropped, and {@link #retain} drops the rings of series
 * that are no longer exported: memory stays bounded by the exported series.
 *
 * <p>The first refresh after {@link #reset} is only a baseline: its deltas cover an unknown time.
 */
public final class RateTracker implements TrafficCollector.LiveListener {
    /** Seconds of history per series (the sparkline). */
    public static final int HISTORY = 60;
    /** The three smoothing windows, as iftop's columns. */
    public static final int[] WINDOWS = {2, 10, 40};

    private final Clock clock;
    private final Map<Object, Ring> rows = new HashMap<>();
    private final Map<OtherKey, Ring> groups = new HashMap<>();
    private final Map<Object, long[]> pendingRows = new HashMap<>();
    private final Map<OtherKey, long[]> pendingGroups = new HashMap<>();
    private final Map<OtherKey, long[]> overflowSeen = new HashMap<>();
    private final Map<OtherKey, long[]> overflowNow = new HashMap<>();

    public RateTracker(long epochNanos) {
        this.clock = new Clock(epochNanos);
    }

    /** Rates over the windows and the last minute, for one row or group. */
    public record Rates(double[] bitsPerSecond, double[] packetsPerSecond, float[] historyBits) {
        static Rates zero(int covered) {
            return new Rates(new double[WINDOWS.length], new double[WINDOWS.length], new float[covered]);
        }
    }

    // ---- fed by the collector, under its lock -----------------------------------------------

    @Override
    public synchronized void overflow(OtherKey key, long packets, long bytes) {
        overflowNow.put(key, new long[] {packets, bytes});
    }

    @Override
    public synchronized void begin(long now) {
        pendingRows.clear();
        pendingGroups.clear();
    }

    @Override
    public synchronized void delta(SeriesKey key, boolean exported, long packets, long bytes) {
        OtherKey group = OtherKey.of(key);
        pend(pendingRows, exported ? key : group, packets, bytes);
        pend(pendingGroups, group, packets, bytes);
    }

    /**
     * A folded series' traffic belongs to "other" now, its recent past included: its ring and this
     * refresh's delta move there, so the rows always add up to the totals.
     */
    @Override
    public synchronized void folded(SeriesKey key) {
        OtherKey other = OtherKey.of(key);
        long[] p = pendingRows.remove(key);
        if (p != null) {
            pend(pendingRows, other, p[0], p[1]);
        }
        Ring r = rows.remove(key);
        if (r != null) {
            rows.computeIfAbsent(other, k -> new Ring()).merge(r);
        }
    }

    private static <K> void pend(Map<K, long[]> m, K key, long packets, long bytes) {
        long[] v = m.computeIfAbsent(key, x -> new long[2]);
        v[0] += packets;
        v[1] += bytes;
    }

    @Override
    public synchronized void end(long now) {
        boolean first = !clock.started();
        for (Map.Entry<OtherKey, long[]> e : overflowNow.entrySet()) {
            long[] seen = overflowSeen.put(e.getKey(), e.getValue());
            if (first) {
                continue;
            }
            long[] v = e.getValue();
            long dp = seen == null ? v[0] : v[0] >= seen[0] ? v[0] - seen[0] : v[0];
            long db = seen == null ? v[1] : v[1] >= seen[1] ? v[1] - seen[1] : v[1];
            if (dp != 0 || db != 0) {
                pend(pendingRows, e.getKey(), dp, db);
                pend(pendingGroups, e.getKey(), dp, db);
            }
        }
        overflowNow.clear();
        Clock.Span span = clock.advance(now);
        if (span == null) {
            pendingRows.clear();
            pendingGroups.clear();
            return;
        }
        for (Map.Entry<Object, long[]> e : pendingRows.entrySet()) {
            rows.computeIfAbsent(e.getKey(), k -> new Ring()).spread(span.t0(), span.t1(), e.getValue());
        }
        for (Map.Entry<OtherKey, long[]> e : pendingGroups.entrySet()) {
            groups.computeIfAbsent(e.getKey(), k -> new Ring()).spread(span.t0(), span.t1(), e.getValue());
        }
        pendingRows.clear();
        pendingGroups.clear();
        long current = (long) Math.floor(span.t1());
        rows.values().removeIf(r -> r.newest <= current - HISTORY);
        groups.values().removeIf(r -> r.newest <= current - HISTORY);
    }

    /** Forgets everything (nobody watches any more); the next refresh is a new baseline. */
    public synchronized void reset() {
        rows.clear();
        groups.clear();
        pendingRows.clear();
        pendingGroups.clear();
        overflowSeen.clear();
        overflowNow.clear();
        clock.reset();
    }

    // ---- read by the live view --------------------------------------------------------------

    /** Complete seconds since the baseline, at most HISTORY: what the rates are averaged over at most. */
    public synchronized int coveredSeconds() {
        return clock.coveredSeconds();
    }

    /** Rates of a row: an exported series (SeriesKey) or an "other" series (OtherKey). */
    public synchronized Rates rates(Object key) {
        return rates(rows.get(key));
    }

    /** Rates of everything in a group (interface, direction, ip_type), whatever series it went to. */
    public synchronized Rates groupRates(OtherKey key) {
        return rates(groups.get(key));
    }

    private Rates rates(Ring r) {
        return clock.rates(r);
    }

    /** Rates of every group (interface, direction, ip_type) with traffic in the last minute. */
    public synchronized void forEachGroup(java.util.function.BiConsumer<OtherKey, Rates> action) {
        groups.forEach((k, r) -> action.accept(k, rates(r)));
    }

    /** Drops the rings of rows that are neither exported nor "other" any more. */
    public synchronized void retain(java.util.Set<Object> liveKeys) {
        rows.keySet().retainAll(liveKeys);
    }

    /** Rings held (rows and groups): for tests of the memory bound. */
    public synchronized int rings() {
        return rows.size() + groups.size();
    }

    /**
     * The time base of a tracker's rings, shared by the live views' trackers: the refreshes' times
     * relative to an epoch, the baseline rule and the rates read from a ring. Not thread-safe: its
     * tracker calls it under its own lock.
     */
    static final class Clock {
        private final long epoch;
        private long baseline = Long.MIN_VALUE; // time of the first refresh since reset
        private long last = Long.MIN_VALUE;     // time of the latest refresh

        /** The time a refresh's deltas cover, in seconds since the epoch. */
        record Span(double t0, double t1) {
        }

        Clock(long epochNanos) {
            this.epoch = epochNanos;
        }

        /** Whether a refresh happened since reset (the baseline). */
        boolean started() {
            return baseline != Long.MIN_VALUE;
        }

        /**
         * Moves to the refresh at now. Null when its deltas are not to be spread: the first refresh
         * after reset (only a baseline: its deltas cover an unknown time) or one not after the latest.
         */
        Span advance(long now) {
            if (baseline == Long.MIN_VALUE || now <= last) {
                if (baseline == Long.MIN_VALUE) {
                    baseline = now;
                }
                last = Math.max(last, now);
                return null;
            }
            Span span = new Span(seconds(last), seconds(now));
            last = now;
            return span;
        }

        void reset() {
            baseline = Long.MIN_VALUE;
            last = Long.MIN_VALUE;
        }

        private double seconds(long nanos) {
            return (nanos - epoch) / 1e9;
        }

        /** The second the latest refresh fell in; the buckets before it are complete. */
        private long currentSecond() {
            return (long) Math.floor(seconds(last));
        }

        /** Complete seconds since the baseline, at most HISTORY: what the rates are averaged over at most. */
        int coveredSeconds() {
            if (baseline == Long.MIN_VALUE) {
                return 0;
            }
            long from = (long) Math.ceil(seconds(baseline));
            return (int) Math.max(0, Math.min(HISTORY, currentSecond() - from));
        }

        /** A ring's rates: over W seconds, the W complete seconds before the current one over W (or the seconds covered). */
        Rates rates(Ring r) {
            int covered = coveredSeconds();
            if (r == null) {
                return Rates.zero(covered);
            }
            long current = currentSecond();
            double[] bits = new double[WINDOWS.length];
            double[] packets = new double[WINDOWS.length];
            for (int i = 0; i < WINDOWS.length; i++) {
                int w = Math.min(WINDOWS[i], covered);
                if (w > 0) {
                    bits[i] = 8 * r.sum(r.bytes, current - w, current - 1) / w;
                    packets[i] = r.sum(r.packets, current - w, current - 1) / w;
                }
            }
            float[] history = new float[covered];
            for (int i = 0; i < covered; i++) {
                history[i] = 8 * r.at(r.bytes, current - covered + i);
            }
            return new Rates(bits, packets, history);
        }
    }

    /** Bytes and packets per one-second bucket, the last HISTORY seconds. */
    static final class Ring {
        final float[] bytes = new float[HISTORY];
        final float[] packets = new float[HISTORY];
        long newest = Long.MIN_VALUE; // the newest second written

        /** Spreads {packets, bytes} evenly over the time [t0, t1] (seconds). */
        void spread(double t0, double t1, long[] delta) {
            if (t1 - t0 > HISTORY) {
                double kept = HISTORY / (t1 - t0); // only the last HISTORY seconds fit
                t0 = t1 - HISTORY;
                delta = new long[] {Math.round(delta[0] * kept), Math.round(delta[1] * kept)};
            }
            double span = t1 - t0;
            long s0 = (long) Math.floor(t0);
            long s1 = (long) Math.floor(t1);
            for (long s = s0; s <= s1; s++) {
                double overlap = Math.min(t1, s + 1) - Math.max(t0, s);
                if (overlap <= 0) {
                    continue;
                }
                double f = overlap / span;
                add(s, delta[1] * f, delta[0] * f);
            }
        }

        void add(long second, double b, double p) {
            if (newest != Long.MIN_VALUE && second <= newest - HISTORY) {
                return; // older than the ring
            }
            if (second > newest) {
                long from = newest == Long.MIN_VALUE ? second - HISTORY + 1 : Math.max(newest + 1, second - HISTORY + 1);
                for (long s = from; s <= second; s++) {
                    int i = index(s);
                    bytes[i] = 0;
                    packets[i] = 0;
                }
                newest = second;
            }
            int i = index(second);
            bytes[i] += (float) b;
            packets[i] += (float) p;
        }

        void merge(Ring o) {
            if (o.newest == Long.MIN_VALUE) {
                return;
            }
            for (long s = o.newest - HISTORY + 1; s <= o.newest; s++) {
                float b = o.at(o.bytes, s);
                float p = o.at(o.packets, s);
                if (b != 0 || p != 0) {
                    add(s, b, p);
                }
            }
        }

        float at(float[] a, long second) {
            if (newest == Long.MIN_VALUE || second > newest || second <= newest - HISTORY) {
                return 0;
            }
            return a[index(second)];
        }

        double sum(float[] a, long from, long to) {
            double sum = 0;
            for (long s = from; s <= to; s++) {
                sum += at(a, s);
            }
            return sum;
        }

        private static int index(long second) {
            return (int) Math.floorMod(second, (long) HISTORY);
        }
    }
}
