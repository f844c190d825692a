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

    private final RateTracker.Clock clock;
    private final int maxPeers;
    private final Map<Key, RateTracker.Ring> rows = new HashMap<>();
    private final Map<Key, Map<IpAddress, Peer>> peers = new HashMap<>();
    private final Map<Key, Peer> otherPeers = new HashMap<>();
    private final Map<Key, long[]> pendingRows = new HashMap<>();
    private final Map<Key, Map<IpAddress, long[]>> pendingPeers = new HashMap<>();
    private final long[][] peersFull = new long[4][2];
    private int peerCount;

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
        this.clock = new RateTracker.Clock(epochNanos);
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
        if (!clock.started()) {
            return; // before the baseline: not this sampling's
        }
        int i = direction.code() * 2 + ("private".equals(ipType) ? 1 : 0);
        peersFull[i][0] += packets;
        peersFull[i][1] += bytes;
    }

    @Override
    public synchronized void end(long now) {
        RateTracker.Clock.Span span = clock.advance(now); // null for the baseline: it covers an unknown time
        if (span == null) {
            pendingRows.clear();
            pendingPeers.clear();
            return;
        }
        double t0 = span.t0();
        double t1 = span.t1();
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
        clock.reset();
    }

    // ---- read by the live view ----------------------------------------------------------------

    /** Complete seconds since the baseline, at most a minute. */
    public synchronized int coveredSeconds() {
        return clock.coveredSeconds();
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
        return clock.rates(r);
    }
}
