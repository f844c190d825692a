package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.FlowTable;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.StatKey;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * The kernel's per-interface stats counters (flows-map overflow, skipped packets), by interface
 * name: live kernel entries plus the totals of interfaces that are gone. Not thread-safe: the
 * collector calls it under its lock.
 */
final class StatsTable {
    /** A stats counter as exported: by interface name. */
    record NamedStat(String iface, Direction direction, KernelStat stat) {
    }

    private final IntFunction<String> ifaceName;
    private final FlowTable<StatKey> stats = new FlowTable<>();
    /**
     * Totals of stats entries whose interface is gone, by interface name: {packets, bytes, when
     * retired}. Dropped after the series TTL unless a live entry continues under the same name.
     */
    private final Map<NamedStat, long[]> retiredStats = new HashMap<>();
    /** The overflow counters as last seen, to hand "other" their growth. */
    private final Map<OtherKey, long[]> overflowSeen = new HashMap<>();

    StatsTable(IntFunction<String> ifaceName) {
        this.ifaceName = ifaceName;
    }

    /** Reads the kernel's stats map; throws if the read fails (the last totals stay). */
    void read(FlowReader reader) {
        stats.beginRead();
        reader.readStats(stats::observe);
        stats.endRead();
    }

    /**
     * Hands "other" the growth of every overflow counter since the last call, and the live view
     * the cumulative counters. Returns the "other" keys the overflow counters feed.
     */
    List<OtherKey> feedOverflow(FlowAggregator flows, TrafficCollector.LiveListener l, long now) {
        List<OtherKey> overflowKeys = new ArrayList<>();
        Map<OtherKey, long[]> seen = new HashMap<>();
        named().forEach((k, v) -> {
            if (k.stat().isOverflow()) {
                OtherKey other = new OtherKey(k.iface(), k.direction(), k.stat().ipType());
                overflowKeys.add(other);
                if (l != null) {
                    l.overflow(other, v[0], v[1]);
                }
                // "other" takes the growth since the last refresh; a counter that went down (its
                // retired part expired, or it started over) counts from zero.
                long[] before = overflowSeen.get(other);
                long dp = before == null || v[0] < before[0] || v[1] < before[1] ? v[0] : v[0] - before[0];
                long db = before == null || v[0] < before[0] || v[1] < before[1] ? v[1] : v[1] - before[1];
                flows.addOther(other, dp, db, now);
                seen.put(other, v);
            }
        });
        overflowSeen.clear();
        overflowSeen.putAll(seen);
        return overflowKeys;
    }

    /**
     * Moves every kernel entry of the ifindex into the retired totals under its name, deleting it
     * from the kernel. Throws if a drain fails: that entry stays, nothing is lost.
     */
    void retire(FlowReader reader, int ifindex, long now) {
        List<FlowTable.Entry<StatKey>> gone = new ArrayList<>();
        for (FlowTable.Entry<StatKey> e : stats.entries()) {
            if (e.key().ifindex() == ifindex) {
                gone.add(e);
            }
        }
        for (FlowTable.Entry<StatKey> e : gone) {
            StatKey k = e.key();
            reader.drainStat(k, (key, p, b) -> e.observe(p, b)); // throws: the entry stays, nothing is lost
            stats.remove(k);
            long[] t = retiredStats.computeIfAbsent(new NamedStat(ifaceName.apply(ifindex), k.direction(), k.stat()),
                    x -> new long[3]);
            t[0] += e.packets();
            t[1] += e.bytes();
            t[2] = now;
        }
    }

    /** The stats counters by interface name: {packets, bytes}, live kernel entries plus those of interfaces that are gone. */
    Map<NamedStat, long[]> named() {
        Map<NamedStat, long[]> out = new HashMap<>();
        retiredStats.forEach((k, v) -> out.put(k, new long[]{v[0], v[1]}));
        for (FlowTable.Entry<StatKey> e : stats.entries()) {
            StatKey k = e.key();
            long[] t = out.computeIfAbsent(new NamedStat(ifaceName.apply(k.ifindex()), k.direction(), k.stat()),
                    x -> new long[2]);
            t[0] += e.packets();
            t[1] += e.bytes();
        }
        return out;
    }

    /**
     * Stats of a gone interface expire like idle pairs: after the TTL, unless a live kernel entry
     * continues them under the same name (an interface recreated with that name).
     */
    void expireRetired(long now, long ttlNanos) {
        if (retiredStats.isEmpty()) {
            return;
        }
        Set<NamedStat> live = new HashSet<>();
        for (FlowTable.Entry<StatKey> e : stats.entries()) {
            StatKey k = e.key();
            live.add(new NamedStat(ifaceName.apply(k.ifindex()), k.direction(), k.stat()));
        }
        retiredStats.entrySet().removeIf(e -> !live.contains(e.getKey()) && now - e.getValue()[2] >= ttlNanos);
    }

    List<CollectorState.RetiredStat> saveRetired(long now) {
        List<CollectorState.RetiredStat> retired = new ArrayList<>();
        retiredStats.forEach((k, v) -> retired.add(new CollectorState.RetiredStat(k.iface(), k.direction(), k.stat(),
                v[0], v[1], now - v[2])));
        return retired;
    }

    List<CollectorState.OverflowSeen> saveOverflow() {
        List<CollectorState.OverflowSeen> overflow = new ArrayList<>();
        overflowSeen.forEach((k, v) -> overflow.add(new CollectorState.OverflowSeen(k, v[0], v[1])));
        return overflow;
    }

    /** See TrafficCollector.restore. */
    void restore(CollectorState st, boolean kernelContinues, long now) {
        for (CollectorState.RetiredStat r : st.retired()) {
            retiredStats.put(new NamedStat(r.iface(), r.direction(), r.stat()), new long[]{r.packets(), r.bytes(), now - r.idleNanos()});
        }
        if (kernelContinues) { // new maps' overflow counters start at 0: all of their growth is new
            for (CollectorState.OverflowSeen o : st.overflow()) {
                overflowSeen.put(o.key(), new long[]{o.packets(), o.bytes()});
            }
        }
    }
}
