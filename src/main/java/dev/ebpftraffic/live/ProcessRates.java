package dev.ebpftraffic.live;

import dev.ebpftraffic.workload.ProcessTable;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Per-process rates for the Processes view, fed with each refresh's deltas while someone watches:
 * the same one-second rings and windows as {@link RateTracker} (whose Ring it uses), one ring per
 * process row and one per direction for the totals. Rings idle for {@link RateTracker#HISTORY} seconds
 * and rows the table forgot are dropped. The first refresh after {@link #reset} is only a baseline.
 */
final class ProcessRates implements ProcessTable.Listener {
    private final RateTracker.Clock clock;
    private final Map<ProcessTable.Row, RateTracker.Ring> rows = new HashMap<>();
    private final RateTracker.Ring[] directions = new RateTracker.Ring[2];
    private final Map<ProcessTable.Row, long[]> pending = new HashMap<>();

    ProcessRates(long epochNanos) {
        this.clock = new RateTracker.Clock(epochNanos);
    }

    @Override
    public synchronized void begin(long now) {
        pending.clear();
    }

    @Override
    public synchronized void delta(ProcessTable.Row row, long packets, long bytes) {
        long[] v = pending.computeIfAbsent(row, r -> new long[2]);
        v[0] += packets;
        v[1] += bytes;
    }

    @Override
    public synchronized void end(long now) {
        RateTracker.Clock.Span span = clock.advance(now);
        if (span == null) {
            pending.clear();
            return;
        }
        double t0 = span.t0();
        double t1 = span.t1();
        for (Map.Entry<ProcessTable.Row, long[]> e : pending.entrySet()) {
            rows.computeIfAbsent(e.getKey(), k -> new RateTracker.Ring()).spread(t0, t1, e.getValue());
            int d = e.getKey().direction().code();
            if (directions[d] == null) {
                directions[d] = new RateTracker.Ring();
            }
            directions[d].spread(t0, t1, e.getValue());
        }
        pending.clear();
        long current = (long) Math.floor(t1);
        rows.values().removeIf(r -> r.newest <= current - RateTracker.HISTORY);
    }

    synchronized void reset() {
        rows.clear();
        pending.clear();
        directions[0] = null;
        directions[1] = null;
        clock.reset();
    }

    /** Drops the rings of rows the table no longer has. */
    synchronized void retain(Set<ProcessTable.Row> live) {
        rows.keySet().retainAll(live);
    }

    synchronized int coveredSeconds() {
        return clock.coveredSeconds();
    }

    synchronized RateTracker.Rates rates(ProcessTable.Row row) {
        return rates(rows.get(row));
    }

    synchronized RateTracker.Rates direction(int code) {
        return rates(directions[code]);
    }

    private RateTracker.Rates rates(RateTracker.Ring r) {
        return clock.rates(r);
    }
}
