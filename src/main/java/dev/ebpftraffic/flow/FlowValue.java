package dev.ebpftraffic.flow;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * struct flow_value from bpf/traffic.h: must match it byte for byte (StructLayoutTest checks the BTF).
 * The kernel keeps one per possible CPU; readers sum them.
 */
public record FlowValue(long packets, long bytes) {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("packets"),
            JAVA_LONG.withName("bytes"));

    public static final long OFF_PACKETS = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("packets"));
    public static final long OFF_BYTES = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("bytes"));
}
