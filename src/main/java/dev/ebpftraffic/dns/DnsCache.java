package dev.ebpftraffic.dns;

import java.util.LinkedHashMap;
import java.util.Map;


/**
 * Address -> host name, each entry kept as long as its answer says (clamped), names and "no name"
 * alike, the least recently shown dropped beyond {@code maxEntries}. While a lookup is in flight
 * the entry is pending and the previous name (if any) is still shown. Not thread-safe: the
 * resolver holds its lock around every call. Times are System.nanoTime() values.
 */
final class DnsCache {
    /** Bounds on how long a result is kept, whatever the answer says. */
    record Ttls(long minNanos, long maxNanos, long negativeNanos, long failureNanos) {
    }

    static final class Entry {
        String name;
        long expires;
        boolean pending;

        boolean fresh(long now) {
            return now - expires < 0;
        }
    }

    private final int maxEntries;
    private final Ttls ttls;
    private final LinkedHashMap<String, Entry> map;

    DnsCache(int maxEntries, Ttls ttls) {
        if (maxEntries < 1) {
            throw new IllegalArgumentException("maxEntries must be at least 1");
        }
        this.maxEntries = maxEntries;
        this.ttls = ttls;
        this.map = new LinkedHashMap<>(16, 0.75f, true) { // access order: the eldest is the least recently shown
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, DnsCache.Entry> eldest) {
                return size() > DnsCache.this.maxEntries;
            }
        };
    }

    /** The name to show now, or null (unknown, none, or not yet looked up); marks the entry as used. */
    String name(String ip) {
        Entry e = map.get(ip);
        return e == null ? null : e.name;
    }

    /** Whether ip needs a lookup: never looked up, or expired and not already being looked up. */
    boolean needsLookup(String ip, long now) {
        Entry e = map.get(ip);
        return e == null || !e.pending && !e.fresh(now);
    }

    /** A lookup of ip starts now. */
    void pending(String ip) {
        map.computeIfAbsent(ip, k -> new Entry()).pending = true;
    }

    /** The answer: a name (null for "no name") kept ttlSeconds (-1: the answer did not say) within the bounds. */
    void answered(String ip, String name, long ttlSeconds, long now) {
        long keep;
        if (ttlSeconds < 0) {
            keep = name == null ? ttls.negativeNanos() : ttls.minNanos();
        } else {
            keep = Math.max(ttls.minNanos(), Math.min(ttls.maxNanos(), ttlSeconds * 1_000_000_000L));
        }
        Entry e = map.computeIfAbsent(ip, k -> new Entry());
        e.name = name;
        e.expires = now + keep;
        e.pending = false;
    }

    /** No answer (timeout, SERVFAIL, REFUSED, send error): keep what was shown, ask again after the failure TTL. */
    void failed(String ip, long now) {
        Entry e = map.get(ip);
        if (e == null) {
            e = new Entry();
            map.put(ip, e);
        }
        e.expires = now + ttls.failureNanos();
        e.pending = false;
    }

    int size() {
        return map.size();
    }

    /** For tests: the entry without touching the LRU order. */
    Entry peek(String ip) {
        return map.entrySet().stream().filter(x -> x.getKey().equals(ip)).map(Map.Entry::getValue).findFirst().orElse(null);
    }
}
