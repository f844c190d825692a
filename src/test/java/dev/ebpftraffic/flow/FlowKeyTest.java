package dev.ebpftraffic.flow;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class FlowKeyTest {

    private static final IpAddress V4_SRC = IpAddress.parse("192.0.2.1");
    private static final IpAddress V4_DST = IpAddress.parse("10.1.2.3");
    private static final IpAddress V6_SRC = IpAddress.parse("2001:db8::1");
    private static final IpAddress V6_DST = IpAddress.parse("fd00:1:2:3:4:5:6:7");

    @Test
    void layoutIs40Bytes() {
        assertEquals(40, FlowKey.LAYOUT.byteSize());
        assertEquals(0, FlowKey.OFF_IFINDEX);
        assertEquals(4, FlowKey.OFF_DIRECTION);
        assertEquals(8, FlowKey.OFF_SRC);
        assertEquals(24, FlowKey.OFF_DST);
    }

    @Test
    void roundTrip() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(3 * 40 + 8);
            FlowKey[] keys = {
                    FlowKey.of(2, Direction.INBOUND, V4_SRC, V4_DST),
                    FlowKey.of(Integer.MAX_VALUE, Direction.OUTBOUND, V6_SRC, V6_DST),
                    FlowKey.of(-1, Direction.OUTBOUND, new IpAddress(-1, -1), new IpAddress(0, 0)),
            };
            for (int i = 0; i < keys.length; i++) {
                keys[i].write(seg, 8 + i * 40L); // at an offset, to catch offset mistakes
            }
            for (int i = 0; i < keys.length; i++) {
                FlowKey back = FlowKey.read(seg, 8 + i * 40L);
                assertEquals(keys[i], back);
                assertEquals(keys[i].ifindex(), back.ifindex());
                assertEquals(keys[i].direction(), back.direction());
                assertEquals(keys[i].src(), back.src());
                assertEquals(keys[i].dst(), back.dst());
            }
            assertEquals("192.0.2.1", keys[0].src().toString());
            assertEquals("10.1.2.3", keys[0].dst().toString());
            assertEquals("2001:db8::1", keys[1].src().toString());
        }
    }

    @Test
    void encodingIpv4() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(40);
            seg.fill((byte) 0x5a); // write() must zero the padding, not leave garbage
            FlowKey.of(0x01020304, Direction.OUTBOUND, V4_SRC, V4_DST).write(seg, 0);
            byte[] b = seg.toArray(JAVA_BYTE);

            byte[] expected = new byte[40];
            // ifindex in native order at 0
            MemorySegment.ofArray(expected).set(JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 0, 0x01020304);
            expected[4] = 1;                      // direction (egress)
            // 5..7 pad: zero
            expected[8 + 10] = (byte) 0xff;       // src ::ffff:192.0.2.1
            expected[8 + 11] = (byte) 0xff;
            expected[8 + 12] = (byte) 192;
            expected[8 + 13] = 0;
            expected[8 + 14] = 2;
            expected[8 + 15] = 1;
            expected[24 + 10] = (byte) 0xff;      // dst ::ffff:10.1.2.3
            expected[24 + 11] = (byte) 0xff;
            expected[24 + 12] = 10;
            expected[24 + 13] = 1;
            expected[24 + 14] = 2;
            expected[24 + 15] = 3;
            assertArrayEquals(expected, b);
            assertEquals(0x01020304, seg.get(JAVA_INT, 0));
        }
    }

    @Test
    void encodingIpv6() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(40);
            seg.fill((byte) 0xa5);
            FlowKey.of(7, Direction.INBOUND, V6_SRC, V6_DST).write(seg, 0);
            byte[] b = seg.toArray(JAVA_BYTE);
            byte[] expected = new byte[40];
            MemorySegment.ofArray(expected).set(JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 0, 7);
            expected[4] = 0;
            byte[] src = {0x20, 0x01, 0x0d, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
            byte[] dst = {(byte) 0xfd, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7};
            System.arraycopy(src, 0, expected, 8, 16);
            System.arraycopy(dst, 0, expected, 24, 16);
            assertArrayEquals(expected, b);
        }
    }

    @Test
    void decodesKernelBytes() {
        // Bytes as the kernel program writes them: mapped IPv4 from the packet header (network order).
        byte[] raw = new byte[40];
        MemorySegment.ofArray(raw).set(JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 0, 42);
        raw[4] = 0;
        raw[18] = raw[19] = (byte) 0xff;
        raw[20] = 1;
        raw[21] = 1;
        raw[22] = 1;
        raw[23] = 1;
        raw[34] = raw[35] = (byte) 0xff;
        raw[36] = (byte) 192;
        raw[37] = (byte) 168;
        raw[38] = 1;
        raw[39] = 5;
        Arena arena = Arena.ofAuto();
        MemorySegment seg = arena.allocate(40, 8).copyFrom(MemorySegment.ofArray(raw));
        FlowKey k = FlowKey.read(seg, 0);
        assertEquals(42, k.ifindex());
        assertEquals(Direction.INBOUND, k.direction());
        assertEquals("1.1.1.1", k.src().toString());
        assertEquals("192.168.1.5", k.dst().toString());
        assertEquals(FlowKey.of(42, Direction.INBOUND, IpAddress.parse("1.1.1.1"), IpAddress.parse("192.168.1.5")), k);

        seg.set(JAVA_BYTE, 4, (byte) 2); // not a direction the kernel writes
        assertThrows(IllegalArgumentException.class, () -> FlowKey.read(seg, 0));
    }

    @Test
    void equalsAndHashCode() {
        FlowKey a = FlowKey.of(2, Direction.INBOUND, V4_SRC, V4_DST);
        FlowKey b = FlowKey.of(2, Direction.INBOUND, IpAddress.parse("::ffff:192.0.2.1"), IpAddress.parse("10.1.2.3"));
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, FlowKey.of(3, Direction.INBOUND, V4_SRC, V4_DST));
        assertNotEquals(a, FlowKey.of(2, Direction.OUTBOUND, V4_SRC, V4_DST));
        assertNotEquals(a, FlowKey.of(2, Direction.INBOUND, V4_DST, V4_SRC)); // swapped
        assertNotEquals(a, FlowKey.of(2, Direction.INBOUND, V4_SRC, V6_DST));
        assertNotEquals(a, FlowKey.of(2, Direction.INBOUND, V6_SRC, V4_DST));
        assertNotEquals(a, null);
        assertNotEquals(a, "FlowKey");

        // Each of the 6 fields matters, in both halves of the addresses.
        Set<FlowKey> set = new HashSet<>();
        set.add(new FlowKey(1, Direction.INBOUND, 0, 0, 0, 0));
        set.add(new FlowKey(2, Direction.INBOUND, 0, 0, 0, 0));
        set.add(new FlowKey(1, Direction.OUTBOUND, 0, 0, 0, 0));
        set.add(new FlowKey(1, Direction.INBOUND, 1, 0, 0, 0));
        set.add(new FlowKey(1, Direction.INBOUND, 0, 1, 0, 0));
        set.add(new FlowKey(1, Direction.INBOUND, 0, 0, 1, 0));
        set.add(new FlowKey(1, Direction.INBOUND, 0, 0, 0, 1));
        assertEquals(7, set.size());
        assertEquals(true, set.contains(new FlowKey(1, Direction.INBOUND, 0, 0, 0, 1)));
    }
}
