package dev.ebpftraffic.flow;

import dev.ebpftraffic.flow.Direction;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** struct stat_key from bpf/traffic.h: must match it byte for byte (StructLayoutTest checks the BTF). */
public record StatKey(int ifindex, Direction direction, KernelStat stat) {
    /**
     * STATS_LOST_IFINDEX: the keys where the program counts a packet whose own key it could not create
     * ("stats" full, or no memory); exported under the interface name "ifindex0" (no interface has index 0).
     */
    public static final int LOST_IFINDEX = 0;

    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("ifindex"),
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("stat"),
            JAVA_SHORT.withName("pad"));

    private static final long OFF_IFINDEX = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("ifindex"));
    private static final long OFF_DIRECTION = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("direction"));
    private static final long OFF_STAT = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("stat"));

    /** Encodes this key as a struct stat_key at offset (padding zeroed). */
    public void write(MemorySegment seg, long offset) {
        seg.asSlice(offset, LAYOUT.byteSize()).fill((byte) 0);
        seg.set(JAVA_INT, offset + OFF_IFINDEX, ifindex);
        seg.set(JAVA_BYTE, offset + OFF_DIRECTION, (byte) direction.code());
        seg.set(JAVA_BYTE, offset + OFF_STAT, (byte) stat.code());
    }

    public static StatKey read(MemorySegment seg, long offset) {
        return new StatKey(seg.get(JAVA_INT, offset + OFF_IFINDEX),
                Direction.ofCode(seg.get(JAVA_BYTE, offset + OFF_DIRECTION)),
                KernelStat.ofCode(seg.get(JAVA_BYTE, offset + OFF_STAT)));
    }
}
