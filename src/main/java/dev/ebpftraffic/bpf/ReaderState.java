package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;

import java.util.List;

/**
 * What a {@link BpfFlowReader} holds outside the kernel, for a state file: the epoch counter after
 * its last read, and per pair the totals of the entries it moved out of the kernel (less what
 * drains handed out). See dev.ebpftraffic.persist.StateFile for how a restart uses it.
 */
public record ReaderState(int epoch, List<Moved> moved) {

    public record Moved(FlowKey key, long packets, long bytes) {
    }
}
