package dev.ebpftraffic.iface;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device types (values from linux/if_arp.h) and the rtnetlink message parser. */
class LinkTypeTest {

    @ParameterizedTest(name = "ARPHRD {0} ({2}) -> {1}")
    @CsvSource({
            "1,     ETHERNET,    ether: veth bridge bond macvlan vxlan gretap vlan tap ifb",
            "772,   ETHERNET,    loopback",
            "65534, L3,          none: tun and WireGuard",
            "768,   L3,          ipip",
            "769,   L3,          ip6tnl",
            "776,   L3,          sit",
            "778,   L3,          gre",
            "823,   L3,          ip6gre",
            "512,   L3,          ppp",
            "519,   L3,          rawip",
            "280,   UNSUPPORTED, can",
            "32,    UNSUPPORTED, infiniband",
            "804,   UNSUPPORTED, ieee802154",
            "824,   UNSUPPORTED, netlink (nlmon)",
    })
    void kinds(int arphrd, LinkType.Kind kind, String what) {
        assertEquals(kind, LinkType.kind(arphrd), what);
    }

    @Test
    void names() {
        assertEquals("none", LinkType.name(0xFFFE));
        assertEquals("ipip", LinkType.name(768));
        assertEquals("type 280", LinkType.name(280));
    }

    @Test
    void loopbackByFlagOrType() {
        assertTrue(new Link("lo", 1, 772, 0x49).loopback());
        assertTrue(new Link("x", 9, 1, Link.IFF_LOOPBACK).loopback());
        assertFalse(new Link("lo0", 9, 1, 0x1003).loopback());
    }

    /** An RTM_NEWLINK message as the kernel lays it out: nlmsghdr, ifinfomsg, attributes (4-aligned). */
    static MemorySegment newlink(Arena a, int ifindex, int type, int flags, String name, boolean nameFirst) {
        byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
        int nameAttr = 4 + n.length;
        int other = 8; // IFLA_MTU (4), u32
        int len = 16 + 16 + ((nameAttr + 3) & ~3) + other;
        MemorySegment m = a.allocate(len, 4);
        m.set(JAVA_INT, 0, len);
        m.set(JAVA_SHORT, 4, (short) 16);
        m.set(JAVA_SHORT, 18, (short) type);
        m.set(JAVA_INT, 20, ifindex);
        m.set(JAVA_INT, 24, flags);
        int off = 32;
        if (!nameFirst) {
            m.set(JAVA_SHORT, off, (short) 8);
            m.set(JAVA_SHORT, off + 2, (short) 4);
            m.set(JAVA_INT, off + 4, 1500);
            off += 8;
        }
        m.set(JAVA_SHORT, off, (short) nameAttr);
        m.set(JAVA_SHORT, off + 2, (short) 3);
        MemorySegment.copy(n, 0, m, JAVA_BYTE, off + 4, n.length);
        off += (nameAttr + 3) & ~3;
        if (nameFirst) {
            m.set(JAVA_SHORT, off, (short) 8);
            m.set(JAVA_SHORT, off + 2, (short) 4);
            m.set(JAVA_INT, off + 4, 1500);
        }
        return m;
    }

    @Test
    void parsesNewlinkMessages() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = newlink(a, 7, 0xFFFE, 0x1091, "tun0", true);
            assertEquals(new Link("tun0", 7, 0xFFFE, 0x1091), Netlink.parseLink(m, 0, (int) m.byteSize()));
            m = newlink(a, 3, 1, 0x1003, "vethabcdefgh123", false);
            assertEquals(new Link("vethabcdefgh123", 3, 1, 0x1003), Netlink.parseLink(m, 0, (int) m.byteSize()));
            // Cut inside the name attribute: no name, no link.
            assertNull(Netlink.parseLink(m, 0, 16 + 16 + 8 + 3));
            assertNull(Netlink.parseLink(m, 0, 20), "shorter than ifinfomsg");
        }
    }
}
