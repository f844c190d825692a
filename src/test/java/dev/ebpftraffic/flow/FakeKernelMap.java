package dev.ebpftraffic.flow;

import dev.ebpftraffic.bpf.FlowReader;
import dev.ebpftraffic.bpf.StatKey;

import java.util.LinkedHashMap;
import java.util.Map;

/** A kernel flows map in memory: tests add traffic to it and read it like the exporter does. */
final class FakeKernelMap implements FlowReader {
    final Map<FlowKey, long[]> flows = new LinkedHashMap<>();
    final int capacity;
    long overflowPackets;
    long overflowBytes;

    FakeKernelMap(int capacity) {
        this.capacity = capacity;
    }

    /** Like the BPF program: add to the entry, or create it, or count it as overflow. */
    void send(FlowKey k, long packets, long bytes) {
        long[] v = flows.get(k);
        if (v == null) {
            if (flows.size() >= capacity) {
                overflowPackets += packets;
                overflowBytes += bytes;
                return;
            }
            v = new long[2];
            flows.put(k, v);
        }
        v[0] += packets;
        v[1] += bytes;
    }

    @Override
    public void readFlows(Sink<FlowKey> sink) {
        flows.forEach((k, v) -> sink.accept(k, v[0], v[1]));
    }

    @Override
    public void readStats(Sink<StatKey> sink) {
    }

    @Override
    public boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
        long[] v = flows.remove(key);
        if (v == null) {
            return false;
        }
        sink.accept(key, v[0], v[1]);
        return true;
    }

    @Override
    public boolean drainStat(StatKey key, Sink<StatKey> sink) {
        return false; // no stats here
    }

    @Override
    public int flowCapacity() {
        return capacity;
    }

    static FlowKey key(Direction d, String src, String dst) {
        return FlowKey.of(1, d, IpAddress.parse(src), IpAddress.parse(dst));
    }
}
