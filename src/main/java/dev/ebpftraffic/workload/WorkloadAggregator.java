package dev.ebpftraffic.workload;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.WorkloadKey;
import dev.ebpftraffic.flow.Direction;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongFunction;

/**
 * The per-workload series: kernel "workloads" deltas per cgroup id, named by {@link WorkloadNames}
 * through a cgroup id resolver, summed per (workload, kind, direction, ip_type).
 *
 * <p>Exact in {@code sum(increase())} over all series, "other" included, by the rules of the per-IP
 * family (FlowAggregator): every series, "other" too, shows 0 in the first scrape that exports it and
 * its real total from the next one on; a series idle for the TTL is dropped, and what it counted after
 * the last scrape goes to its "other"; "other" is dropped once idle for the TTL and fully shown.
 * Budget: at most maxSeries series, the up to 4 "other" series (direction x ip_type) included; a new
 * workload gets a series while there is room, else its traffic goes to "other" (first come: workloads
 * are few and long-lived, so they are not ranked as IP pairs are). 0 = unlimited.
 * Cgroup ids no path resolves (a group deleted before the resolver saw it) go to workload="unresolved".
 * Not thread-safe: the collector serialises refreshes and scrapes.
 */
public final class WorkloadAggregator {
    public static final String OTHER = "other";
    public static final String UNRESOLVED = "unresolved";
    /** Slots kept for the "other" series: 2 directions x 2 ip types. */
    static final int OTHER_SLOTS = 4;

    /** The labels of one series. */
    public record Key(String workload, String kind, Direction direction, String ipType) {
    }

    private static final class Series {
        long packets;
        long bytes;
        long shownPackets;
        long shownBytes;
        boolean shown;
        long lastActive;

        Series(long now) {
            lastActive = now;
        }

        void add(long p, long b, long now) {
            packets += p;
            bytes += b;
            if (p != 0 || b != 0) {
                lastActive = now;
            }
        }
    }

    /** A resolved cgroup id: its workload, and when it was last seen (to forget ids that went away). */
    private record Named(Workload workload, long[] lastSeen) {
    }

    public interface Visitor {
        void series(Key key, long packets, long bytes);
    }

    /**
     * The live view's hook, called by every refresh while set: what each series grew by, and what
     * each remote peer of a series counted ("wl_peers", counted by the kernel only while sampling).
     * A peer is reported under the series its workload's traffic went to ("other" when folded).
     */
    public interface LiveListener {
        void begin(long now);

        void delta(Key series, long packets, long bytes);

        void peer(Key series, dev.ebpftraffic.flow.IpAddress remote, long packets, long bytes);

        /** Traffic the full "wl_peers" map could not give a peer (it is in the series' deltas). */
        void peersFull(Direction direction, String ipType, long packets, long bytes);

        void end(long now);
    }

    /**
     * Everything held, for a state file, at the level of the exported series (no kernel key: what the
     * kernel still holds is never in the series, see BpfFlowReader.readWorkloadDeltas). idleNanos: ages
     * at the snapshot. overflowSeen: the kernel's cumulative "workload_overflow" counters as last read,
     * index direction code * 2 + private.
     */
    public record State(List<SeriesState> series, List<SeriesState> others, long expired, long[][] overflowSeen,
                        long[] overflowTotal) {
    }

    public record SeriesState(Key key, long packets, long bytes, long shownPackets, long shownBytes, boolean shown,
                              long idleNanos) {
    }

    private final int maxSeries;
    private final long ttlNanos;
    private final LongFunction<Optional<String>> paths;
    private final Map<Key, Series> series = new HashMap<>();
    private final Map<Key, Series> other = new HashMap<>();
    private final Map<Long, Named> names = new HashMap<>();
    private final long[][] overflowSeen = new long[4][2];
    private final Set<Long> unresolved = new HashSet<>();
    private long expired;
    private long[] overflowTotal = new long[2];
    private final long[][] peersFullSeen = new long[4][2];
    private LiveListener live;
    /** "wl_peers" may hold entries: it is read while the live view samples, and after until drained. */
    private boolean peersToRead;
    private volatile java.util.function.Function<String, String[]> podNames;

    /** paths: cgroup id to its path (CgroupResolver::path), empty when unknown. */
    public WorkloadAggregator(int maxSeries, long ttlNanos, LongFunction<Optional<String>> paths) {
        this.maxSeries = maxSeries;
        this.ttlNanos = ttlNanos;
        this.paths = paths;
    }

    /**
     * --kubernetes: a pod UID to {workload, kind} ("namespace/owning workload" and its kind, as in
     * the per-IP family's labels), or null while the cache does not know the pod. Asked per delta, so
     * a pod named later has its next delta under the name; each delta still lands in one series.
     */
    public void podNames(java.util.function.Function<String, String[]> names) {
        this.podNames = names;
    }

    /** Reads what the kernel counted since the last refresh into the series. */
    public void refresh(FlowReader reader, long now) {
        LiveListener l = live;
        if (l != null) {
            l.begin(now);
        }
        unresolved.clear();
        reader.readWorkloadDeltas((k, p, b) -> add(k, p, b, now));
        long[][] o = reader.readWorkloadOverflow();
        for (int i = 0; i < 4; i++) {
            long dp = o[i][0] - overflowSeen[i][0];
            long db = o[i][1] - overflowSeen[i][1];
            if (dp != 0 || db != 0) {
                Direction d = Direction.ofCode(i / 2);
                Key ok = otherKey(d, (i & 1) == 1 ? "private" : "public");
                other(d, ok.ipType(), now).add(dp, db, now);
                if (l != null) {
                    l.delta(ok, dp, db);
                }
                overflowTotal[0] += dp;
                overflowTotal[1] += db;
            }
            overflowSeen[i][0] = o[i][0];
            overflowSeen[i][1] = o[i][1];
        }
        refreshPeers(reader, l);
        expire(now);
        if (l != null) {
            l.end(now);
        }
    }

    /**
     * Reads "wl_peers" while the live view samples and afterwards until the kernel map is empty (the flag
     * is off: two epoch flips empty it); otherwise not at all, so scrapes pay nothing for the peers.
     * Reported only while live is set.
     */
    private void refreshPeers(FlowReader reader, LiveListener l) {
        if (l == null && !peersToRead) {
            return;
        }
        int left = reader.readPeerDeltas((k, p, b) -> {
            if (l != null) {
                l.peer(seriesOf(k.workload()), k.remote(), p, b);
            }
        });
        peersToRead = l != null || left > 0;
        long[][] f = reader.readPeerOverflow();
        for (int i = 0; i < 4; i++) {
            long dp = f[i][0] - peersFullSeen[i][0];
            long db = f[i][1] - peersFullSeen[i][1];
            if (l != null && (dp != 0 || db != 0)) {
                l.peersFull(Direction.ofCode(i / 2), (i & 1) == 1 ? "private" : "public", dp, db);
            }
            peersFullSeen[i][0] = f[i][0];
            peersFullSeen[i][1] = f[i][1];
        }
    }

    /** Starts (non-null) or stops (null) reporting each refresh's deltas to the live view. */
    public void setLiveListener(LiveListener listener) {
        live = listener;
        peersToRead = true;
    }

    /** The series a cgroup's traffic of this direction and ip_type goes to now. */
    private Key seriesOf(WorkloadKey k) {
        Named n = names.get(k.cgroup());
        Key key = n == null ? new Key(UNRESOLVED, "unknown", k.direction(), k.ipType())
                : new Key(n.workload().name(), n.workload().kind().label(), k.direction(), k.ipType());
        return series.containsKey(key) ? key : otherKey(k.direction(), k.ipType());
    }

    private static Key otherKey(Direction d, String ipType) {
        return new Key(OTHER, OTHER, d, ipType);
    }

    /** Every series, "other" included, with its whole count so far (what the next scrape shows), without marking it shown. */
    public void visitTotals(Visitor v) {
        series.forEach((k, s) -> v.series(k, s.packets, s.bytes));
        other.forEach((k, s) -> v.series(k, s.packets, s.bytes));
    }

    void add(WorkloadKey k, long packets, long bytes, long now) {
        Named n = names.get(k.cgroup());
        String workload;
        String kind;
        if (n == null) {
            Optional<String> path = paths.apply(k.cgroup());
            if (path.isPresent()) {
                n = new Named(WorkloadNames.of(path.get()), new long[] {now});
                names.put(k.cgroup(), n);
            }
        }
        if (n != null) {
            n.lastSeen()[0] = now;
            workload = n.workload().name();
            kind = n.workload().kind().label();
            java.util.function.Function<String, String[]> pods = podNames;
            if (pods != null && n.workload().kind() == Workload.Kind.KUBERNETES && n.workload().podUid() != null) {
                String[] named = pods.apply(n.workload().podUid());
                if (named != null) {
                    workload = named[0];
                    kind = named[1];
                }
            }
        } else {
            unresolved.add(k.cgroup());
            workload = UNRESOLVED;
            kind = "unknown";
        }
        Key key = new Key(workload, kind, k.direction(), k.ipType());
        Series s = series.get(key);
        if (s == null) {
            if (maxSeries > 0 && series.size() + OTHER_SLOTS >= maxSeries) {
                other(k.direction(), k.ipType(), now).add(packets, bytes, now);
                if (live != null) {
                    live.delta(otherKey(k.direction(), k.ipType()), packets, bytes);
                }
                return;
            }
            s = new Series(now);
            series.put(key, s);
        }
        s.add(packets, bytes, now);
        if (live != null) {
            live.delta(key, packets, bytes);
        }
    }

    private Series other(Direction d, String ipType, long now) {
        return other.computeIfAbsent(otherKey(d, ipType), x -> new Series(now));
    }

    private void expire(long now) {
        for (Iterator<Map.Entry<Key, Series>> it = series.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Key, Series> e = it.next();
            Series s = e.getValue();
            if (now - s.lastActive >= ttlNanos) {
                // Stale from now on in Prometheus: what it showed stays in its own increase(); the rest goes on in "other".
                long dp = s.packets - s.shownPackets;
                long db = s.bytes - s.shownBytes;
                if (dp != 0 || db != 0) {
                    other(e.getKey().direction(), e.getKey().ipType(), now).add(dp, db, now);
                }
                it.remove();
                expired++;
            }
        }
        other.values().removeIf(o -> now - o.lastActive >= ttlNanos && o.shown
                && o.shownPackets == o.packets && o.shownBytes == o.bytes);
        names.values().removeIf(n -> now - n.lastSeen()[0] >= ttlNanos);
    }

    /**
     * Visits every series as this scrape exports it (0 the first time a series is exported) and
     * marks it shown. Sorted, so the exposition is stable.
     */
    public void scrape(Visitor v) {
        List<Map.Entry<Key, Series>> all = new ArrayList<>(series.entrySet());
        all.addAll(other.entrySet());
        all.sort((a, b) -> {
            Key x = a.getKey();
            Key y = b.getKey();
            int c = x.workload().compareTo(y.workload());
            if (c == 0) {
                c = x.direction().compareTo(y.direction());
            }
            return c != 0 ? c : x.ipType().compareTo(y.ipType());
        });
        for (Map.Entry<Key, Series> e : all) {
            Series s = e.getValue();
            long p = s.shown ? s.packets : 0;
            long b = s.shown ? s.bytes : 0;
            v.series(e.getKey(), p, b);
            shownChanged |= !s.shown || s.shownPackets != p || s.shownBytes != b;
            s.shown = true;
            s.shownPackets = p;
            s.shownBytes = b;
        }
    }

    private boolean shownChanged;

    /** Whether a scrape showed a value no scrape had shown before, since the last call (which clears it). */
    public boolean takeShownChanged() {
        boolean c = shownChanged;
        shownChanged = false;
        return c;
    }

    /** A copy of everything held (see {@link State}). */
    public State saveState(long now) {
        List<SeriesState> ss = new ArrayList<>(series.size());
        series.forEach((k, s) -> ss.add(save(k, s, now)));
        List<SeriesState> os = new ArrayList<>(other.size());
        other.forEach((k, s) -> os.add(save(k, s, now)));
        long[][] seen = new long[4][];
        for (int i = 0; i < 4; i++) {
            seen[i] = overflowSeen[i].clone();
        }
        return new State(ss, os, expired, seen, overflowTotal.clone());
    }

    private static SeriesState save(Key k, Series s, long now) {
        return new SeriesState(k, s.packets, s.bytes, s.shownPackets, s.shownBytes, s.shown, now - s.lastActive);
    }

    /**
     * Continues from a saved state, before the first refresh. kernelContinues: the kernel's
     * "workload_overflow" counters are the ones st last read (pinned maps of the same boot), so only
     * their growth is new; otherwise they start from 0.
     */
    public void restoreState(State st, boolean kernelContinues, long now) {
        if (!series.isEmpty() || !other.isEmpty()) {
            throw new IllegalStateException("restoreState needs an empty aggregator");
        }
        for (SeriesState x : st.series()) {
            series.put(x.key(), restore(x, now));
        }
        for (SeriesState x : st.others()) {
            other.put(x.key(), restore(x, now));
        }
        expired = st.expired();
        overflowTotal = st.overflowTotal().clone();
        if (kernelContinues) {
            for (int i = 0; i < 4; i++) {
                overflowSeen[i][0] = st.overflowSeen()[i][0];
                overflowSeen[i][1] = st.overflowSeen()[i][1];
            }
        }
    }

    private static Series restore(SeriesState x, long now) {
        Series s = new Series(now - x.idleNanos());
        s.packets = x.packets();
        s.bytes = x.bytes();
        s.shownPackets = x.shownPackets();
        s.shownBytes = x.shownBytes();
        s.shown = x.shown();
        return s;
    }

    /** Cgroup ids of the last refresh that no path resolved: their traffic is under workload="unresolved". */
    public int unresolvedCgroups() {
        return unresolved.size();
    }

    public int exportedSeries() {
        return series.size();
    }

    public long expiredTotal() {
        return expired;
    }

    /** {packets, bytes} the kernel could not put in its full "workloads" map (they are in "other"). */
    public long[] overflowTotal() {
        return overflowTotal.clone();
    }

    public int maxSeries() {
        return maxSeries;
    }
}
