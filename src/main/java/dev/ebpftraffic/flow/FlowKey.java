package dev.ebpftraffic.flow;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A key of the kernel's flows maps, decoded: struct flow4_key ("flows4") or struct flow6_key
 * ("flows6") from bpf/traffic.h, which must match LAYOUT4 and LAYOUT6 byte for byte
 * (StructLayoutTest checks the BTF). Addresses are kept as two big-endian longs each (IPv4 as
 * ::ffff:a.b.c.d), so keys are cheap to hash and compare. A key whose two addresses are both
 * IPv4-mapped lives in flows4, every other in flows6: the kernel program files IPv6 packets
 * between two mapped addresses under the IPv4 key too, so each key has exactly one place.
 */
public final class FlowKey {
    public static final StructLayout LAYOUT4 = MemoryLayout.structLayout(
            JAVA_INT.withName("ifdir"),
            MemoryLayout.sequenceLayout(4, JAVA_BYTE).withName("src"),
            MemoryLayout.sequenceLayout(4, JAVA_BYTE).withName("dst"));
    public static final StructLayout LAYOUT6 = MemoryLayout.structLayout(
            JAVA_INT.withName("ifdir"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("src"),
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("dst"));
    /** Bit 31 of ifdir is the direction (IFDIR in bpf/traffic.h); the rest is the ifindex. */
    static final int DIRECTION_BIT = 31;

    static final long OFF4_SRC = LAYOUT4.byteOffset(MemoryLayout.PathElement.groupElement("src"));
    static final long OFF4_DST = LAYOUT4.byteOffset(MemoryLayout.PathElement.groupElement("dst"));
    static final long OFF6_SRC = LAYOUT6.byteOffset(MemoryLayout.PathElement.groupElement("src"));
    static final long OFF6_DST = LAYOUT6.byteOffset(MemoryLayout.PathElement.groupElement("dst"));
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final long V4_MAPPED_PREFIX = 0xFFFF_0000_0000L; // low 64 bits of ::ffff:0.0.0.0

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

    /** Decodes a struct flow4_key (from "flows4") at offset. */
    public static FlowKey read4(MemorySegment seg, long offset) {
        int ifdir = seg.get(JAVA_INT, offset);
        return new FlowKey(ifdir & Integer.MAX_VALUE, Direction.ofCode(ifdir >>> DIRECTION_BIT),
                0, V4_MAPPED_PREFIX | Integer.toUnsignedLong(seg.get(BE_INT, offset + OFF4_SRC)),
                0, V4_MAPPED_PREFIX | Integer.toUnsignedLong(seg.get(BE_INT, offset + OFF4_DST)));
    }

    /** Decodes a struct flow6_key (from "flows6") at offset. */
    public static FlowKey read6(MemorySegment seg, long offset) {
        int ifdir = seg.get(JAVA_INT, offset);
        return new FlowKey(ifdir & Integer.MAX_VALUE, Direction.ofCode(ifdir >>> DIRECTION_BIT),
                seg.get(BE_LONG, offset + OFF6_SRC), seg.get(BE_LONG, offset + OFF6_SRC + 8),
                seg.get(BE_LONG, offset + OFF6_DST), seg.get(BE_LONG, offset + OFF6_DST + 8));
    }

    /** True when this key lives in "flows4" (both addresses IPv4), else in "flows6". */
    public boolean ipv4() {
        return srcHi == 0 && dstHi == 0 && (srcLo >>> 32) == 0xFFFF && (dstLo >>> 32) == 0xFFFF;
    }

    /** Size of this key in the kernel: LAYOUT4 or LAYOUT6. */
    public long byteSize() {
        return ipv4() ? LAYOUT4.byteSize() : LAYOUT6.byteSize();
    }

    /** Encodes this key as the kernel has it (struct flow4_key or flow6_key, by ipv4()) at offset. */
    public void write(MemorySegment seg, long offset) {
        if (ifindex < 0) {
            throw new IllegalArgumentException("an ifindex is a positive int, not " + ifindex);
        }
        seg.set(JAVA_INT, offset, ifindex | direction.code() << DIRECTION_BIT);
        if (ipv4()) {
            seg.set(BE_INT, offset + OFF4_SRC, (int) srcLo);
            seg.set(BE_INT, offset + OFF4_DST, (int) dstLo);
        } else {
            seg.set(BE_LONG, offset + OFF6_SRC, srcHi);
            seg.set(BE_LONG, offset + OFF6_SRC + 8, srcLo);
            seg.set(BE_LONG, offset + OFF6_DST, dstHi);
            seg.set(BE_LONG, offset + OFF6_DST + 8, dstLo);
        }
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
