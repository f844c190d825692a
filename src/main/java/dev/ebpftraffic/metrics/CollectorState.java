package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.ReaderState;
import dev.ebpftraffic.flow.AggregatorState;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.OtherKey;

import java.util.List;

/**
 * What a {@link TrafficCollector} must keep across a restart: the aggregator's state, the totals of
 * stats counters whose interface is gone, and the kernel's overflow counters as last handed to
 * "other" (so their growth, not their whole value, goes to "other" after the restart), and the
 * reader's totals of what it moved out of the kernel (null: a reader that keeps none), and the
 * per-workload series (null: attribution off).
 */
public record CollectorState(AggregatorState flows, List<RetiredStat> retired, List<OverflowSeen> overflow, ReaderState reader,
                             dev.ebpftraffic.workload.WorkloadAggregator.State workloads) {

    public CollectorState(AggregatorState flows, List<RetiredStat> retired, List<OverflowSeen> overflow, ReaderState reader) {
        this(flows, retired, overflow, reader, null);
    }

    public record RetiredStat(String iface, Direction direction, KernelStat stat, long packets, long bytes, long idleNanos) {
    }

    public record OverflowSeen(OtherKey key, long packets, long bytes) {
    }
}
