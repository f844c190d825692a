package dev.ebpftraffic.flow;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Userspace totals per key, fed by a full read of a kernel map at each scrape.
 * Not thread-safe: the collector serialises scrapes.
 *
 * @param <K> the key type (FlowKey for flows, StatKey for stats)
 */
public final class FlowTable<K> {
    /** One key's totals, plus whatever the exporter caches for it (e.g. label objects). */
    public static final class Entry<K> extends MonotonicCounter {
        private final K key;
        private long seen;

        Entry(K key) {
            this.key = key;
        }

        public K key() {
            return key;
        }
    }

    private final Map<K, Entry<K>> entries = new HashMap<>();
    private final Function<K, Entry<K>> create = Entry::new;
    private long generation;
    private int readCount;
    private int lastReadCount;

    /** Starts a full read of the kernel map. */
    public void beginRead() {
        generation++;
        readCount = 0;
    }

    public void observe(K key, long packets, long bytes) {
        Entry<K> e = entries.computeIfAbsent(key, create);
        e.observe(packets, bytes);
        e.seen = generation;
        readCount++;
    }

    /** Ends a full read: keys the kernel no longer has restart from zero when they come back. */
    public void endRead() {
        for (Entry<K> e : entries.values()) {
            if (e.seen != generation) {
                e.kernelEntryGone();
            }
        }
        lastReadCount = readCount;
    }

    /** Keys seen in the last complete read, i.e. live kernel map entries (a failed read leaves it). */
    public int lastReadCount() {
        return lastReadCount;
    }

    /** Forgets a key (its kernel entry is gone for good); returns its entry, or null. */
    public Entry<K> remove(K key) {
        return entries.remove(key);
    }

    public Collection<Entry<K>> entries() {
        return entries.values();
    }

    public int size() {
        return entries.size();
    }
}
