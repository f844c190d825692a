package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.workload.WorkloadAggregator;
import dev.ebpftraffic.workload.WorkloadAggregator.Key;

import java.util.HashMap;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * The Workloads view's rates: per workload series and per remote peer of each, fed by every refresh
 * while someone watches the view, in one-second rings as {@link RateTracker} keeps them (same
 * spreading, windows and baseline rule).
 *
 * <p>Peers are counted by the kernel only while the view is sampled, so a peer's bytes and packets are
 * what it exchanged since sampling began. At most {@link #MAX_PEERS} peers get a ring of their own
 * (480 bytes each); a new peer beyond that goes to its series' "other peers", as does traffic the
 * kernel's full peers map could not give a peer (then per direction and ip_type, see
 * {@link #peersFull}): never silently dropped. A peer or series without traffic for a minute is
 * forgotten.
 */
public final class WorkloadTracker implements WorkloadAggregator.LiveListener {
    /** Peers with a ring of their own, over all series: bounds the memory of a server with many clients. */
    public static final int MAX_PEERS = 4096;

    private final long epoch;
    private final int maxPeers;
    private final Map<Key, RateTracker.Ring> rows = new HashMap<>();
    private final Map<Key, Map<IpAddress, Peer>> peers = new HashMap<>();
    private final Map<Key, Peer> otherPeers = new HashMap<>();
    private final Map<Key, long[]> pendingRows = new HashMap<>();
    private final Map<Key, Map<IpAddress, long[]>> pendingPeers = new HashMap<>();
    private final long[][] peersFull = new long[4][2];
    private int peerCount;
    private long baseline = Long.MIN_VALUE;
    private long last = Long.MIN_VALUE;

    /** A peer's ring and what it counted since sampling began. */
    static final class Peer {
        final RateTracker.Ring ring = new RateTracker.Ring();
        long packets;
        long bytes;
    }

    public WorkloadTracker(long epochNanos) {
        this(epochNanos, MAX_PEERS);
    }

    WorkloadTracker(long epochNanos, int maxPeers) {
        this.epoch = epochNanos;
        this.maxPeers = maxPeers;
    }

    // ---- fed by the aggregator, under the collector's lock ------------------------------------

    @Override
    public synchronized void begin(long now) {
        pendingRows.clear();
        pendingPeers.clear();
    }

    @Override
    public synchronized void delta(Key series, long packets, long bytes) {
        long[] v = pendingRows.computeIfAbsent(series, x -> new long[2]);
        v[0] += packets;
        v[1] += bytes;
    }

    @Override
    public synchronized void peer(Key series, IpAddress remote, long packets, long bytes) {
        long[] v = pendingPeers.computeIfAbsent(series, x -> new HashMap<>()).computeIfAbsent(remote, x -> new long[2]);
        v[0] += packets;
        v[1] += bytes;
    }

    @Override
    public synchronized void peersFull(Direction direction, String ipType, long packets, long bytes) {
        if (baseline == Long.MIN_VALUE) {
            return; // before the baseline: not this sampling's
        }
        int i = direction.code() * 2 + ("private".equals(ipType) ? 1 : 0);
        peersFull[i][0] += packets;
        peersFull[i][1] += bytes;
    }

    @Override
    public synchronized void end(long now) {
        if (baseline == Long.MIN_VALUE || now <= last) {
            if (baseline == Long.MIN_VALUE) {
                baseline = now; // the first refresh covers an unknown time: only a baseline
            }
            last = Math.max(last, now);
            pendingRows.clear();
            pendingPeers.clear();
            return;
        }
        double t0 = seconds(last);
        double t1 = seconds(now);
        // First forget what was quiet for a minute (its room goes to new peers), then add this refresh.
        long stale = (long) Math.floor(t1) - RateTracker.HISTORY;
        rows.values().removeIf(r -> r.newest <= stale);
        for (Map<IpAddress, Peer> m : peers.values()) {
            int before = m.size();
            m.values().removeIf(p -> p.ring.newest <= stale);
            peerCount -= before - m.size();
        }
        peers.values().removeIf(Map::isEmpty);
        otherPeers.values().removeIf(p -> p.ring.newest <= stale);
        pendingRows.forEach((k, v) -> rows.computeIfAbsent(k, x -> new RateTracker.Ring()).spread(t0, t1, v));
        pendingPeers.forEach((k, byPeer) -> {
            Map<IpAddress, Peer> m = peers.computeIfAbsent(k, x -> new HashMap<>());
            byPeer.forEach((ip, v) -> {
                Peer p = m.get(ip);
                if (p == null) {
                    if (peerCount >= maxPeers) {
                        p = otherPeers.computeIfAbsent(k, x -> new Peer());
                    } else {
                        p = new Peer();
                        m.put(ip, p);
                        peerCount++;
                    }
                }
                p.packets += v[0];
                p.bytes += v[1];
                p.ring.spread(t0, t1, v);
            });
        });
        pendingRows.clear();
        pendingPeers.clear();
        last = now;
    }

    /** Forgets everything; the next refresh is a new baseline. */
    public synchronized void reset() {
        rows.clear();
        peers.clear();
        otherPeers.clear();
        pendingRows.clear();
        pendingPeers.clear();
        for (long[] f : peersFull) {
            f[0] = 0;
            f[1] = 0;
        }
        peerCount = 0;
        baseline = Long.MIN_VALUE;
        last = Long.MIN_VALUE;
    }

    // ---- read by the live view ----------------------------------------------------------------

    private double seconds(long nanos) {
        return (nanos - epoch) / 1e9;
    }

    private long currentSecond() {
        return (long) Math.floor(seconds(last));
    }

    /** Complete seconds since the baseline, at most a minute. */
    public synchronized int coveredSeconds() {
        if (baseline == Long.MIN_VALUE) {
            return 0;
        }
        long from = (long) Math.ceil(seconds(baseline));
        return (int) Math.max(0, Math.min(RateTracker.HISTORY, currentSecond() - from));
    }

    public synchronized RateTracker.Rates rates(Key series) {
        return rates(rows.get(series));
    }

    /** The peers of a series with their rates and counts since sampling began (any order). */
    public synchronized void forEachPeer(Key series, BiConsumer<IpAddress, WorkloadSnapshot.Peer> action) {
        Map<IpAddress, Peer> m = peers.get(series);
        if (m != null) {
            m.forEach((ip, p) -> action.accept(ip, peer(ip.toString(), p)));
        }
    }

    /** What the series' peers beyond MAX_PEERS counted, or null. */
    public synchronized WorkloadSnapshot.Peer otherPeers(Key series) {
        Peer p = otherPeers.get(series);
        return p == null ? null : peer(WorkloadAggregator.OTHER, p);
    }

    /** {packets, bytes} since sampling began that the kernel's full peers map could not give a peer. */
    public synchronized long[] peersFull(Direction direction) {
        long[] a = peersFull[direction.code() * 2];
        long[] b = peersFull[direction.code() * 2 + 1];
        return new long[] {a[0] + b[0], a[1] + b[1]};
    }

    /** Peer rings held (for tests of the bound). */
    synchronized int peerRings() {
        return peerCount;
    }

    private WorkloadSnapshot.Peer peer(String ip, Peer p) {
        RateTracker.Rates r = rates(p.ring);
        return new WorkloadSnapshot.Peer(ip, new Snapshot.Rates(r.bitsPerSecond(), r.packetsPerSecond()), p.bytes, p.packets);
    }

    private RateTracker.Rates rates(RateTracker.Ring r) {
        int covered = coveredSeconds();
        int n = RateTracker.WINDOWS.length;
        double[] bits = new double[n];
        double[] packets = new double[n];
        float[] history = new float[covered];
        if (r == null) {
            return new RateTracker.Rates(bits, packets, history);
        }
        long current = currentSecond();
        for (int i = 0; i < n; i++) {
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
