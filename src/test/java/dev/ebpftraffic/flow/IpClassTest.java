package dev.ebpftraffic.flow;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ip_type of dst_ip. The same ranges are implemented in is_private() in bpf/traffic.bpf.c
 * (overflow path); these cases are the ones a kernel test of that path should mirror.
 */
class IpClassTest {

    @ParameterizedTest
    @ValueSource(strings = {
            // 10.0.0.0/8
            "10.0.0.0", "10.0.0.1", "10.255.255.255",
            // 172.16.0.0/12
            "172.16.0.0", "172.20.1.1", "172.31.255.255",
            // 192.168.0.0/16
            "192.168.0.0", "192.168.1.5", "192.168.255.255",
            // 100.64.0.0/10 (CGNAT)
            "100.64.0.0", "100.100.100.100", "100.127.255.255",
            // 127.0.0.0/8
            "127.0.0.0", "127.0.0.1", "127.255.255.255",
            // 169.254.0.0/16
            "169.254.0.0", "169.254.169.254", "169.254.255.255",
            // IPv4-mapped written as IPv6 is the same address
            "::ffff:10.1.2.3", "::ffff:192.168.0.1",
            // fc00::/7
            "fc00::", "fc00::1", "fd00::1", "fd12:3456:789a::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            // fe80::/10
            "fe80::", "fe80::1", "fe9f::1", "fea0::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            // loopback
            "::1",
            // multicast 224.0.0.0/4 (mDNS, SSDP, the top) and the limited broadcast
            "224.0.0.0", "224.0.0.1", "224.0.0.251", "239.255.255.250", "239.255.255.255", "255.255.255.255",
            // multicast ff00::/8 (all nodes, all routers, MLDv2 reports, global scope)
            "ff00::", "ff02::1", "ff02::2", "ff02::16", "ff05::1:3", "ff0e::101", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    })
    void privateAddresses(String s) {
        IpAddress a = IpAddress.parse(s);
        assertTrue(IpClass.isPrivate(a), s);
        assertEquals("private", IpClass.of(a), s);
        assertEquals(IpClass.PRIVATE, IpClass.of(a), s);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            // just outside each IPv4 range
            "9.255.255.255", "11.0.0.0",
            "172.15.255.255", "172.32.0.0", "172.0.0.1", "172.48.0.1", "172.144.0.1",
            "192.167.255.255", "192.169.0.0", "191.168.1.1", "193.168.1.1",
            "100.63.255.255", "100.128.0.0", "100.0.0.1", "100.192.0.1", "99.64.0.1", "101.64.0.1",
            "126.255.255.255", "128.0.0.0", "128.0.0.1",
            "169.253.255.255", "169.255.0.0", "168.254.1.1", "170.254.1.1",
            // ordinary public and documentation ranges (public by the contract)
            "1.1.1.1", "8.8.8.8", "192.0.2.1", "198.51.100.1", "203.0.113.1",
            "0.0.0.0", "11.10.192.168",
            // just outside multicast and the limited broadcast (directed broadcasts are not special)
            "223.255.255.255", "240.0.0.0", "255.255.255.254", "254.255.255.255", "203.0.113.255",
            // the second octet alone must not decide: 10 / 127 / 168 in other positions
            "1.10.0.1", "1.127.0.1", "1.192.168.1", "2.172.16.0",
            // just outside each IPv6 range
            "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::", "fe00::1",
            "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::", "fec0::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            // documentation, global, and near-loopback
            "2001:db8::1", "2606:4700:4700::1111", "2001:4860:4860::8888",
            "::", "::2", "::1:0", "1::1", "::1:1", "0:0:0:1::1",
            // IPv4-compatible (not mapped) and NAT64 forms of private IPv4 are IPv6, not private
            "::10.0.0.1", "::a00:1", "64:ff9b::10.0.0.1", "::fffe:10.0.0.1", "1::ffff:10.0.0.1",
    })
    void publicAddresses(String s) {
        IpAddress a = IpAddress.parse(s);
        assertFalse(IpClass.isPrivate(a), s);
        assertEquals("public", IpClass.of(a), s);
        assertEquals(IpClass.PUBLIC, IpClass.of(a), s);
    }

    /** Exhaustive over the first two octets: the classifier only looks at them for IPv4. */
    @org.junit.jupiter.api.Test
    void everyIpv4SlashSixteen() {
        for (int b0 = 0; b0 < 256; b0++) {
            for (int b1 = 0; b1 < 256; b1++) {
                boolean expected = b0 == 10 || b0 == 127
                        || (b0 == 172 && b1 >= 16 && b1 <= 31)
                        || (b0 == 192 && b1 == 168)
                        || (b0 == 100 && b1 >= 64 && b1 <= 127)
                        || (b0 == 169 && b1 == 254)
                        || (b0 >= 224 && b0 <= 239);
                for (int low : new int[]{0x0000, 0x0001, 0xffff}) {
                    IpAddress a = IpAddress.ofIpv4((b0 << 24) | (b1 << 16) | low);
                    boolean broadcast = b0 == 255 && b1 == 255 && low == 0xffff;
                    assertEquals(expected || broadcast, IpClass.isPrivate(a), a.toString());
                }
            }
        }
    }

    /** Exhaustive over the first IPv6 group (fc00::/7, fe80::/10 live there). */
    @org.junit.jupiter.api.Test
    void everyFirstIpv6Group() {
        for (int g0 = 0; g0 <= 0xffff; g0++) {
            boolean expected = (g0 >= 0xfc00 && g0 <= 0xfdff) || (g0 >= 0xfe80 && g0 <= 0xfebf) || g0 >= 0xff00;
            IpAddress a = new IpAddress((long) g0 << 48, 1);
            assertEquals(expected || g0 == 0, IpClass.isPrivate(a), a.toString()); // g0 == 0 is ::1
            IpAddress b = new IpAddress(((long) g0 << 48) | 0xffff, 0x1234);
            assertEquals(expected, IpClass.isPrivate(b), b.toString());
        }
    }
}
