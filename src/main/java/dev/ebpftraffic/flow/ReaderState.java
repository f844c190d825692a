package dev.ebpftraffic.flow;

import java.util.List;

/**
 * What a flow reader (BpfFlowReader) holds outside the kernel, for a state file: the epoch counter
 * after its last read, per pair the totals of the entries it moved out of the kernel (less what
 * drains handed out), and per stat what drains already handed out of the kernel's cumulative
 * overflow counters (so a restart over the same pinned counters does not hand it out again). See
 * dev.ebpftraffic.persist.StateFile for how a restart uses it.
 *
 * @param epoch         the epoch counter of the last read that moved flows entries out of the kernel
 * @param workloadEpoch the epoch counter of the last read that handed out "workloads" entries (their
 *                      values are in the per-workload series, not here), -1 when none did
 */
public record ReaderState(int epoch, List<Moved> moved, List<OverflowBase> overflowBase, int workloadEpoch) {

    public ReaderState(int epoch, List<Moved> moved) {
        this(epoch, moved, List.of(), -1);
    }

    public ReaderState(int epoch, List<Moved> moved, List<OverflowBase> overflowBase) {
        this(epoch, moved, overflowBase, -1);
    }

    public record Moved(FlowKey key, long packets, long bytes) {
    }

    public record OverflowBase(StatKey key, long packets, long bytes) {
    }
}
