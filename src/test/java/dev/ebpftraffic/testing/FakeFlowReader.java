package dev.ebpftraffic.testing;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.WorkloadKey;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The kernel maps in memory, values as a reader sums them over CPUs: for testing everything
 * above the kernel without one. Tests set values, or send traffic like the BPF program would.
 * Extended by tests that add maps of their own (peers).
 */
public class FakeFlowReader implements FlowReader {
    public final Map<FlowKey, long[]> flows = new LinkedHashMap<>();
    public final Map<StatKey, long[]> stats = new LinkedHashMap<>();
    public final int capacity;
    /** Sent by {@link #send} while the map was full, as the program's overflow stat would count. */
    public long overflowPackets;
    public long overflowBytes;
    /** When set, the next reads throw it. */
    public RuntimeException failFlows;
    public RuntimeException failStats;
    /** The next this many drainFlow calls fail, leaving the entry, as a failed lookup-and-delete does. */
    public int failDrains;
    public int reads;
    /** Deltas of the "workloads" map not read yet, as the kernel hands them out. */
    public final Map<WorkloadKey, long[]> workloads = new LinkedHashMap<>();
    /** "workload_overflow", cumulative, at index direction code * 2 + (remote private ? 1 : 0). */
    public final long[][] workloadOverflow = new long[4][2];

    public FakeFlowReader(int capacity) {
        this.capacity = capacity;
    }

    public static FlowKey key(int ifindex, Direction d, String src, String dst) {
        return FlowKey.of(ifindex, d, IpAddress.parse(src), IpAddress.parse(dst));
    }

    /** Sets a flow's current kernel value. */
    public synchronized void flow(int ifindex, Direction d, String src, String dst, long packets, long bytes) {
        flows.put(key(ifindex, d, src, dst), new long[]{packets, bytes});
    }

    public synchronized void stat(int ifindex, Direction d, KernelStat s, long packets, long bytes) {
        stats.put(new StatKey(ifindex, d, s), new long[]{packets, bytes});
    }

    /**
     * Like the BPF program: add to the entry, or create it, or count it as overflow. As in the
     * kernel, IPv4 and IPv6 pairs have a map of {@code capacity} entries each.
     */
    public synchronized void send(FlowKey k, long packets, long bytes) {
        long[] v = flows.get(k);
        if (v == null) {
            if (flows.keySet().stream().filter(x -> x.ipv4() == k.ipv4()).count() >= capacity) {
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
    public synchronized void readFlows(Sink<FlowKey> sink) {
        reads++;
        if (failFlows != null) {
            throw failFlows;
        }
        flows.forEach((k, v) -> sink.accept(k, v[0], v[1]));
    }

    @Override
    public synchronized void readStats(Sink<StatKey> sink) {
        if (failStats != null) {
            throw failStats;
        }
        stats.forEach((k, v) -> sink.accept(k, v[0], v[1]));
    }

    @Override
    public synchronized boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
        if (failDrains > 0) {
            failDrains--;
            throw new IllegalStateException("cannot drain a BPF map entry: Cannot allocate memory (injected)");
        }
        long[] v = flows.remove(key);
        if (v == null) {
            return false;
        }
        sink.accept(key, v[0], v[1]);
        return true;
    }

    @Override
    public synchronized boolean drainStat(StatKey key, Sink<StatKey> sink) {
        long[] v = stats.remove(key);
        if (v == null) {
            return false;
        }
        sink.accept(key, v[0], v[1]);
        return true;
    }

    @Override
    public int flowCapacity() {
        return capacity;
    }

    /** Packets of a workload (cgroup id) as the cgroup programs would count them. */
    public synchronized void workload(long cgroup, Direction d, boolean remotePrivate, long packets, long bytes) {
        long[] v = workloads.computeIfAbsent(new WorkloadKey(cgroup, d, remotePrivate), k -> new long[2]);
        v[0] += packets;
        v[1] += bytes;
    }

    @Override
    public synchronized void readWorkloadDeltas(Sink<WorkloadKey> sink) {
        workloads.forEach((k, v) -> sink.accept(k, v[0], v[1]));
        workloads.clear();
    }

    @Override
    public synchronized long[][] readWorkloadOverflow() {
        long[][] c = new long[4][];
        for (int i = 0; i < 4; i++) {
            c[i] = workloadOverflow[i].clone();
        }
        return c;
    }
}
