package dev.ebpftraffic.live;

import java.util.Comparator;

/** A row of a live view that the query's sort orders: by one of its rates or counters. */
interface SortableRow {
    Snapshot.Rates rates();

    long bytes();

    long packets();

    default double sortValue(Query.Sort s) {
        return switch (s) {
            case BITS_2S -> rates().bitsPerSecond()[0];
            case BITS_10S -> rates().bitsPerSecond()[1];
            case BITS_40S -> rates().bitsPerSecond()[2];
            case PACKETS_2S -> rates().packetsPerSecond()[0];
            case PACKETS_10S -> rates().packetsPerSecond()[1];
            case PACKETS_40S -> rates().packetsPerSecond()[2];
            case BYTES -> bytes();
            case PACKETS -> packets();
        };
    }

    /** By the sort's value (highest first unless ascending), then most bytes first; each view adds its own tie-breaks. */
    static <T extends SortableRow> Comparator<T> order(Query.Sort sort, boolean ascending) {
        Comparator<T> c = Comparator.comparingDouble(r -> r.sortValue(sort));
        if (!ascending) {
            c = c.reversed();
        }
        return c.thenComparing(Comparator.<T>comparingLong(SortableRow::bytes).reversed());
    }
}
