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

    /** Whether the kernel object has the live view's peer maps ("wl_peers"). */
    default boolean hasPeers() {
        return false;
    }

    /** Sets (true) or clears the kernel flag under which the cgroup_skb programs count "wl_peers". */
    default void peerSampling(boolean on) {
    }

    /**
     * As {@link #readWorkloadDeltas}, for "wl_peers": what each (cgroup, remote, direction) counted since the
     * previous call. Returns the entries still in the kernel map after it (of the current epoch).
     */
    default int readPeerDeltas(Sink<PeerKey> sink) {
        return 0;
    }

    /** The "wl_peers_full" counters (peers map full), cumulative, indexed as {@link #readWorkloadOverflow}. */
    default long[][] readPeerOverflow() {
        return new long[4][2];
    }

    /**
     * Calls sink once per "procs" key with what it counted since the previous call (a delta), values
     * summed over possible CPUs; read in the same refresh as {@link #readWorkloadDeltas}.
     */
    default void readProcessDeltas(Sink<ProcessKey> sink) {
    }

    /** The "proc_overflow" counters (the "procs" map was full), cumulative: {packets, bytes} per direction code. */
    default long[][] readProcessOverflow() {
        return new long[2][2];
    }

    /** The command name the kernel recorded for a process, if any. */
    default java.util.Optional<String> processName(int tgid) {
        return java.util.Optional.empty();
    }

    /**
     * Deletes from the kernel the entries the last {@link #readFlows} moved into this reader's
     * totals. Call it once those totals are saved (the state file): a crash in between then finds
     * them both in the file and in the kernel, and the restart tells the two apart by the epoch.
     * {@link #readFlows} does it itself first if nobody did.
     */
    default void deleteMoved() {
    }

    /**
     * Counts the reads that took something out of the kernel for good: flows entries moved into this
     * reader's totals (deleted after the next state write), "workloads" entries handed out, stats
     * entries drained. A state holding what they took must be written before anything else happens
     * to them; the collector compares this counter with the one of its last write.
     */
    default long moves() {
        return 0;
    }

    /** This reader's own totals, for a state file; null when it keeps none. */
    default ReaderState saveState() {
        return null;
    }

    /**
     * Before the first read, over kernel maps that outlived the process which saved st: continues
     * from st. Returns false when the kernel's flows entries do not match st (then only what st
     * says about counters that are not epoch-based, such as the overflow array, is restored).
     */
    default boolean restoreState(ReaderState st) {
        return false;
    }

    /** max_entries of each flows map ("flows4" and "flows6" are the same size: --map-size). */
    int flowCapacity();

    @FunctionalInterface
    interface Sink<K> {
        void accept(K key, long packets, long bytes);
    }
}
