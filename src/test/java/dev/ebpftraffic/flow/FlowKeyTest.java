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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FlowKeyTest {

    private static final IpAddress V4_SRC = IpAddress.parse("192.0.2.1");
    private static final IpAddress V4_DST = IpAddress.parse("10.1.2.3");
    private static final IpAddress V6_SRC = IpAddress.parse("2001:db8::1");
    private static final IpAddress V6_DST = IpAddress.parse("fd00:1:2:3:4:5:6:7");

    @Test
    void layoutsAre12And36Bytes() {
        assertEquals(12, FlowKey.LAYOUT4.byteSize());
        assertEquals(4, FlowKey.OFF4_SRC);
        assertEquals(8, FlowKey.OFF4_DST);
        assertEquals(36, FlowKey.LAYOUT6.byteSize());
        assertEquals(4, FlowKey.OFF6_SRC);
        assertEquals(20, FlowKey.OFF6_DST);
    }

    @Test
    void whichMapAKeyLivesIn() {
        assertTrue(FlowKey.of(2, Direction.INBOUND, V4_SRC, V4_DST).ipv4());
        assertEquals(12, FlowKey.of(2, Direction.INBOUND, V4_SRC, V4_DST).byteSize());
        assertFalse(FlowKey.of(2, Direction.INBOUND, V6_SRC, V6_DST).ipv4());
        assertEquals(36, FlowKey.of(2, Direction.INBOUND, V6_SRC, V6_DST).byteSize());
        // One IPv4 address is not enough: the pair is an IPv6 one.
        assertFalse(FlowKey.of(2, Direction.INBOUND, V4_SRC, V6_DST).ipv4());
        assertFalse(FlowKey.of(2, Direction.INBOUND, V6_SRC, V4_DST).ipv4());
        // ::ffff:0:0/96 only: the IPv4-compatible ::a.b.c.d and ::1 are IPv6.
        assertFalse(FlowKey.of(2, Direction.INBOUND, new IpAddress(0, 0x0000_0000_C000_0201L), V4_DST).ipv4());
        assertFalse(FlowKey.of(2, Direction.INBOUND, V4_SRC, new IpAddress(0, 1)).ipv4());
    }

    @Test
    void roundTrip() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4 * 40 + 8);
            FlowKey[] keys = {
                    FlowKey.of(2, Direction.INBOUND, V4_SRC, V4_DST),
                    FlowKey.of(Integer.MAX_VALUE, Direction.OUTBOUND, V6_SRC, V6_DST),
                    FlowKey.of(Integer.MAX_VALUE, Direction.OUTBOUND, IpAddress.parse("255.255.255.255"), IpAddress.parse("0.0.0.0")),
                    FlowKey.of(0, Direction.INBOUND, new IpAddress(-1, -1), new IpAddress(0, 0)),
            };
            for (int i = 0; i < keys.length; i++) {
                keys[i].write(seg, 8 + i * 40L); // at an offset, to catch offset mistakes
            }
            for (int i = 0; i < keys.length; i++) {
                long off = 8 + i * 40L;
                FlowKey back = keys[i].ipv4() ? FlowKey.read4(seg, off) : FlowKey.read6(seg, off);
                assertEquals(keys[i], back);
                assertEquals(keys[i].ifindex(), back.ifindex());
                assertEquals(keys[i].direction(), back.direction());
                assertEquals(keys[i].src(), back.src());
                assertEquals(keys[i].dst(), back.dst());
            }
            assertEquals("192.0.2.1", keys[0].src().toString());
            assertEquals("10.1.2.3", keys[0].dst().toString());
            assertEquals("2001:db8::1", keys[1].src().toString());
            assertEquals("255.255.255.255", keys[2].src().toString());
        }
    }

    @Test
    void negativeIfindexIsRefused() {
        // Bit 31 carries the direction in the kernel key: an ifindex never uses it (it is a positive int).
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(40);
            FlowKey k = FlowKey.of(-1, Direction.INBOUND, V4_SRC, V4_DST);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> k.write(seg, 0));
            assertEquals("an ifindex is a positive int, not -1", e.getMessage());
        }
    }

    @Test
    void encodingIpv4() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16);
            seg.fill((byte) 0x5a); // bytes past the 12-byte key stay untouched
            FlowKey.of(0x01020304, Direction.OUTBOUND, V4_SRC, V4_DST).write(seg, 0);
            byte[] b = seg.toArray(JAVA_BYTE);

            byte[] expected = new byte[16];
            // ifdir in native order at 0: ifindex | direction (egress = 1) << 31
            MemorySegment.ofArray(expected).set(JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 0, 0x81020304);
            byte[] addrs = {(byte) 192, 0, 2, 1, 10, 1, 2, 3}; // src 192.0.2.1, dst 10.1.2.3, network order
            System.arraycopy(addrs, 0, expected, 4, 8);
            expected[12] = expected[13] = expected[14] = expected[15] = 0x5a;
            assertArrayEquals(expected, b);
            assertEquals(0x81020304, seg.get(JAVA_INT, 0));
        }
    }

    @Test
    void encodingIpv6() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(36);
            seg.fill((byte) 0xa5);
            FlowKey.of(7, Direction.INBOUND, V6_SRC, V6_DST).write(seg, 0);
            byte[] b = seg.toArray(JAVA_BYTE);
            byte[] expected = new byte[36];
            MemorySegment.ofArray(expected).set(JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 0, 7); // ingress: bit 31 clear
            byte[] src = {0x20, 0x01, 0x0d, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
            byte[] dst = {(byte) 0xfd, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7};
            System.arraycopy(src, 0, expected, 4, 16);
            System.arraycopy(dst, 0, expected, 20, 16);
            assertArrayEquals(expected, b);
        }
    }

    @Test
    void decodesKernelBytes() {
        // Bytes as the kernel program writes them for flows4: ifdir, then the addresses from the header.
        byte[] raw = new byte[12];
        MemorySegment.ofArray(raw).set(JAVA_INT_UNALIGNED.withOrder(ByteOrder.nativeOrder()), 0, 42);
        raw[4] = raw[5] = raw[6] = raw[7] = 1;
        raw[8] = (byte) 192;
        raw[9] = (byte) 168;
        raw[10] = 1;
        raw[11] = 5;
        Arena arena = Arena.ofAuto();
        MemorySegment seg = arena.allocate(12, 8).copyFrom(MemorySegment.ofArray(raw));
        FlowKey k = FlowKey.read4(seg, 0);
        assertEquals(42, k.ifindex());
        assertEquals(Direction.INBOUND, k.direction());
        assertEquals("1.1.1.1", k.src().toString());
        assertEquals("192.168.1.5", k.dst().toString());
        assertEquals(FlowKey.of(42, Direction.INBOUND, IpAddress.parse("1.1.1.1"), IpAddress.parse("192.168.1.5")), k);

        seg.set(JAVA_INT, 0, 42 | 1 << 31); // the same on egress
        FlowKey out = FlowKey.read4(seg, 0);
        assertEquals(42, out.ifindex());
        assertEquals(Direction.OUTBOUND, out.direction());

        // flows6: an IPv6 pair, egress on ifindex 3.
        MemorySegment seg6 = arena.allocate(36, 8);
        seg6.set(JAVA_INT, 0, 3 | 1 << 31);
        byte[] src = {0x20, 0x01, 0x0d, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        MemorySegment.copy(MemorySegment.ofArray(src), 0, seg6, 4, 16);
        seg6.set(JAVA_BYTE, 20, (byte) 0xfd);
        seg6.set(JAVA_BYTE, 35, (byte) 2);
        FlowKey k6 = FlowKey.read6(seg6, 0);
        assertEquals(FlowKey.of(3, Direction.OUTBOUND, V6_SRC, IpAddress.parse("fd00::2")), k6);
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
