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
 * <p>Exactness is judged the way users read counters: {@code sum(increase())} and {@code sum(rate())}
 * over all series, "other" included. Every byte lands in exactly one series' increase, once:
 * <ul>
 *   <li>Each refresh reads the kernel map and turns every entry's growth into a delta for its series.</li>
 *   <li>Kernel entries idle for {@code drainIdle} are drained (lookup-and-delete, final value kept),
 *       so the kernel map holds only active pairs and normal traffic never hits its overflow path.
 *       Above 75% fill, every entry that did not change since the previous read is drained. An entry
 *       is forgotten only after its drain succeeded: a failed drain leaves it to the next read.</li>
 *   <li>Scrapes: every series (pair or "other") shows 0 in the first scrape that exports it, and its
 *       real total from the next one on, so the first sample's value is never lost to increase().
 *       {@link #scrape} marks what a scrape showed.</li>
 *   <li>Series budget: at most {@code maxSeries} series are exported, counting the "other" series.
 *       The rest are folded. A folded series simply disappears (Prometheus marks it stale: what it
 *       showed stays in its own increase()); only what it counted after the last scrape, and its
 *       traffic from then on, go to its "other". A series exported again starts from 0.
 *       Ranking is by recent traffic: bytes, exponentially decayed with a 60 s time constant.
 *       A new pair competes with its first traffic. Anti-flapping: an exported series ranks with
 *       twice its score, so a folded one replaces it only when more than twice as loud.</li>
 *   <li>Fairness across interfaces: the pair slots (the budget less the "other" slots) are shared
 *       first as a guaranteed quota, slots / interfaces (those with tracked series) for each
 *       interface's own top pairs; the slots left go by global ranking. One busy interface cannot
 *       take the slots of the others' top pairs.</li>
 *   <li>Expiry: a series idle for {@code ttl} is dropped like a fold. An "other" series is dropped
 *       when it has been idle for {@code ttl}, shown in full, and no tracked series or overflow counter
 *       feeds it: the series of an interface that is gone all go after {@code ttl}.</li>
 *   <li>Memory: beyond {@code maxTracked} series, the quietest folded series are forgotten; they
 *       hold nothing, their traffic went to "other".</li>
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
    /** The iface label of the catch-all "other" series. */
    public static final String ALL_IFACES = "other";

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
        private long packets; // counted since it was last exported
        private long bytes;
        private long shownPackets; // what the last scrape showed
        private long shownBytes;
        private boolean shown; // a scrape showed it (at 0 the first time)
        private double score;
        private long lastActive; // also when score was last updated
        private boolean exported;
        private int kernelRefs;

        Series(SeriesKey key, long now) {
            this.key = key;
            this.lastActive = now;
        }

        public SeriesKey key() {
            return key;
        }

        /** Counted since the series was last exported (the live view's value). */
        public long packets() {
            return packets;
        }

        public long bytes() {
            return bytes;
        }

        /** What a scrape exports now: 0 until a scrape has shown the series once. */
        public long scrapePackets() {
            return shown ? packets : 0;
        }

        public long scrapeBytes() {
            return shown ? bytes : 0;
        }

        public boolean exported() {
            return exported;
        }

        double scoreAt(long now) {
            return score * Math.exp(-(now - lastActive) / SCORE_TAU_NANOS);
        }
    }

    /** An "other" series: folded series' traffic and the kernel's overflow counters for one group. */
    public static final class Other {
        private long packets;
        private long bytes;
        private long shownPackets;
        private long shownBytes;
        private boolean shown;
        private long lastActive;
        // What series folded into this group had shown: not in "other"'s counter, but the live view
        // adds it so its rows keep adding up to everything counted.
        private long foldedPackets;
        private long foldedBytes;

        Other(long now) {
            this.lastActive = now;
        }

        void add(long dp, long db, long now) {
            packets += dp;
            bytes += db;
            if (dp != 0 || db != 0) {
                lastActive = now;
            }
        }

        public long scrapePackets() {
            return shown ? packets : 0;
        }

        public long scrapeBytes() {
            return shown ? bytes : 0;
        }

        /** For the live view: everything counted in this group outside the exported pairs. */
        public long livePackets() {
            return packets + foldedPackets;
        }

        public long liveBytes() {
            return bytes + foldedBytes;
        }

        boolean fullyShown() {
            return shown && shownPackets == packets && shownBytes == bytes;
        }
    }

    private static final class KernelEntry {
        long packets;
        long bytes;
        long lastChange;
        int seen; // generation of the last read that saw it
        Series series;
        long labelVersion; // the labeler's version when series was chosen

        KernelEntry(Series series, long now, long labelVersion) {
            this.series = series;
            this.lastChange = now;
            this.labelVersion = labelVersion;
        }
    }

    private final Settings settings;
    private final Labeler labeler;
    private IntFunction<String> ifaceNames = i -> "ifindex" + i;
    private final Map<FlowKey, KernelEntry> kernel = new HashMap<>();
    private final Map<SeriesKey, Series> series = new HashMap<>();
    private final Map<OtherKey, Other> other = new HashMap<>();
    private final Set<OtherKey> extraOtherKeys = new HashSet<>();
    private final Set<OtherKey> coarse = new HashSet<>(); // groups whose "other" is the catch-all
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
        RuntimeException failed = drainAll(reader, gone, now);
        if (failed != null) {
            throw failed;
        }
        return gone.size();
    }

    /** Drains each key; one failing does not stop the others. Returns the first failure, or null. */
    private RuntimeException drainAll(FlowReader reader, List<FlowKey> keys, long now) {
        RuntimeException failed = null;
        for (FlowKey k : keys) {
            try {
                drain(reader, k, now);
            } catch (RuntimeException e) {
                if (failed == null) {
                    failed = e;
                }
            }
        }
        return failed;
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
                long version = labeler.version();
                ke = new KernelEntry(seriesFor(labeler.seriesKey(k, ifaceNames.apply(k.ifindex())), now), now, version);
                ke.series.kernelRefs++;
                kernel.put(k, ke);
            }
            ke.seen = gen;
            observe(k, ke, p, b, now);
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
        // A failed drain must not stop expiry and the budget: report it after them.
        RuntimeException failed = drainAll(reader, idle, now);

        extraOtherKeys.clear();
        extraOtherKeys.addAll(overflowKeys);
        expire(now);
        enforceBudget(now);
        evict(now);
        if (failed != null) {
            throw failed;
        }
    }

    private void observe(FlowKey k, KernelEntry ke, long p, long b, long now) {
        // A smaller value than last time: the kernel entry started over, all of it is new.
        long dp = p >= ke.packets ? p - ke.packets : p;
        long db = b >= ke.bytes ? b - ke.bytes : b;
        ke.packets = p;
        ke.bytes = b;
        if (dp != 0 || db != 0) {
            ke.lastChange = now;
            relabel(k, ke, now);
            add(ke.series, dp, db, now);
        }
    }

    /**
     * When the labeler's answers changed (a pod IP now names another pod), a kernel entry's next
     * delta goes to the series the labeler names now: names are decided per delta, at read time,
     * and every delta still lands in exactly one series. The interface keeps the name it had.
     */
    private void relabel(FlowKey k, KernelEntry ke, long now) {
        long version = labeler.version();
        if (version == ke.labelVersion) {
            return;
        }
        ke.labelVersion = version;
        SeriesKey sk = labeler.seriesKey(k, ke.series.key.iface());
        if (!sk.equals(ke.series.key)) {
            ke.series.kernelRefs--;
            ke.series = seriesFor(sk, now);
            ke.series.kernelRefs++;
        }
    }

    /**
     * Drains one kernel entry. It is forgotten only once the drain succeeded: when the drain
     * throws, the entry is still in the kernel and the next read continues from the values seen.
     */
    private void drain(FlowReader reader, FlowKey k, long now) {
        KernelEntry ke = kernel.get(k);
        reader.drainFlow(k, (key, p, b) -> observe(k, ke, p, b, now));
        kernel.remove(k);
        ke.series.kernelRefs--;
        drained++;
    }

    private Series seriesFor(SeriesKey sk, long now) {
        Series s = series.get(sk);
        if (s == null) {
            s = new Series(sk, now);
            // Born exported with its own first traffic (a scrape shows it at 0 first); if that
            // leaves us over budget, the end of this refresh folds the quietest.
            s.exported = true;
            exportedCount++;
            series.put(sk, s);
        }
        return s;
    }

    private Other otherFor(OtherKey key, long now) {
        return other.computeIfAbsent(key, x -> new Other(now));
    }

    /** Where a group's "other" traffic goes: its own "other", or, when it is coarse, the catch-all. */
    private OtherKey route(OtherKey group) {
        return coarse.contains(group) ? catchAll(group) : group;
    }

    /** The "other" of every interface whose own "other" does not fit the budget (iface="other"). */
    static OtherKey catchAll(OtherKey group) {
        return new OtherKey(ALL_IFACES, group.direction(), group.ipType());
    }

    static boolean isCatchAll(OtherKey k) {
        return ALL_IFACES.equals(k.iface());
    }

    /** Adds to an "other" series directly: the kernel's overflow counters' growth. */
    public void addOther(OtherKey key, long packets, long bytes, long now) {
        if (packets != 0 || bytes != 0) {
            otherFor(route(key), now).add(packets, bytes, now);
        }
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
            otherFor(route(OtherKey.of(s.key)), now).add(dp, db, now);
        }
    }

    /**
     * The series stops being exported and disappears. What scrapes showed of it stays in its own
     * increase(); only what it counted since the last scrape goes to "other", with what comes next.
     */
    private void fold(Series s, long now, boolean expiring) {
        DeltaListener listener = deltaListener;
        if (listener != null) {
            listener.folded(s.key);
        }
        long unseenP = s.packets - s.shownPackets;
        long unseenB = s.bytes - s.shownBytes;
        OtherKey ok = route(OtherKey.of(s.key));
        // Expiry creates no "other" for nothing; a budget fold's group keeps one anyway.
        Other o = unseenP != 0 || unseenB != 0 || !expiring ? otherFor(ok, now) : other.get(ok);
        if (o != null) {
            o.add(unseenP, unseenB, now);
            o.foldedPackets += s.shownPackets;
            o.foldedBytes += s.shownBytes;
        }
        s.packets = 0;
        s.bytes = 0;
        s.shownPackets = 0;
        s.shownBytes = 0;
        s.shown = false;
        s.exported = false;
        exportedCount--;
    }

    private void expire(long now) {
        Set<OtherKey> fed = new HashSet<>();
        for (OtherKey k : extraOtherKeys) {
            fed.add(route(k));
        }
        for (Iterator<Series> it = series.values().iterator(); it.hasNext(); ) {
            Series s = it.next();
            // A series still fed by a kernel entry is not idle for long: its entry drains first.
            if (s.kernelRefs == 0 && now - s.lastActive >= settings.ttlNanos()) {
                if (s.exported) {
                    fold(s, now, true);
                }
                it.remove();
                expired++;
            } else {
                fed.add(route(OtherKey.of(s.key)));
            }
        }
        // An "other" goes when idle for the TTL, nothing can feed it any more, and scrapes showed all
        // of it (or none ever ran: with nobody scraping, churn must not grow memory).
        for (Iterator<Map.Entry<OtherKey, Other>> it = other.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<OtherKey, Other> e = it.next();
            Other o = e.getValue();
            if (!fed.contains(e.getKey()) && now - o.lastActive >= settings.ttlNanos() && (o.fullyShown() || !o.shown)) {
                it.remove();
            }
        }
    }

    /**
     * The budget: "other" series first, then pairs. Any group (interface, direction, ip_type)
     * with a folded series or an overflow counter needs its "other", and, when the pairs do not
     * all fit, any group of a tracked series may. When those "other" series alone do not fit
     * (more groups than the budget: many interfaces), the quietest groups are made coarse: their
     * "other" traffic goes to a catch-all with iface="other", one per (direction, ip_type), at most
     * 4, which --max-series always leaves room for. Returns the slots left for pairs.
     */
    private int otherBudget(long now) {
        int max = settings.maxSeries();
        Set<OtherKey> tracked = new HashSet<>();
        Set<OtherKey> needed = new HashSet<>(extraOtherKeys);
        Map<OtherKey, Double> groupScore = new HashMap<>();
        for (Series s : series.values()) {
            OtherKey g = OtherKey.of(s.key);
            tracked.add(g);
            if (!s.exported) {
                needed.add(g);
            }
            groupScore.merge(g, s.scoreAt(now), Double::sum);
        }
        Set<OtherKey> slots = new HashSet<>(other.keySet());
        slots.addAll(needed);
        if (series.size() + slots.size() > max) {
            slots.addAll(tracked);
        }
        if (slots.size() <= max) {
            coarse.clear();
            return max - slots.size();
        }
        Set<OtherKey> groups = new HashSet<>(needed);
        groups.addAll(tracked);
        Set<OtherKey> catchAlls = new HashSet<>();
        for (OtherKey k : other.keySet()) {
            (isCatchAll(k) ? catchAlls : groups).add(k);
        }
        List<OtherKey> ranked = new ArrayList<>(groups);
        ranked.sort((a, b) -> {
            int c = Double.compare(groupScore.getOrDefault(b, 0.0), groupScore.getOrDefault(a, 0.0)); // loudest first
            return c != 0 ? c : a.toString().compareTo(b.toString());
        });
        int fine = Math.min(ranked.size(), max);
        Set<OtherKey> cost;
        while (true) { // at most 5 rounds: the catch-alls are at most 4
            cost = new HashSet<>(catchAlls);
            for (int i = 0; i < ranked.size(); i++) {
                cost.add(i < fine ? ranked.get(i) : catchAll(ranked.get(i)));
            }
            if (cost.size() <= max || fine == 0) {
                break;
            }
            fine--;
        }
        coarse.clear();
        for (int i = fine; i < ranked.size(); i++) {
            OtherKey g = ranked.get(i);
            coarse.add(g);
            Other o = other.remove(g);
            if (o != null) { // it disappears like a folded pair: the catch-all takes what no scrape showed
                Other c = otherFor(catchAll(g), now);
                c.add(o.packets - o.shownPackets, o.bytes - o.shownBytes, now);
                c.foldedPackets += o.foldedPackets + o.shownPackets;
                c.foldedBytes += o.foldedBytes + o.shownBytes;
            }
        }
        return Math.max(0, max - cost.size());
    }

    private void enforceBudget(long now) {
        if (settings.maxSeries() == 0) {
            return;
        }
        int capacity = otherBudget(now);
        if (series.size() <= capacity) {
            for (Series s : series.values()) {
                if (!s.exported) {
                    promote(s);
                }
            }
            return;
        }
        // Rank by recent traffic; an exported series counts twice, so near the boundary the
        // exported set does not flap.
        int n = series.size();
        Series[] ranked = series.values().toArray(new Series[0]);
        Map<Series, Double> rankOf = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            Series s = ranked[i];
            rankOf.put(s, s.scoreAt(now) * (s.exported ? SWAP_FACTOR : 1));
        }
        java.util.Arrays.sort(ranked, (a, b) -> {
            int c = Double.compare(rankOf.get(b), rankOf.get(a)); // loudest first
            return c != 0 ? c : Boolean.compare(b.exported, a.exported);
        });
        // Fairness: each interface with tracked series is guaranteed capacity / interfaces slots
        // for its own top pairs; what is left goes by global ranking.
        Map<String, Integer> perIface = new HashMap<>();
        for (Series s : ranked) {
            perIface.putIfAbsent(s.key.iface(), 0);
        }
        int quota = capacity / perIface.size();
        boolean[] keep = new boolean[n];
        int kept = 0;
        if (quota > 0) {
            for (int i = 0; i < n; i++) {
                String iface = ranked[i].key.iface();
                int used = perIface.get(iface);
                if (used < quota) {
                    perIface.put(iface, used + 1);
                    keep[i] = true;
                    kept++;
                }
            }
        }
        for (int i = 0; i < n && kept < capacity; i++) {
            if (!keep[i]) {
                keep[i] = true;
                kept++;
            }
        }
        for (int i = 0; i < n; i++) { // fold first, so the count never exceeds the budget
            if (!keep[i] && ranked[i].exported) {
                fold(ranked[i], now, false);
            }
        }
        for (int i = 0; i < n; i++) {
            if (keep[i] && !ranked[i].exported) {
                promote(ranked[i]);
            }
        }
    }

    private void promote(Series s) {
        s.exported = true; // starts from zero: what it had went to "other"
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
            series.remove(candidates.get(i).key); // folded: its traffic went to "other" already
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

    /** "other" series by key. */
    public Map<OtherKey, Other> other() {
        return other;
    }

    /** What a scrape exports: each series and "other" with its scrape values. */
    public interface ScrapeVisitor {
        void series(SeriesKey key, Series s, long packets, long bytes);

        void other(OtherKey key, long packets, long bytes);
    }

    /**
     * Visits what a scrape exports now and records it as shown: a series shown at 0 once shows its
     * totals from the next scrape on, and a fold hands "other" only what no scrape has shown.
     */
    public void scrape(ScrapeVisitor visitor) {
        for (Series s : series.values()) {
            if (s.exported) {
                long p = s.scrapePackets();
                long b = s.scrapeBytes();
                visitor.series(s.key, s, p, b);
                shownChanged |= !s.shown || s.shownPackets != p || s.shownBytes != b;
                s.shown = true;
                s.shownPackets = p;
                s.shownBytes = b;
            }
        }
        for (Map.Entry<OtherKey, Other> e : other.entrySet()) {
            Other o = e.getValue();
            long p = o.scrapePackets();
            long b = o.scrapeBytes();
            visitor.other(e.getKey(), p, b);
            shownChanged |= !o.shown || o.shownPackets != p || o.shownBytes != b;
            o.shown = true;
            o.shownPackets = p;
            o.shownBytes = b;
        }
    }

    /** Whether a scrape showed a value no scrape had shown before, since the last call (which clears it). */
    public boolean takeShownChanged() {
        boolean c = shownChanged;
        shownChanged = false;
        return c;
    }

    private boolean shownChanged;

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

    // ---- state across restarts ---------------------------------------------------------------

    /** A copy of everything held, for a state file (see dev.ebpftraffic.persist.StateFile). */
    public AggregatorState saveState(long now) {
        List<AggregatorState.SeriesState> ss = new ArrayList<>(series.size());
        for (Series s : series.values()) {
            ss.add(new AggregatorState.SeriesState(s.key, s.packets, s.bytes, s.shownPackets, s.shownBytes, s.shown,
                    s.score, now - s.lastActive, s.exported));
        }
        List<AggregatorState.OtherState> os = new ArrayList<>(other.size());
        other.forEach((k, o) -> os.add(new AggregatorState.OtherState(k, o.packets, o.bytes, o.shownPackets, o.shownBytes,
                o.shown, now - o.lastActive, o.foldedPackets, o.foldedBytes)));
        List<AggregatorState.KernelState> ks = new ArrayList<>(kernel.size());
        kernel.forEach((k, e) -> ks.add(new AggregatorState.KernelState(k, e.series.key, e.packets, e.bytes, now - e.lastChange)));
        return new AggregatorState(ss, os, ks, List.copyOf(coarse), drained, expired, evicted);
    }

    /**
     * Continues from a saved state; call once, before the first refresh. With kernelContinues (the
     * kernel maps are the very ones the state was taken from), each kernel entry continues from the
     * value already counted, so the next read adds only what the kernel counted since. Otherwise
     * the kernel part is dropped: the maps are new, and all they hold is new.
     */
    public void restoreState(AggregatorState st, boolean kernelContinues, long now) {
        if (!series.isEmpty() || !other.isEmpty() || !kernel.isEmpty()) {
            throw new IllegalStateException("restoreState needs an empty aggregator");
        }
        for (AggregatorState.SeriesState x : st.series()) {
            Series s = new Series(x.key(), now - x.idleNanos());
            s.packets = x.packets();
            s.bytes = x.bytes();
            s.shownPackets = x.shownPackets();
            s.shownBytes = x.shownBytes();
            s.shown = x.shown();
            s.score = x.score();
            s.exported = x.exported();
            if (s.exported) {
                exportedCount++;
            }
            series.put(s.key, s);
        }
        for (AggregatorState.OtherState x : st.others()) {
            Other o = new Other(now - x.idleNanos());
            o.packets = x.packets();
            o.bytes = x.bytes();
            o.shownPackets = x.shownPackets();
            o.shownBytes = x.shownBytes();
            o.shown = x.shown();
            o.foldedPackets = x.foldedPackets();
            o.foldedBytes = x.foldedBytes();
            other.put(x.key(), o);
        }
        if (kernelContinues) {
            for (AggregatorState.KernelState x : st.kernel()) {
                Series s = series.get(x.series());
                if (s == null) {
                    continue; // not in a consistent state file; its entry then counts as new
                }
                // Version -1: the labeler is asked again at the entry's next delta (names are not saved).
                KernelEntry e = new KernelEntry(s, now - x.idleNanos(), -1);
                e.packets = x.packets();
                e.bytes = x.bytes();
                e.seen = generation;
                s.kernelRefs++;
                kernel.put(x.key(), e);
            }
        }
        coarse.addAll(st.coarse());
        drained = st.drained();
        expired = st.expired();
        evicted = st.evicted();
    }
}
