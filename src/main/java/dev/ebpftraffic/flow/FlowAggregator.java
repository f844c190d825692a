package dev.ebpftraffic.flow;

import dev.ebpftraffic.flow.FlowReader;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.IntFunction;

/**
 * Turns kernel map contents into bounded, exact, monotonic series.
 *
 * <ul>
 *   <li>Each refresh reads the kernel map and turns every entry's growth into a delta for its series.</li>
 *   <li>Kernel entries idle for {@code drainIdle} are drained (lookup-and-delete, final value kept),
 *       so the kernel map holds only active pairs and normal traffic never hits its overflow path.
 *       Above 75% fill, every entry that did not change since the previous read is drained.</li>
 *   <li>Series budget: at most {@code maxSeries} series are exported, counting the "other" series.
 *       The rest are folded into "other". A folded series' total moves into "other" and stays there,
 *       so no exported counter ever decreases and the sum over all series never changes.
 *       Ranking is by recent traffic: bytes, exponentially decayed with a 60 s time constant.
 *       A new pair competes with its first traffic. Anti-flapping: a folded series replaces an
 *       exported one only when its recent traffic is more than twice as large.</li>
 *   <li>Expiry: a series idle for {@code ttl} is dropped; what it exported moves into "other".</li>
 *   <li>Memory: beyond {@code maxTracked} series, the quietest folded series are forgotten; they
 *       hold nothing that is not already in "other", so totals stay exact.</li>
 *   <li>Interfaces: a series is identified by the interface's name, resolved from the kernel key's
 *       ifindex when that key is first seen. An interface deleted and recreated under the same name
 *       (a new ifindex) feeds the same series, so its counters continue. When an ifindex is gone,
 *       {@link #drainIfindex} drains its kernel entries right away.</li>
 * </ul>
 * Not thread-safe: the collector serialises refreshes and reads.
 */
public final class FlowAggregator {
    static final double SCORE_TAU_NANOS = 60e9;
    static final double SWAP_FACTOR = 2.0;
    static final double PRESSURE_FILL = 0.75;

    public record Settings(int maxSeries, long ttlNanos, long drainIdleNanos, int maxTracked) {
        public Settings {
            if (maxSeries < 0) {
                throw new IllegalArgumentException("max series must be >= 0");
            }
        }

        /**
         * Bound on tracked series when a budget is set: the exported ones, one per kernel entry
         * (two maps of mapSize: IPv4 and IPv6), and as many folded ones again to remember who was
         * loud recently.
         */
        public static int defaultMaxTracked(int maxSeries, int mapSize) {
            if (maxSeries == 0) {
                return Integer.MAX_VALUE; // unlimited export: only the TTL bounds memory
            }
            return (int) Math.min(Integer.MAX_VALUE, maxSeries + 4L * mapSize);
        }
    }

    /** An exported or folded series. */
    public static final class Series {
        private final SeriesKey key;
        private long packets;
        private long bytes;
        private double score;
        private long lastActive; // also when score was last updated
        private boolean exported;
        private int kernelRefs;
        /** For the collector: the series' labels, rendered once. */
        public byte[] exportCache;

        Series(SeriesKey key, long now) {
            this.key = key;
            this.lastActive = now;
        }

        public SeriesKey key() {
            return key;
        }

        public long packets() {
            return packets;
        }

        public long bytes() {
            return bytes;
        }

        public boolean exported() {
            return exported;
        }

        double scoreAt(long now) {
            return score * Math.exp(-(now - lastActive) / SCORE_TAU_NANOS);
        }
    }

    private static final class KernelEntry {
        long packets;
        long bytes;
        long lastChange;
        int seen; // generation of the last read that saw it
        final Series series;

        KernelEntry(Series series, long now) {
            this.series = series;
            this.lastChange = now;
        }
    }

    private final Settings settings;
    private final Labeler labeler;
    private IntFunction<String> ifaceNames = i -> "ifindex" + i;
    private final Map<FlowKey, KernelEntry> kernel = new HashMap<>();
    private final Map<SeriesKey, Series> series = new HashMap<>();
    private final Map<OtherKey, long[]> other = new HashMap<>();
    private final Set<OtherKey> extraOtherKeys = new HashSet<>();
    private final Set<OtherKey> groups = new HashSet<>(); // every (iface, direction, ip_type) seen
    private int exportedCount;
    private int generation;
    private long drained;
    private long expired;
    private long evicted;
    private int lastKernelEntries4;
    private int lastKernelEntries6;
    private DeltaListener deltaListener;

    /**
     * Sees what each refresh adds, for the live view's rates: begin, then every delta (a series'
     * growth since the previous refresh; folded series' deltas go to their "other"), then end.
     */
    public interface DeltaListener {
        void begin(long now);

        /** @param exported false when the series is folded: the delta went to OtherKey.of(key) */
        void delta(SeriesKey key, boolean exported, long packets, long bytes);

        /** The series was folded (budget or expiry): what it counted is "other"'s from now on. */
        void folded(SeriesKey key);

        void end(long now);
    }

    /** Null to stop: then a refresh costs nothing extra. Set it between refreshes (under the caller's lock). */
    public void setDeltaListener(DeltaListener listener) {
        this.deltaListener = listener;
    }

    public FlowAggregator(Settings settings, Labeler labeler) {
        this.settings = settings;
        this.labeler = labeler;
    }

    /** How an ifindex is named in the iface label; asked once per kernel key, when it is first seen. */
    public void ifaceNames(IntFunction<String> names) {
        this.ifaceNames = names;
    }

    /**
     * The interface with this ifindex is gone: drains every kernel entry of it that the last
     * refresh saw (final values go to their series), so nothing of it stays in the kernel map.
     * Call right after {@link #refresh}. Returns the number of entries drained.
     */
    public int drainIfindex(FlowReader reader, int ifindex, long now) {
        List<FlowKey> gone = new ArrayList<>();
        for (FlowKey k : kernel.keySet()) {
            if (k.ifindex() == ifindex) {
                gone.add(k);
            }
        }
        for (FlowKey k : gone) {
            drain(reader, k, now);
        }
        return gone.size();
    }

    /**
     * Reads the kernel map, drains idle kernel entries, expires, folds and evicts series.
     *
     * @param overflowKeys "other" keys the kernel's overflow counters will add; they take budget too
     */
    public void refresh(FlowReader reader, long now, Collection<OtherKey> overflowKeys) {
        DeltaListener listener = deltaListener;
        if (listener != null) {
            listener.begin(now);
        }
        try {
            refresh0(reader, now, overflowKeys);
        } finally {
            if (listener != null) {
                listener.end(now);
            }
        }
    }

    private void refresh0(FlowReader reader, long now, Collection<OtherKey> overflowKeys) {
        int gen = ++generation;
        int[] count = {0, 0}; // entries of flows4, flows6
        reader.readFlows((k, p, b) -> {
            count[k.ipv4() ? 0 : 1]++;
            KernelEntry ke = kernel.get(k);
            if (ke == null) {
                ke = new KernelEntry(seriesFor(k, now), now);
                ke.series.kernelRefs++;
                kernel.put(k, ke);
            }
            ke.seen = gen;
            observe(ke, p, b, now);
        });
        lastKernelEntries4 = count[0];
        lastKernelEntries6 = count[1];

        // Drain idle kernel entries; forget the ones someone else deleted. When a map is filling
        // up, anything of it that did not change since the last read goes, to keep room for new pairs.
        long idleLimit4 = count[0] > reader.flowCapacity() * PRESSURE_FILL ? 1 : settings.drainIdleNanos();
        long idleLimit6 = count[1] > reader.flowCapacity() * PRESSURE_FILL ? 1 : settings.drainIdleNanos();
        List<FlowKey> idle = new ArrayList<>();
        for (Iterator<Map.Entry<FlowKey, KernelEntry>> it = kernel.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<FlowKey, KernelEntry> e = it.next();
            KernelEntry ke = e.getValue();
            if (ke.seen != gen) {
                ke.series.kernelRefs--;
                it.remove();
            } else if (now - ke.lastChange >= (e.getKey().ipv4() ? idleLimit4 : idleLimit6)) {
                idle.add(e.getKey());
            }
        }
        for (FlowKey k : idle) {
            drain(reader, k, now);
        }

        expire(now);
        extraOtherKeys.clear();
        extraOtherKeys.addAll(overflowKeys);
        enforceBudget(now);
        evict(now);
    }

    private void observe(KernelEntry ke, long p, long b, long now) {
        // A smaller value than last time: the kernel entry started over, all of it is new.
        long dp = p >= ke.packets ? p - ke.packets : p;
        long db = b >= ke.bytes ? b - ke.bytes : b;
        ke.packets = p;
        ke.bytes = b;
        if (dp != 0 || db != 0) {
            ke.lastChange = now;
            add(ke.series, dp, db, now);
        }
    }

    private void drain(FlowReader reader, FlowKey k, long now) {
        KernelEntry ke = kernel.remove(k);
        reader.drainFlow(k, (key, p, b) -> observe(ke, p, b, now));
        ke.series.kernelRefs--;
        drained++;
    }

    private Series seriesFor(FlowKey k, long now) {
        SeriesKey sk = labeler.seriesKey(k, ifaceNames.apply(k.ifindex()));
        Series s = series.get(sk);
        if (s == null) {
            s = new Series(sk, now);
            groups.add(OtherKey.of(sk));
            // Born exported with its own first traffic; if that leaves us over budget, the end of
            // this refresh folds the quietest, before any scrape can see it.
            s.exported = true;
            exportedCount++;
            series.put(sk, s);
        }
        return s;
    }

    private void add(Series s, long dp, long db, long now) {
        DeltaListener listener = deltaListener;
        if (listener != null) {
            listener.delta(s.key, s.exported, dp, db);
        }
        s.score = s.scoreAt(now) + db;
        s.lastActive = now;
        if (s.exported) {
            s.packets += dp;
            s.bytes += db;
        } else {
            long[] o = other.computeIfAbsent(OtherKey.of(s.key), x -> new long[2]);
            o[0] += dp;
            o[1] += db;
        }
    }

    private void fold(Series s) {
        DeltaListener listener = deltaListener;
        if (listener != null) {
            listener.folded(s.key);
        }
        long[] o = other.computeIfAbsent(OtherKey.of(s.key), x -> new long[2]);
        o[0] += s.packets;
        o[1] += s.bytes;
        s.packets = 0;
        s.bytes = 0;
        s.exported = false;
        exportedCount--;
    }

    private void expire(long now) {
        for (Iterator<Series> it = series.values().iterator(); it.hasNext(); ) {
            Series s = it.next();
            // A series still fed by a kernel entry is not idle for long: its entry drains first.
            if (s.kernelRefs == 0 && now - s.lastActive >= settings.ttlNanos()) {
                if (s.exported) {
                    fold(s);
                }
                it.remove();
                expired++;
            }
        }
    }

    /**
     * "other" label sets that exist or may appear; they count against the budget. When the series
     * do not all fit, any group (interface, direction, ip_type) may need its "other".
     */
    private int otherSlots(int seriesCount) {
        Set<OtherKey> keys = new HashSet<>(other.keySet());
        keys.addAll(extraOtherKeys);
        if (seriesCount + keys.size() > settings.maxSeries()) {
            keys.addAll(groups);
        }
        return keys.size();
    }

    private int exportCapacity(int seriesCount) {
        return Math.max(0, settings.maxSeries() - otherSlots(seriesCount));
    }

    private void enforceBudget(long now) {
        if (settings.maxSeries() == 0) {
            return;
        }
        int capacity = exportCapacity(series.size());
        List<Series> exported = new ArrayList<>(exportedCount);
        List<Series> folded = new ArrayList<>();
        for (Series s : series.values()) {
            (s.exported ? exported : folded).add(s);
        }
        exported.sort((a, b) -> Double.compare(a.scoreAt(now), b.scoreAt(now))); // quietest first
        int e = 0;
        while (exported.size() - e > capacity) { // over budget (e.g. "other" slots appeared): fold the quietest
            fold(exported.get(e++));
        }
        if (folded.isEmpty()) {
            return;
        }
        folded.sort((a, b) -> Double.compare(b.scoreAt(now), a.scoreAt(now))); // loudest first
        int f = 0;
        while (f < folded.size() && exportedCount < capacity) { // free slots: promote the loudest
            promote(folded.get(f++));
        }
        // Swap only on a clear win, so series near the boundary do not flap.
        while (f < folded.size() && e < exported.size()
                && folded.get(f).scoreAt(now) > SWAP_FACTOR * exported.get(e).scoreAt(now)) {
            fold(exported.get(e++));
            promote(folded.get(f++));
        }
    }

    private void promote(Series s) {
        s.exported = true; // starts from zero: what it had is in "other" for good
        exportedCount++;
    }

    private void evict(long now) {
        if (series.size() <= settings.maxTracked()) {
            return;
        }
        List<Series> candidates = new ArrayList<>();
        for (Series s : series.values()) {
            if (!s.exported && s.kernelRefs == 0) {
                candidates.add(s);
            }
        }
        candidates.sort((a, b) -> Double.compare(a.scoreAt(now), b.scoreAt(now)));
        for (int i = 0; i < candidates.size() && series.size() > settings.maxTracked(); i++) {
            series.remove(candidates.get(i).key); // folded: everything it counted is in "other" already
            evicted++;
        }
    }

    /** Exported series, in no particular order. */
    public void forEachExported(BiConsumer<SeriesKey, Series> action) {
        for (Series s : series.values()) {
            if (s.exported) {
                action.accept(s.key, s);
            }
        }
    }

    /** Folded totals per "other" key: {packets, bytes}. */
    public Map<OtherKey, long[]> other() {
        return other;
    }

    public int trackedSeries() {
        return series.size();
    }

    public int exportedSeries() {
        return exportedCount;
    }

    /** Entries of the kernel's flows4 (ipv4 true) or flows6 map at the last read. */
    public int kernelEntries(boolean ipv4) {
        return ipv4 ? lastKernelEntries4 : lastKernelEntries6;
    }

    public long drainedTotal() {
        return drained;
    }

    public long expiredTotal() {
        return expired;
    }

    public long evictedTotal() {
        return evicted;
    }

    public Settings settings() {
        return settings;
    }
}
