package dev.ebpftraffic.bpf;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * struct overflow_slot from bpf/traffic.h, the value of the per-CPU "overflow" array: must match it
 * byte for byte (StructLayoutTest checks the BTF). packets[i] and bytes[i] with i = stat * 2 + direction.
 */
public final class OverflowSlot {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("ifindex"),
            JAVA_INT.withName("pad"),
            MemoryLayout.sequenceLayout(4, JAVA_LONG).withName("packets"),
            MemoryLayout.sequenceLayout(4, JAVA_LONG).withName("bytes"));
    /** OVERFLOW_SLOTS in bpf/traffic.h. */
    public static final int SLOTS = 64;
    static final long OFF_IFINDEX = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("ifindex"));
    static final long OFF_PACKETS = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("packets"));
    static final long OFF_BYTES = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("bytes"));

    private OverflowSlot() {
    }
}
