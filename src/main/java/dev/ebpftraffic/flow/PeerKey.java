package dev.ebpftraffic.flow;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * struct wl_peer_key from bpf/traffic.h, without its epoch: must match it byte for byte
 * (StructLayoutTest checks the BTF). A workload's (cgroup's) traffic with one remote address.
 *
 * @param cgroup        the socket's cgroup v2 id
 * @param remote        the remote address (source inbound, destination outbound)
 * @param remotePrivate whether the kernel classed it private (as WorkloadKey)
 */
public record PeerKey(long cgroup, IpAddress remote, Direction direction, boolean remotePrivate) {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("cgroup"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("remote"),
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("remote_private"),
            JAVA_BYTE.withName("epoch"),
            MemoryLayout.sequenceLayout(5, JAVA_BYTE).withName("pad"));

    public static final long OFF_REMOTE = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("remote"));
    public static final long OFF_DIRECTION = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("direction"));
    public static final long OFF_PRIVATE = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("remote_private"));
    public static final long OFF_EPOCH = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("epoch"));

    /** The workload this peer's traffic belongs to (same cgroup, direction and ip_type). */
    public WorkloadKey workload() {
        return new WorkloadKey(cgroup, direction, remotePrivate);
    }

    public static PeerKey read(MemorySegment seg, long offset) {
        byte[] a = new byte[16];
        MemorySegment.copy(seg, JAVA_BYTE, offset + OFF_REMOTE, a, 0, 16);
        return new PeerKey(seg.get(JAVA_LONG, offset), IpAddress.ofBytes(a),
                Direction.ofCode(seg.get(JAVA_BYTE, offset + OFF_DIRECTION)),
                seg.get(JAVA_BYTE, offset + OFF_PRIVATE) != 0);
    }

    /** The epoch byte of a struct wl_peer_key at offset. */
    public static int epoch(MemorySegment seg, long offset) {
        return seg.get(JAVA_BYTE, offset + OFF_EPOCH) & 1;
    }
}
