package dev.ebpftraffic.dns;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The TTL cache, the LRU cap and the rate limit, on a clock the test moves. */
class DnsCacheTest {
    static final long S = 1_000_000_000L;
    static final DnsCache.Ttls TTLS = new DnsCache.Ttls(10 * S, 3600 * S, 300 * S, 30 * S);
    static final long T0 = 123 * S; // any origin: nanoTime may be negative or wrap

    @Test
    void nameIsKeptForItsTtlThenLookedUpAgain() {
        DnsCache c = new DnsCache(100, TTLS);
        assertTrue(c.needsLookup("10.0.0.1", T0));
        c.pending("10.0.0.1");
        assertFalse(c.needsLookup("10.0.0.1", T0 + 500 * S), "one lookup in flight at a time");
        assertNull(c.name("10.0.0.1"), "nothing to show while pending");
        c.answered("10.0.0.1", "a.test", 60, T0 + S);
        assertEquals("a.test", c.name("10.0.0.1"));
        assertFalse(c.needsLookup("10.0.0.1", T0 + 60 * S), "fresh for 60 s");
        assertTrue(c.needsLookup("10.0.0.1", T0 + 61 * S), "then due again");
        c.pending("10.0.0.1");
        assertEquals("a.test", c.name("10.0.0.1"), "the old name is shown while it is looked up again");
        c.answered("10.0.0.1", "b.test", 60, T0 + 62 * S);
        assertEquals("b.test", c.name("10.0.0.1"));
    }

    @Test
    void ttlsAreClampedAndNegativeAnswersCached() {
        DnsCache c = new DnsCache(100, TTLS);
        c.answered("10.0.0.1", "zero.test", 0, T0);
        assertFalse(c.needsLookup("10.0.0.1", T0 + 10 * S - 1), "TTL 0 is kept the minimum, 10 s");
        assertTrue(c.needsLookup("10.0.0.1", T0 + 10 * S));
        c.answered("10.0.0.2", "week.test", 7 * 86400, T0);
        assertFalse(c.needsLookup("10.0.0.2", T0 + 3600 * S - 1), "a week is kept the maximum, 1 h");
        assertTrue(c.needsLookup("10.0.0.2", T0 + 3600 * S));
        c.answered("10.0.0.3", null, 120, T0); // NXDOMAIN with the SOA's 120 s
        assertNull(c.name("10.0.0.3"));
        assertFalse(c.needsLookup("10.0.0.3", T0 + 120 * S - 1), "no name is cached too");
        assertTrue(c.needsLookup("10.0.0.3", T0 + 120 * S));
        c.answered("10.0.0.4", null, -1, T0); // no SOA: the default negative TTL
        assertFalse(c.needsLookup("10.0.0.4", T0 + 300 * S - 1));
        assertTrue(c.needsLookup("10.0.0.4", T0 + 300 * S));
    }

    @Test
    void failuresKeepTheOldNameAndWaitTheFailureTtl() {
        DnsCache c = new DnsCache(100, TTLS);
        c.pending("10.0.0.1");
        c.failed("10.0.0.1", T0);
        assertNull(c.name("10.0.0.1"));
        assertFalse(c.needsLookup("10.0.0.1", T0 + 30 * S - 1), "a dead server is not asked again at once");
        assertTrue(c.needsLookup("10.0.0.1", T0 + 30 * S));
        c.answered("10.0.0.1", "a.test", 60, T0 + 30 * S);
        c.pending("10.0.0.1");
        c.failed("10.0.0.1", T0 + 100 * S);
        assertEquals("a.test", c.name("10.0.0.1"), "a timeout does not take a known name away");
    }

    @Test
    void leastRecentlyShownGoesFirstBeyondTheCap() {
        DnsCache c = new DnsCache(3, TTLS);
        for (int i = 1; i <= 3; i++) {
            c.answered("10.0.0." + i, "h" + i + ".test", 60, T0);
        }
        assertEquals("h1.test", c.name("10.0.0.1")); // 1 is now the most recently shown
        c.answered("10.0.0.4", "h4.test", 60, T0);
        assertEquals(3, c.size());
        assertNull(c.peek("10.0.0.2"), "2 was the least recently shown");
        assertEquals("h1.test", c.peek("10.0.0.1").name);
        for (int i = 0; i < 10_000; i++) {
            c.pending("10.1." + (i >> 8) + "." + (i & 0xff));
        }
        assertEquals(3, c.size(), "the cap holds, pending entries included");
    }

    @Test
    void rateLimitAllowsTheRateAndNoMore() {
        RateLimit r = new RateLimit(20, T0);
        int burst = 0;
        while (r.tryAcquire(T0)) {
            burst++;
        }
        assertEquals(20, burst, "a full bucket: one second's worth at once");
        assertFalse(r.tryAcquire(T0 + S / 20 - 1));
        assertTrue(r.tryAcquire(T0 + S / 20), "one more each 1/20 s");
        assertFalse(r.tryAcquire(T0 + S / 20));
        // over 10 s of asking every millisecond: 10 s worth, plus what the bucket still held
        int n = 0;
        for (long t = T0 + S / 20; t <= T0 + S / 20 + 10 * S; t += 1_000_000) {
            if (r.tryAcquire(t)) {
                n++;
            }
        }
        assertEquals(200, n);
        // a quiet minute refills only up to the burst
        int after = 0;
        while (r.tryAcquire(T0 + 100 * S)) {
            after++;
        }
        assertEquals(20, after);
    }

    @Test
    void lookupIsRateLimitedAndNeverWaits() throws Exception {
        // A server that never answers (a bound socket nobody reads): lookups return at once, and
        // no more queries are sent than the rate allows.
        try (java.nio.channels.DatagramChannel dead = java.nio.channels.DatagramChannel.open()) {
            dead.bind(new InetSocketAddress("127.0.0.1", 0));
            InetSocketAddress server = (InetSocketAddress) dead.getLocalAddress();
            ReverseDns.Settings s = new ReverseDns.Settings(List.of(server), 1000, 5, java.time.Duration.ofMillis(300),
                    java.time.Duration.ofSeconds(10), java.time.Duration.ofDays(1), java.time.Duration.ofMinutes(5),
                    java.time.Duration.ofSeconds(30));
            try (ReverseDns r = ReverseDns.start(s, m -> { })) {
                long start = System.nanoTime();
                for (int i = 0; i < 100; i++) {
                    assertNull(r.lookup("10.2.0." + i));
                }
                long took = System.nanoTime() - start;
                assertTrue(took < 200_000_000L, "100 lookups took " + took / 1e6 + " ms");
                assertNull(r.lookup("other"), "not an address: never asked");
                assertNull(r.lookup("203.0.113.0/24"));
                assertNull(r.lookup("10.1"), "a group's name that inet_aton would take is not an address");
                assertNull(r.lookup("cafe"));
                assertNull(r.lookup("::"));
                Thread.sleep(800); // every query timed out (300 ms)
                ReverseDns.Stats st = r.stats();
                assertEquals(5, st.queries(), "the burst of a 5/s limit");
                assertEquals(5, st.timeouts());
                assertEquals(95, st.rateLimited());
                assertEquals(5, st.cacheEntries());
                int got = 0;
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(512);
                dead.configureBlocking(false);
                while (dead.receive(b) != null) {
                    b.clear();
                    got++;
                }
                assertEquals(5, got, "the server got exactly the queries counted");
            }
        }
    }
}
