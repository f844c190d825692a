package dev.ebpftraffic.iface;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

class IfaceNamesTest {
    @Test
    void liveThenGoneForAWhileThenFallback() {
        AtomicLong now = new AtomicLong();
        IfaceNames n = new IfaceNames(i -> i == 1 ? "lo" : null, now::get);
        n.put(5, "veth1");
        assertEquals("veth1", n.apply(5));
        assertEquals("lo", n.apply(1), "fallback (if_indextoname)");
        assertEquals("ifindex9", n.apply(9), "nobody knows it");
        n.gone(5);
        assertEquals("veth1", n.apply(5), "a gone interface's name stays for its last counts");
        now.addAndGet(IfaceNames.KEEP_GONE_NANOS + 1);
        n.put(6, "veth1"); // recreated: same name, new ifindex
        n.gone(7);         // any later departure purges the old ones
        assertEquals("ifindex5", n.apply(5));
        assertEquals("veth1", n.apply(6));
        assertEquals(1, n.size());
    }

    @Test
    void anIfindexBackInUseIsLiveAgain() {
        IfaceNames n = new IfaceNames(i -> null);
        n.put(5, "a");
        n.gone(5);
        n.put(5, "b");
        assertEquals("b", n.apply(5));
        assertEquals(1, n.size());
    }

    @Test
    void namesThatAreNotUtf8GetDistinctEscapedLabels() {
        assertEquals("n\\xff", IfaceNames.decode(new byte[]{'n', (byte) 0xff}, 2));
        assertEquals("n\\xfe", IfaceNames.decode(new byte[]{'n', (byte) 0xfe}, 2));
        assertEquals("eth0", IfaceNames.decode("eth0\0junk".getBytes(java.nio.charset.StandardCharsets.UTF_8), 4));
        byte[] mixed = "wlan-ü".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals("wlan-ü", IfaceNames.decode(mixed, mixed.length), "valid UTF-8 is kept");
        // A truncated sequence, an overlong encoding of '/', and a lone continuation byte.
        assertEquals("a\\xc3b\\xc0\\xafc\\x80", IfaceNames.decode(new byte[]{'a', (byte) 0xc3, 'b', (byte) 0xc0, (byte) 0xaf, 'c',
                (byte) 0x80}, 7));
    }
}
