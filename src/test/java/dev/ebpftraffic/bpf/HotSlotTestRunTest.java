package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.ebpftraffic.bpf.PerCpuTestRunTest.flow;
import static dev.ebpftraffic.bpf.PerCpuTestRunTest.needTwoCpus;
import static dev.ebpftraffic.bpf.PerCpuTestRunTest.bothCpusRun;
import static dev.ebpftraffic.bpf.PerCpuTestRunTest.onCpu;
import static dev.ebpftraffic.bpf.PerCpuTestRunTest.onlineCpus;
import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Busy flows entries count in per-CPU hot slots (struct flow_entry, struct hot4_slot in bpf/traffic.h):
 * where each packet lands, on which CPU, that a pair counted by one CPU takes no slot, and that the reader
 * still gets every pair's count exactly, across epochs, with slots taken by other pairs, and with two CPUs
 * on one pair at once.
 */
@KernelTest
class HotSlotTestRunTest {
    /** HOT_AFTER in bpf/traffic.h. */
    private static final int HOT_AFTER = 1024;

    /**
     * One packet on another CPU first (an entry takes a slot only once a second CPU added to it), then the
     * rest on one CPU: the shared value takes exactly HOT_AFTER packets, this CPU's copy of the slot the rest.
     */
    @Test
    void anEntryNamesItsSlotAtHotAfterPacketsAndTheRestLandsInThisCpusCopy() throws Exception {
        List<Integer> cpus = onlineCpus();
        needTwoCpus(cpus);
        int cpu = cpus.get(0);
        int other = cpus.get(1);
        byte[] f = ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 53).payload(20).build();
        byte[] f6 = ethernet().ipv6("fd00::1", "2001:db8::1").udp(1, 53).payload(20).build();
        FlowKey key = flow(INBOUND, "10.0.0.1", "8.8.8.8");
        FlowKey key6 = flow(INBOUND, "fd00::1", "2001:db8::1");
        try (ProgTestRun t = ProgTestRun.load()) {
            onCpu(other, () -> {
                t.run(INBOUND, f);
                t.run(INBOUND, f6);
            });
            onCpu(cpu, () -> {
                t.run(INBOUND, f, null, HOT_AFTER - 2);
                t.run(INBOUND, f6, null, 3000 - 1);
            });
            assertArrayEquals(new long[] {HOT_AFTER - 1, (HOT_AFTER - 1L) * f.length, 0}, t.sharedValue(key), "not hot yet");
            onCpu(cpu, () -> t.run(INBOUND, f, null, 3000 - (HOT_AFTER - 1)));
            for (FlowKey k : List.of(key, key6)) {
                long len = k.ipv4() ? f.length : f6.length;
                long[] shared = t.sharedValue(k);
                assertEquals(HOT_AFTER, shared[0], k + ": the shared value stops at HOT_AFTER");
                assertEquals(HOT_AFTER * len, shared[1]);
                assertNotEquals(0, shared[2], k + ": names a hot slot");
                assertTrue(shared[2] - 1 < HotSlots.SLOTS, k + ": epoch 0's half: " + shared[2]);
                long[][] copies = t.hotSlot(k.ipv4(), (int) shared[2] - 1);
                for (int c = 0; c < copies.length; c++) {
                    if (c == cpu) {
                        assertEquals(3000 - HOT_AFTER, copies[c][1], k + ": this CPU's copy");
                        assertEquals((3000 - HOT_AFTER) * len, copies[c][2]);
                        assertEquals(k.ifindex(), copies[c][0] & 0x3fffffff, "the copy holds the owner's key");
                    } else {
                        assertArrayEquals(new long[] {0, 0, 0}, copies[c], k + ": CPU " + c + " never ran it");
                    }
                }
            }
            t.assertMaps(Map.of(key, new FlowValue(3000, 3000L * f.length), key6, new FlowValue(3000, 3000L * f6.length)), Map.of());
        }
    }

    /**
     * Across reads: a read moves the old epoch's entry with its slot copies, then frees the slots
     * (deleteMoved), and the pair takes a slot again in each epoch. Every read is exact.
     */
    @Test
    void readsAcrossEpochsAreExactAndFreeTheOldEpochsSlots() throws Exception {
        readsAcrossEpochs(true, "10.0.0.2", "1.1.1.1");
    }

    /**
     * The same for IPv6, whose copies the kernel checks by the owning element's address (struct hot6_slot):
     * each round's entry is a new one (the read deletes the last round's), and the freed copies are all zero.
     */
    @Test
    void readsAcrossEpochsAreExactAndFreeTheOldEpochsSlotsIpv6() throws Exception {
        readsAcrossEpochs(false, "fd00::2", "2001:db8::53");
    }

    private static void readsAcrossEpochs(boolean v4, String src, String dst) throws Exception {
        List<Integer> cpus = onlineCpus();
        needTwoCpus(cpus);
        int cpu = cpus.get(0);
        int other = cpus.get(1);
        byte[] f = (v4 ? ethernet().ipv4(src, dst) : ethernet().ipv6(src, dst)).udp(1, 53).payload(7).build();
        FlowKey key = flow(OUTBOUND, src, dst);
        try (ProgTestRun t = ProgTestRun.load()) {
            long total = 0;
            for (int round = 0; round < 5; round++) {
                int n = 1500 + 700 * round;
                onCpu(other, () -> t.run(OUTBOUND, f)); // the epoch's entry, made on another CPU
                onCpu(cpu, () -> t.run(OUTBOUND, f, null, n - 1));
                total += n;
                int parity = round % 2; // the epoch counted in
                assertTrue(ownedCopies(t, parity) > 0, "round " + round + ": the pair counts in a hot slot");
                assertEquals(Map.of(key, new FlowValue(total, total * f.length)), ProgTestRun.flows(t.reader()), "round " + round);
                // The read flipped the epoch; the half of the slots the entry used is free again.
                for (int i = parity * HotSlots.SLOTS; i < (parity + 1) * HotSlots.SLOTS; i++) {
                    for (long[] c : t.hotSlot(v4, i)) {
                        assertArrayEquals(new long[] {0, 0, 0}, c, "round " + round + ": slot " + i);
                    }
                }
            }
            assertEquals(Map.of(key, new FlowValue(total, total * f.length)), ProgTestRun.flows(t.reader()), "nothing new");
        }
    }

    /**
     * More hot pairs than slots: pairs whose slot's copy another pair owns keep the atomic adds. Nothing is
     * lost and nothing lands on another pair.
     */
    @Test
    void morePairsThanSlotsStayExact() throws Exception {
        morePairsThanSlots(true);
    }

    /** The same for IPv6: a copy is the entry's when it holds the entry's element address (struct hot6_slot). */
    @Test
    void morePairsThanSlotsStayExactIpv6() throws Exception {
        morePairsThanSlots(false);
    }

    private static void morePairsThanSlots(boolean v4) throws Exception {
        List<Integer> cpus = onlineCpus();
        needTwoCpus(cpus);
        int cpu = cpus.get(0);
        int other = cpus.get(1);
        int pairs = 3 * HotSlots.SLOTS;
        Map<FlowKey, FlowValue> expected = new HashMap<>();
        try (ProgTestRun t = ProgTestRun.load()) {
            for (int i = 0; i < pairs; i++) {
                String src = v4 ? "10.5.0." + i : "fd00::5:" + i;
                String dst = v4 ? "9.9.9.9" : "2001:db8::9";
                byte[] f = (v4 ? ethernet().ipv4(src, dst) : ethernet().ipv6(src, dst)).udp(1, 53).payload(i % 30).build();
                int n = HOT_AFTER + 100 + i;
                onCpu(other, () -> t.run(INBOUND, f));
                onCpu(cpu, () -> t.run(INBOUND, f, null, n - 1));
                expected.put(flow(INBOUND, src, dst), new FlowValue(n, (long) n * f.length));
            }
            int fellBack = 0;
            for (FlowKey k : expected.keySet()) {
                long[] shared = t.sharedValue(k);
                assertNotEquals(0, shared[2], k + " names a slot");
                if (shared[0] > HOT_AFTER) {
                    fellBack++; // its slot's copy belongs to another pair
                }
            }
            assertTrue(fellBack >= pairs - HotSlots.SLOTS, "at most one pair per slot: " + fellBack);
            t.assertMaps(expected, Map.of());
        }
    }

    /** A pair counted by one CPU only keeps the atomic adds, however busy: its shared value has everything. */
    @Test
    void aPairOnOneCpuTakesNoSlot() throws Exception {
        int cpu = onlineCpus().get(0);
        byte[] f = ethernet().ipv6("fd00::7", "2001:db8::7").udp(1, 53).payload(9).build();
        FlowKey key = flow(INBOUND, "fd00::7", "2001:db8::7");
        try (ProgTestRun t = ProgTestRun.load()) {
            onCpu(cpu, () -> t.run(INBOUND, f, null, 5000));
            assertArrayEquals(new long[] {5000, 5000L * f.length, 0}, t.sharedValue(key));
            assertEquals(0, ownedCopies(t, 0));
            t.assertMaps(Map.of(key, new FlowValue(5000, 5000L * f.length)), Map.of());
        }
    }

    /** Copies of any slot of one parity, in hot4 and hot6, that an entry owns. */
    private static int ownedCopies(ProgTestRun t, int parity) {
        int n = 0;
        for (boolean v4 : new boolean[] {true, false}) {
            for (int i = parity * HotSlots.SLOTS; i < (parity + 1) * HotSlots.SLOTS; i++) {
                for (long[] c : t.hotSlot(v4, i)) {
                    n += c[0] != 0 ? 1 : 0;
                }
            }
        }
        return n;
    }

    /** Two CPUs on one pair at once, over several reads: each CPU counts in its own copy, the sum is exact. */
    @Test
    void twoCpusOnOneHotPairAcrossReadsLoseNothing() throws Exception {
        List<Integer> cpus = onlineCpus();
        needTwoCpus(cpus);
        byte[] f = ethernet().ipv4("10.0.0.3", "8.8.4.4").udp(1, 53).payload(33).build();
        FlowKey key = flow(INBOUND, "10.0.0.3", "8.8.4.4");
        int repeat = 100_000;
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            bothCpusRun(t, cpus.get(0), cpus.get(1), f, repeat);
            long n = 1 + 2L * repeat;
            long[] shared = t.sharedValue(key);
            assertNotEquals(0, shared[2], "two CPUs added to it: it names a slot");
            long[][] copies = t.hotSlot(true, (int) shared[2] - 1);
            // Which CPU's copy holds how much depends on how the two threads overlapped; together with the
            // shared value they hold every packet.
            assertTrue(copies[cpus.get(0)][1] + copies[cpus.get(1)][1] > 0, "the pair counted in its slot");
            assertEquals(n, shared[0] + copies[cpus.get(0)][1] + copies[cpus.get(1)][1]);
            assertEquals(Map.of(key, new FlowValue(n, n * f.length)), ProgTestRun.flows(t.reader()));
            bothCpusRun(t, cpus.get(0), cpus.get(1), f, repeat); // epoch 1: the other half of the slots
            n += 2L * repeat;
            assertEquals(Map.of(key, new FlowValue(n, n * f.length)), ProgTestRun.flows(t.reader()));
        }
    }
}
