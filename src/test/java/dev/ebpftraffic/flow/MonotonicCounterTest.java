package dev.ebpftraffic.flow;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MonotonicCounterTest {

    private static void assertTotals(MonotonicCounter c, long packets, long bytes) {
        assertEquals(packets, c.packets(), "packets");
        assertEquals(bytes, c.bytes(), "bytes");
    }

    @Test
    void startsAtZero() {
        assertTotals(new MonotonicCounter(), 0, 0);
    }

    @Test
    void followsGrowingKernelValues() {
        MonotonicCounter c = new MonotonicCounter();
        c.observe(3, 300);
        assertTotals(c, 3, 300);
        c.observe(5, 700);
        assertTotals(c, 5, 700);
        c.observe(5, 700); // no traffic in between
        assertTotals(c, 5, 700);
    }

    @Test
    void droppedValueMeansRecreatedEntry() {
        MonotonicCounter c = new MonotonicCounter();
        c.observe(10, 1000);
        c.observe(4, 400); // entry recreated: all 4 packets are new
        assertTotals(c, 14, 1400);
        c.observe(6, 600);
        assertTotals(c, 16, 1600);
        c.observe(0, 0); // recreated and still empty
        assertTotals(c, 16, 1600);
        c.observe(1, 60);
        assertTotals(c, 17, 1660);
    }

    /**
     * A recreated entry can have fewer packets but more bytes than the old one (a few large frames
     * after many small ones). Either value going down means the entry started over, so both are new.
     */
    @Test
    void recreatedEntryWithFewerPacketsButMoreBytes() {
        MonotonicCounter c = new MonotonicCounter();
        c.observe(10, 600);       // 10 small packets
        c.observe(2, 3000);       // recreated: 2 jumbo frames
        assertTotals(c, 12, 3600);
    }

    @Test
    void recreatedEntryWithMorePacketsButFewerBytes() {
        MonotonicCounter c = new MonotonicCounter();
        c.observe(2, 3000);       // 2 jumbo frames
        c.observe(10, 600);       // recreated: 10 small packets
        assertTotals(c, 12, 3600);
    }

    @Test
    void kernelEntryGoneRestartsFromZero() {
        MonotonicCounter c = new MonotonicCounter();
        c.observe(10, 1000);
        c.kernelEntryGone();
        assertTotals(c, 10, 1000); // gone does not change the totals
        c.observe(12, 1200);        // recreated and already bigger than before: all of it is new
        assertTotals(c, 22, 2200);
        c.observe(13, 1300);
        assertTotals(c, 23, 2300);
    }

    /**
     * Random traffic with entries recreated between reads (visibly: a value got smaller) and entries
     * missing from reads: totals never go down and equal the traffic that really happened.
     */
    @Test
    void neverDecreasesAndCountsEverything() {
        Random r = new Random(1234);
        MonotonicCounter c = new MonotonicCounter();
        long kp = 0;
        long kb = 0;
        long truePackets = 0;
        long trueBytes = 0;
        for (int i = 0; i < 100_000; i++) {
            long prevP = c.packets();
            long prevB = c.bytes();
            long np = r.nextInt(5);
            long nb = np * (60 + r.nextInt(1440));
            switch (r.nextInt(10)) {
                case 0 -> { // recreated between two reads: visible when either value ends up smaller
                    if (np < kp || nb < kb) {
                        kp = 0;
                        kb = 0;
                    }
                }
                case 1 -> { // missing from a read: the next appearance starts from zero
                    c.kernelEntryGone();
                    kp = 0;
                    kb = 0;
                }
                default -> {
                }
            }
            kp += np;
            kb += nb;
            truePackets += np;
            trueBytes += nb;
            c.observe(kp, kb);
            assertTrue(c.packets() >= prevP);
            assertTrue(c.bytes() >= prevB);
            assertEquals(truePackets, c.packets());
            assertEquals(trueBytes, c.bytes());
        }
    }
}
