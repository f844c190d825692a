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
    private final long epoch;
    private final Map<ProcessTable.Row, RateTracker.Ring> rows = new HashMap<>();
    private final RateTracker.Ring[] directions = new RateTracker.Ring[2];
    private final Map<ProcessTable.Row, long[]> pending = new HashMap<>();
    private long baseline = Long.MIN_VALUE;
    private long last = Long.MIN_VALUE;

    ProcessRates(long epochNanos) {
        this.epoch = epochNanos;
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
        boolean first = baseline == Long.MIN_VALUE;
        if (first || now <= last) {
            if (first) {
                baseline = now;
            }
            last = Math.max(last, now);
            pending.clear();
            return;
        }
        double t0 = seconds(last);
        double t1 = seconds(now);
        for (Map.Entry<ProcessTable.Row, long[]> e : pending.entrySet()) {
            rows.computeIfAbsent(e.getKey(), k -> new RateTracker.Ring()).spread(t0, t1, e.getValue());
            int d = e.getKey().direction().code();
            if (directions[d] == null) {
                directions[d] = new RateTracker.Ring();
            }
            directions[d].spread(t0, t1, e.getValue());
        }
        pending.clear();
        last = now;
        long current = (long) Math.floor(t1);
        rows.values().removeIf(r -> r.newest <= current - RateTracker.HISTORY);
    }

    synchronized void reset() {
        rows.clear();
        pending.clear();
        directions[0] = null;
        directions[1] = null;
        baseline = Long.MIN_VALUE;
        last = Long.MIN_VALUE;
    }

    /** Drops the rings of rows the table no longer has. */
    synchronized void retain(Set<ProcessTable.Row> live) {
        rows.keySet().retainAll(live);
    }

    private double seconds(long nanos) {
        return (nanos - epoch) / 1e9;
    }

    synchronized int coveredSeconds() {
        if (baseline == Long.MIN_VALUE) {
            return 0;
        }
        long from = (long) Math.ceil(seconds(baseline));
        long current = (long) Math.floor(seconds(last));
        return (int) Math.max(0, Math.min(RateTracker.HISTORY, current - from));
    }

    synchronized RateTracker.Rates rates(ProcessTable.Row row) {
        return rates(rows.get(row));
    }

    synchronized RateTracker.Rates direction(int code) {
        return rates(directions[code]);
    }

    /** As RateTracker's: the W complete seconds before the current one, over W (or the seconds covered). */
    private RateTracker.Rates rates(RateTracker.Ring r) {
        int covered = coveredSeconds();
        double[] bits = new double[RateTracker.WINDOWS.length];
        double[] packets = new double[RateTracker.WINDOWS.length];
        float[] history = new float[covered];
        if (r == null) {
            return new RateTracker.Rates(bits, packets, history);
        }
        long current = (long) Math.floor(seconds(last));
        for (int i = 0; i < RateTracker.WINDOWS.length; i++) {
            int w = Math.min(RateTracker.WINDOWS[i], covered);
            if (w > 0) {
                bits[i] = 8 * r.sum(r.bytes, current - w, current - 1) / w;
                packets[i] = r.sum(r.packets, current - w, current - 1) / w;
            }
        }
        for (int i = 0; i < covered; i++) {
            history[i] = 8 * r.at(r.bytes, current - covered + i);
        }
        return new RateTracker.Rates(bits, packets, history);
    }
}
