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
        unresolved.clear();
        reader.readWorkloadDeltas((k, p, b) -> add(k, p, b, now));
        long[][] o = reader.readWorkloadOverflow();
        for (int i = 0; i < 4; i++) {
            long dp = o[i][0] - overflowSeen[i][0];
            long db = o[i][1] - overflowSeen[i][1];
            if (dp != 0 || db != 0) {
                Direction d = Direction.ofCode(i / 2);
                other(d, (i & 1) == 1 ? "private" : "public", now).add(dp, db, now);
                overflowTotal[0] += dp;
                overflowTotal[1] += db;
            }
            overflowSeen[i][0] = o[i][0];
            overflowSeen[i][1] = o[i][1];
        }
        expire(now);
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
                return;
            }
            s = new Series(now);
            series.put(key, s);
        }
        s.add(packets, bytes, now);
    }

    private Series other(Direction d, String ipType, long now) {
        return other.computeIfAbsent(new Key(OTHER, OTHER, d, ipType), x -> new Series(now));
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
            s.shown = true;
            s.shownPackets = p;
            s.shownBytes = b;
        }
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
