package dev.ebpftraffic.flow;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * struct proc_key from bpf/traffic.h, without its epoch: must match it byte for byte (StructLayoutTest
 * checks the BTF), as {@link #COMM} must match struct proc_comm.
 *
 * @param cgroup the socket's cgroup v2 id
 * @param tgid   the process that created the socket (host pid namespace); 0 when not known
 */
public record ProcessKey(long cgroup, int tgid, Direction direction) {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("cgroup"),
            JAVA_INT.withName("tgid"),
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("epoch"),
            JAVA_SHORT.withName("pad"));
    public static final StructLayout COMM = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("comm"));

    public static final long OFF_TGID = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("tgid"));
    public static final long OFF_DIRECTION = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("direction"));
    public static final long OFF_EPOCH = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("epoch"));

    public static ProcessKey read(MemorySegment seg, long offset) {
        return new ProcessKey(seg.get(JAVA_LONG, offset), seg.get(JAVA_INT, offset + OFF_TGID),
                Direction.ofCode(seg.get(JAVA_BYTE, offset + OFF_DIRECTION)));
    }

    /** The epoch byte of a struct proc_key at offset. */
    public static int epoch(MemorySegment seg, long offset) {
        return seg.get(JAVA_BYTE, offset + OFF_EPOCH) & 1;
    }

    /** Writes this key with the given epoch (pad zero). */
    public void write(MemorySegment seg, int epoch) {
        seg.asSlice(0, LAYOUT.byteSize()).fill((byte) 0);
        seg.set(JAVA_LONG, 0, cgroup);
        seg.set(JAVA_INT, OFF_TGID, tgid);
        seg.set(JAVA_BYTE, OFF_DIRECTION, (byte) direction.code());
        seg.set(JAVA_BYTE, OFF_EPOCH, (byte) epoch);
    }

    /** A struct proc_comm: up to 16 bytes, NUL-terminated when shorter; bytes that are not UTF-8 become U+FFFD. */
    public static String comm(MemorySegment seg) {
        byte[] b = seg.asSlice(0, 16).toArray(JAVA_BYTE);
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }
}
