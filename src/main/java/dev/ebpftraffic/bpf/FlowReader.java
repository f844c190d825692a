package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;

/**
 * Reads the kernel maps. The collector depends on this interface only, so it is tested
 * with a fake reader and no kernel.
 */
public interface FlowReader {
    /** Calls sink once per entry of the "flows" map, with values summed over possible CPUs. */
    void readFlows(Sink<FlowKey> sink);

    /** Calls sink once per entry of the "stats" map, with values summed over possible CPUs. */
    void readStats(Sink<StatKey> sink);

    /** max_entries of the "flows" map. */
    int flowCapacity();

    @FunctionalInterface
    interface Sink<K> {
        void accept(K key, long packets, long bytes);
    }
}
