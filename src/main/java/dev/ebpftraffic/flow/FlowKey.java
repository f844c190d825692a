package dev.ebpftraffic.flow;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * struct flow_key from bpf/traffic.h: must match it byte for byte (StructLayoutTest checks the BTF).
 * Addresses are kept as two big-endian longs each, so keys are cheap to hash and compare.
 */
public final class FlowKey {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("ifindex"),
            JAVA_BYTE.withName("direction"),
            MemoryLayout.sequenceLayout(3, JAVA_BYTE).withName("pad"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("src"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("dst"));

    static final long OFF_IFINDEX = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("ifindex"));
    static final long OFF_DIRECTION = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("direction"));
    static final long OFF_SRC = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("src"));
    static final long OFF_DST = LAYOUT.byteOffset(MemoryLayout.PathElement.groupElement("dst"));
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final int ifindex;
    private final Direction direction;
    private final long srcHi;
    private final long srcLo;
    private final long dstHi;
    private final long dstLo;
    private final int hash;

    public FlowKey(int ifindex, Direction direction, long srcHi, long srcLo, long dstHi, long dstLo) {
        this.ifindex = ifindex;
        this.direction = direction;
        this.srcHi = srcHi;
        this.srcLo = srcLo;
        this.dstHi = dstHi;
        this.dstLo = dstLo;
        long h = ifindex * 31L + direction.code();
        h = h * 0x9E3779B97F4A7C15L + srcHi;
        h = h * 0x9E3779B97F4A7C15L + srcLo;
        h = h * 0x9E3779B97F4A7C15L + dstHi;
        h = h * 0x9E3779B97F4A7C15L + dstLo;
        this.hash = (int) (h ^ (h >>> 32));
    }

    public static FlowKey of(int ifindex, Direction direction, IpAddress src, IpAddress dst) {
        return new FlowKey(ifindex, direction, src.hi(), src.lo(), dst.hi(), dst.lo());
    }

    /** Decodes a struct flow_key at offset. */
    public static FlowKey read(MemorySegment seg, long offset) {
        return new FlowKey(
                seg.get(JAVA_INT, offset + OFF_IFINDEX),
                Direction.ofCode(seg.get(JAVA_BYTE, offset + OFF_DIRECTION)),
                seg.get(BE_LONG, offset + OFF_SRC), seg.get(BE_LONG, offset + OFF_SRC + 8),
                seg.get(BE_LONG, offset + OFF_DST), seg.get(BE_LONG, offset + OFF_DST + 8));
    }

    /** Encodes this key as a struct flow_key at offset (padding zeroed). */
    public void write(MemorySegment seg, long offset) {
        seg.asSlice(offset, LAYOUT.byteSize()).fill((byte) 0);
        seg.set(JAVA_INT, offset + OFF_IFINDEX, ifindex);
        seg.set(JAVA_BYTE, offset + OFF_DIRECTION, (byte) direction.code());
        seg.set(BE_LONG, offset + OFF_SRC, srcHi);
        seg.set(BE_LONG, offset + OFF_SRC + 8, srcLo);
        seg.set(BE_LONG, offset + OFF_DST, dstHi);
        seg.set(BE_LONG, offset + OFF_DST + 8, dstLo);
    }

    public int ifindex() {
        return ifindex;
    }

    public Direction direction() {
        return direction;
    }

    public IpAddress src() {
        return new IpAddress(srcHi, srcLo);
    }

    public IpAddress dst() {
        return new IpAddress(dstHi, dstLo);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FlowKey k && k.hash == hash && k.ifindex == ifindex && k.direction == direction
                && k.srcHi == srcHi && k.srcLo == srcLo && k.dstHi == dstHi && k.dstLo == dstLo;
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return "FlowKey{if=" + ifindex + " " + direction.label() + " " + src() + " -> " + dst() + "}";
    }
}
