package dev.ebpftraffic.flow;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IpAddressTest {

    /** Builds an address from its eight 16-bit groups, independently of the parser. */
    private static IpAddress groups(int... g) {
        assertEquals(8, g.length);
        long hi = 0;
        long lo = 0;
        for (int i = 0; i < 4; i++) {
            hi = (hi << 16) | g[i];
            lo = (lo << 16) | g[i + 4];
        }
        return new IpAddress(hi, lo);
    }

    @Test
    void formatsRfc5952FromGroups() {
        assertEquals("fd00::2", groups(0xfd00, 0, 0, 0, 0, 0, 0, 2).toString());
        assertEquals("2001:db8::1", groups(0x2001, 0x0db8, 0, 0, 0, 0, 0, 1).toString());
        assertEquals("::1", groups(0, 0, 0, 0, 0, 0, 0, 1).toString());
        assertEquals("::", groups(0, 0, 0, 0, 0, 0, 0, 0).toString());
        assertEquals("1::", groups(1, 0, 0, 0, 0, 0, 0, 0).toString());
        assertEquals("fe80::", groups(0xfe80, 0, 0, 0, 0, 0, 0, 0).toString());
        // Two runs of equal length: the first one is shortened.
        assertEquals("2001:db8::1:0:0:1", groups(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1).toString());
        // The longest run wins, even when it comes second.
        assertEquals("2001:0:0:1::1", groups(0x2001, 0, 0, 1, 0, 0, 0, 1).toString());
        // A single zero group is never "::".
        assertEquals("2001:db8:0:1:1:1:1:1", groups(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1).toString());
        assertEquals("1:0:2:0:3:0:4:0", groups(1, 0, 2, 0, 3, 0, 4, 0).toString());
        // No leading zeros, lower case.
        assertEquals("2001:db8:a:bc:def:abcd::", groups(0x2001, 0x0db8, 0x000a, 0x00bc, 0x0def, 0xabcd, 0, 0).toString());
        assertEquals("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                groups(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff).toString());
        // Zero run in the middle, touching neither end.
        assertEquals("1:2::7:8", groups(1, 2, 0, 0, 0, 0, 7, 8).toString());
        assertEquals("::3:4:5:6:7:8", groups(0, 0, 3, 4, 5, 6, 7, 8).toString());
        assertEquals("0:2:3:4:5:6:7:8", groups(0, 2, 3, 4, 5, 6, 7, 8).toString());
        assertEquals("1:2:3:4:5:6::", groups(1, 2, 3, 4, 5, 6, 0, 0).toString());
        assertEquals("0:2:3:4:5:6:7:0", groups(0, 2, 3, 4, 5, 6, 7, 0).toString());
    }

    @ParameterizedTest
    @CsvSource({
            // input, canonical output
            "fd00::2, fd00::2",
            "FD00:0:0:0:0:0:0:2, fd00::2",
            "2001:DB8::1, 2001:db8::1",
            "2001:0db8:0000:0000:0000:0000:0000:0001, 2001:db8::1",
            "0:0:0:0:0:0:0:1, ::1",
            "0:0:0:0:0:0:0:0, ::",
            "::, ::",
            "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1",
            "2001:0:0:1:0:0:0:1, 2001:0:0:1::1",
            "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1",
            "2001:db8::0:1, 2001:db8::1",
            "1:2:3:4:5:6:7::, 1:2:3:4:5:6:7:0",
            "::2:3:4:5:6:7:8, 0:2:3:4:5:6:7:8",
            "0:0:3:4:5:6:7:8, ::3:4:5:6:7:8",
            "::ffff:1.2.3.4, 1.2.3.4",
            "::FFFF:0102:0304, 1.2.3.4",
            "0:0:0:0:0:ffff:c000:0201, 192.0.2.1",
            "1.2.3.4, 1.2.3.4",
            "0.0.0.0, 0.0.0.0",
            "255.255.255.255, 255.255.255.255",
            "192.168.1.5, 192.168.1.5",
            "64:ff9b::192.0.2.33, 64:ff9b::c000:221",
    })
    void parsesAndFormatsCanonically(String input, String expected) {
        IpAddress a = IpAddress.parse(input);
        assertEquals(expected, a.toString());
        // The canonical form parses back to the same address and prints identically.
        assertEquals(a, IpAddress.parse(expected));
        assertEquals(expected, IpAddress.parse(expected).toString());
    }

    @Test
    void ipv4IsStoredMapped() {
        IpAddress a = IpAddress.parse("1.2.3.4");
        assertEquals(0L, a.hi());
        assertEquals(0x0000_ffff_0102_0304L, a.lo());
        assertTrue(a.isIpv4());
        assertEquals(0x01020304, a.ipv4());
        assertEquals(a, IpAddress.parse("::ffff:1.2.3.4"));
        assertEquals(a, IpAddress.ofIpv4(0x01020304));
        // High bit set: no sign extension into the mapped prefix.
        IpAddress high = IpAddress.ofIpv4(0xC0A80105);
        assertEquals(0x0000_ffff_c0a8_0105L, high.lo());
        assertEquals("192.168.1.5", high.toString());
        assertFalse(IpAddress.parse("::1").isIpv4());
        assertFalse(IpAddress.parse("::1.2.3.4").isIpv4()); // IPv4-compatible, not mapped
        assertFalse(IpAddress.parse("1::ffff:1.2.3.4").isIpv4());
        assertEquals("::102:304", IpAddress.parse("::1.2.3.4").toString());
    }

    @Test
    void ofBytesFourAndSixteen() {
        assertEquals(IpAddress.parse("192.0.2.200"), IpAddress.ofBytes(new byte[]{(byte) 192, 0, 2, (byte) 200}));
        assertEquals("255.255.255.255", IpAddress.ofBytes(new byte[]{-1, -1, -1, -1}).toString());
        byte[] v6 = {0x20, 0x01, 0x0d, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xab, (byte) 0xcd};
        IpAddress a = IpAddress.ofBytes(v6);
        assertEquals(0x2001_0db8_0000_0000L, a.hi());
        assertEquals(0x0000_0000_0000_abcdL, a.lo());
        assertEquals("2001:db8::abcd", a.toString());
        byte[] mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, 10, 0, 0, 1};
        assertEquals(IpAddress.parse("10.0.0.1"), IpAddress.ofBytes(mapped));
        byte[] ones = new byte[16];
        java.util.Arrays.fill(ones, (byte) 0xff);
        assertEquals(new IpAddress(-1L, -1L), IpAddress.ofBytes(ones));
        assertThrows(IllegalArgumentException.class, () -> IpAddress.ofBytes(new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> IpAddress.ofBytes(new byte[5]));
        assertThrows(IllegalArgumentException.class, () -> IpAddress.ofBytes(new byte[15]));
        assertThrows(IllegalArgumentException.class, () -> IpAddress.ofBytes(new byte[17]));
    }

    @Test
    void roundTripsEveryGroupPattern() {
        // Every pattern of zero / non-zero groups (256 of them), formatted, must parse back and be canonical.
        for (int mask = 0; mask < 256; mask++) {
            int[] g = new int[8];
            for (int i = 0; i < 8; i++) {
                g[i] = (mask >> i & 1) != 0 ? 0x100 * (i + 1) + 0xa : 0;
            }
            IpAddress a = groups(g);
            String s = a.toString();
            assertEquals(a, IpAddress.parse(s), s);
            assertEquals(s, s.toLowerCase(java.util.Locale.ROOT));
            if (!a.isIpv4()) {
                assertTrue(s.indexOf("::") == s.lastIndexOf("::"), s);
                assertFalse(s.contains(":::"), s);
                for (String part : s.split(":")) {
                    assertFalse(part.length() > 1 && part.startsWith("0"), s);
                }
                // "::" only replaces a run of two or more zero groups, the longest one (first on a tie).
                int bestStart = -1;
                int bestLen = 1;
                for (int i = 0; i < 8; i++) {
                    int j = i;
                    while (j < 8 && g[j] == 0) {
                        j++;
                    }
                    if (j - i > bestLen) {
                        bestStart = i;
                        bestLen = j - i;
                    }
                }
                int groupsPrinted = s.equals("::") ? 0 : (s.replace("::", ":").replaceAll("^:|:$", "").split(":").length);
                assertEquals(bestStart < 0 ? 8 : 8 - bestLen, groupsPrinted, s);
                assertEquals(bestStart >= 0, s.contains("::"), s);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.2.3.-4", "1..2.3", "1.2.3.", ".1.2.3",
            "01234.1.1.1", "a.b.c.d", " 1.2.3.4", "1.2.3.4 ", "+1.2.3.4",
            "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", "::1::", ":::", ":", "1:", ":1", "1:2:3:4:5:6:7:8::",
            "1::2:3:4:5:6:7:8", "gggg::1", "12345::1", "1:2:3:4:5:6:7:8:", ":1:2:3:4:5:6:7:8",
            "::ffff:1.2.3", "::ffff:256.1.1.1", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4",
            "-1::", "+1::", "::-1", "0x1::", " ::1", "::1 ", "1.2.3.4::", "::1.2.3.4::1",
            "\u0661::", "fe80::1%eth0", "[::1]",
    })
    void rejectsInvalid(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> IpAddress.parse(text),
                () -> "accepted \"" + text + "\"");
        assertTrue(e.getMessage().contains(text), e.getMessage());
    }

    @Test
    void equalsAndHashCode() {
        assertEquals(IpAddress.parse("2001:db8::1"), IpAddress.parse("2001:0db8:0:0::1"));
        assertEquals(IpAddress.parse("2001:db8::1").hashCode(), IpAddress.parse("2001:0db8:0:0::1").hashCode());
        assertFalse(IpAddress.parse("2001:db8::1").equals(IpAddress.parse("2001:db8::2")));
        assertFalse(IpAddress.parse("::1").equals(IpAddress.parse("1::")));
    }
}
