package dev.ebpftraffic.flow;

import dev.ebpftraffic.flow.FlowKey;

/**
 * Reads the kernel maps. The collector depends on this interface only, so it is tested
 * with a fake reader and no kernel.
 */
public interface FlowReader {
    /** Calls sink once per entry of the flows maps ("flows4", then "flows6"), values summed over possible CPUs. */
    void readFlows(Sink<FlowKey> sink);

    /** Calls sink once per entry of the "stats" map, with values summed over possible CPUs. */
    void readStats(Sink<StatKey> sink);

    /**
     * Deletes one flows-map entry (from "flows4" or "flows6", by {@link FlowKey#ipv4()}) and passes its final value (summed over CPUs) to sink, atomically
     * with respect to other readers. Returns false when the entry was already gone.
     */
    boolean drainFlow(FlowKey key, Sink<FlowKey> sink);

    /**
     * Deletes one "stats" entry and passes its final value (summed over CPUs) to sink. Returns
     * false when the entry was already gone.
     */
    default boolean drainStat(StatKey key, Sink<StatKey> sink) {
        throw new UnsupportedOperationException("this reader cannot drain stats entries");
    }

    /**
     * Calls sink once per "workloads" key with what it counted since the previous call (a delta, not a
     * total), values summed over possible CPUs. Nothing is counted twice or lost across calls.
     */
    default void readWorkloadDeltas(Sink<dev.ebpftraffic.flow.WorkloadKey> sink) {
    }

    /**
     * The "workload_overflow" counters (the "workloads" map was full), cumulative: {packets, bytes} at
     * index direction code * 2 + (remote private ? 1 : 0).
     */
    default long[][] readWorkloadOverflow() {
        return new long[4][2];
    }

    /** max_entries of each flows map ("flows4" and "flows6" are the same size: --map-size). */
    int flowCapacity();

    @FunctionalInterface
    interface Sink<K> {
        void accept(K key, long packets, long bytes);
    }
}
