package dev.ebpftraffic.flow;


import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * struct workload_key from bpf/traffic.h, without its epoch: must match it byte for byte
 * (StructLayoutTest checks the BTF).
 *
 * @param cgroup        the socket's cgroup v2 id (the inode of its cgroup directory)
 * @param remotePrivate whether the remote address (source inbound, destination outbound) is private
 */
public record WorkloadKey(long cgroup, Direction direction, boolean remotePrivate) {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("cgroup"),
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("remote_private"),
            JAVA_BYTE.withName("epoch"),
            MemoryLayout.sequenceLayout(5, JAVA_BYTE).withName("pad"));

    public static final long OFF_EPOCH = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("epoch"));
    private static final long OFF_DIRECTION = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("direction"));
    private static final long OFF_PRIVATE = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("remote_private"));

    /** "private" or "public", as the ip_type label of the per-IP family. */
    public String ipType() {
        return remotePrivate ? "private" : "public";
    }

    public static WorkloadKey read(MemorySegment seg, long offset) {
        return new WorkloadKey(seg.get(JAVA_LONG, offset),
                Direction.ofCode(seg.get(JAVA_BYTE, offset + OFF_DIRECTION)),
                seg.get(JAVA_BYTE, offset + OFF_PRIVATE) != 0);
    }

    /** The epoch byte of a struct workload_key at offset. */
    public static int epoch(MemorySegment seg, long offset) {
        return seg.get(JAVA_BYTE, offset + OFF_EPOCH) & 1;
    }
}
