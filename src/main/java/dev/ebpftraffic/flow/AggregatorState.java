package dev.ebpftraffic.flow;

import java.util.List;

/**
 * Everything a {@link FlowAggregator} holds, for a state file: what each series and "other" has
 * counted and what scrapes showed of it, and per kernel key the last kernel value already counted.
 * Times are ages at the moment of the snapshot (monotonic clocks do not survive a process).
 */
public record AggregatorState(List<SeriesState> series, List<OtherState> others, List<KernelState> kernel,
                              List<OtherKey> coarse, long drained, long expired, long evicted) {

    public record SeriesState(SeriesKey key, long packets, long bytes, long shownPackets, long shownBytes, boolean shown,
                              double score, long idleNanos, boolean exported) {
    }

    public record OtherState(OtherKey key, long packets, long bytes, long shownPackets, long shownBytes, boolean shown,
                             long idleNanos, long foldedPackets, long foldedBytes) {
    }

    /** A kernel map entry: its key, its series, and the value already counted into that series. */
    public record KernelState(FlowKey key, SeriesKey series, long packets, long bytes, long idleNanos) {
    }
}
