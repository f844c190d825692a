package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;

import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The "flows_full" flags: a failed insert sets its family's flag, packets of unknown pairs then go
 * straight to overflow, a read and the delete of the entries it moved (deleteMoved) clear both, and inserts
 * succeed again. Every packet is counted once throughout.
 */
@KernelTest
class FlowsFullTestRunTest {
    private static FlowKey flow(Direction dir, String src, String dst) {
        return FlowKey.of(ProgTestRun.loopbackIfindex(), dir, IpAddress.parse(src), IpAddress.parse(dst));
    }

    private static int full(ProgTestRun t, int which) {
        Libbpf lib = t.object().lib();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(JAVA_INT);
            MemorySegment v = a.allocate(JAVA_INT);
            k.set(JAVA_INT, 0, which);
            assertEquals(0, lib.mapLookupElem(t.object().mapFd(BpfObject.MAP_FLOWS_FULL), k, v));
            return v.get(JAVA_INT, 0);
        }
    }

    private static byte[] udp4(String src, String dst, int payload) {
        return ethernet().ipv4(src, dst).udp(1, 53).payload(payload).build();
    }

    @Test
    void aFailedInsertSetsTheFlagAndAReadClearsIt() {
        byte[] a = udp4("10.0.0.1", "1.1.1.1", 10);
        byte[] b = udp4("10.0.0.2", "1.1.1.1", 20);
        byte[] c = udp4("10.0.0.3", "1.1.1.1", 30);
        byte[] d = udp4("10.0.0.4", "1.1.1.1", 40);
        byte[] e = udp4("10.0.0.5", "1.1.1.1", 50);
        byte[] f = udp4("10.0.0.6", "1.1.1.1", 60);
        byte[] s1 = ethernet().ipv6("fd00::1", "2001:db8::1").udp(1, 53).payload(5).build();
        byte[] s2 = ethernet().ipv6("fd00::2", "2001:db8::1").udp(1, 53).payload(6).build();
        try (ProgTestRun t = ProgTestRun.load(2)) {
            t.run(OUTBOUND, a);
            t.run(OUTBOUND, b);
            assertEquals(0, full(t, 0), "room left: no flag");
            t.run(OUTBOUND, c); // the failed insert
            assertEquals(1, full(t, 0), "flows4 found full");
            assertEquals(0, full(t, 1), "flows6 is not full");
            t.run(OUTBOUND, a); // existing pairs still count in their entries
            t.run(OUTBOUND, d); // straight to overflow
            t.run(OUTBOUND, s1);
            t.run(OUTBOUND, s1); // flows6 keeps its own flag
            assertEquals(0, full(t, 1));

            // The read deletes a and b (old epoch) and clears the flags: inserts work again.
            Map<FlowKey, FlowValue> mid = t.flows();
            assertEquals(new FlowValue(2, 2L * a.length), mid.get(flow(OUTBOUND, "10.0.0.1", "1.1.1.1")));
            assertEquals(0, full(t, 0), "cleared after the read made room");
            t.run(OUTBOUND, e);
            t.run(OUTBOUND, c);
            assertEquals(0, full(t, 0));
            t.run(OUTBOUND, f); // full again: two current-epoch entries
            assertEquals(1, full(t, 0));
            byte[] s3 = ethernet().ipv6("fd00::3", "2001:db8::1").udp(1, 53).payload(7).build();
            byte[] s4 = ethernet().ipv6("fd00::4", "2001:db8::1").udp(1, 53).payload(8).build();
            t.run(OUTBOUND, s2);
            t.run(OUTBOUND, s2);
            t.run(OUTBOUND, s3); // s1 went with the read: s2 and s3 fill flows6
            assertEquals(0, full(t, 1));
            t.run(OUTBOUND, s4);
            assertEquals(1, full(t, 1), "flows6 found full");

            t.assertMaps(Map.of(
                            flow(OUTBOUND, "10.0.0.1", "1.1.1.1"), new FlowValue(2, 2L * a.length),
                            flow(OUTBOUND, "10.0.0.2", "1.1.1.1"), new FlowValue(1, b.length),
                            flow(OUTBOUND, "10.0.0.5", "1.1.1.1"), new FlowValue(1, e.length),
                            flow(OUTBOUND, "10.0.0.3", "1.1.1.1"), new FlowValue(1, c.length),
                            flow(OUTBOUND, "fd00::1", "2001:db8::1"), new FlowValue(2, 2L * s1.length),
                            flow(OUTBOUND, "fd00::2", "2001:db8::1"), new FlowValue(2, 2L * s2.length),
                            flow(OUTBOUND, "fd00::3", "2001:db8::1"), new FlowValue(1, s3.length)),
                    Map.of(new StatKey(ProgTestRun.loopbackIfindex(), OUTBOUND, KernelStat.OVERFLOW_PUBLIC),
                            new FlowValue(4, c.length + d.length + f.length + s4.length)));
        }
    }

    /**
     * Overflow counts live in the per-CPU "overflow" array, which nothing but the program writes: a drain
     * hands out what the last read saw and later counts show as new, so the sum over reads and drains is exact.
     */
    @Test
    void overflowCountsInTheArrayDrainExactly() {
        byte[] a = udp4("10.0.0.1", "1.1.1.1", 10);
        byte[] o = udp4("10.0.0.2", "10.9.9.9", 20); // private dst
        StatKey key = new StatKey(ProgTestRun.loopbackIfindex(), OUTBOUND, KernelStat.OVERFLOW_PRIVATE);
        try (ProgTestRun t = ProgTestRun.load(1)) {
            t.run(OUTBOUND, a);
            t.run(OUTBOUND, o);
            t.run(OUTBOUND, o);
            assertEquals(Map.of(key, new FlowValue(2, 2L * o.length)), t.stats());
            long[] drained = new long[3];
            assertTrue(t.reader().drainStat(key, (k, p, b) -> {
                assertEquals(key, k);
                drained[0]++;
                drained[1] += p;
                drained[2] += b;
            }));
            assertEquals(1, drained[0]);
            assertEquals(2, drained[1]);
            assertEquals(2L * o.length, drained[2]);
            assertEquals(Map.of(), t.stats(), "drained: nothing left to report");
            assertFalse(t.reader().drainStat(key, (k, p, b) -> fail("drained twice")));
            t.run(OUTBOUND, o);
            assertEquals(Map.of(key, new FlowValue(1, o.length)), t.stats(), "only what came after the drain");
        }
    }

    /**
     * The "overflow" array outlives the process when pinned; what a drain handed out of it is in the
     * reader's saved state. A new reader over the same maps, restored from that state, reports only
     * what came after the drain; without the restore it would hand out the drained counts again.
     */
    @Test
    void overflowDrainsSurviveANewReaderOverTheSameMaps() {
        byte[] a = udp4("10.0.0.1", "1.1.1.1", 10);
        byte[] o = udp4("10.0.0.2", "10.9.9.9", 20); // private dst
        StatKey key = new StatKey(ProgTestRun.loopbackIfindex(), OUTBOUND, KernelStat.OVERFLOW_PRIVATE);
        try (ProgTestRun t = ProgTestRun.load(1)) {
            t.run(OUTBOUND, a);
            t.run(OUTBOUND, o);
            t.run(OUTBOUND, o);
            assertEquals(Map.of(key, new FlowValue(2, 2L * o.length)), t.stats());
            assertTrue(t.reader().drainStat(key, (k, p, b) -> { }));
            t.run(OUTBOUND, o); // after the drain, before the "restart"
            dev.ebpftraffic.flow.ReaderState saved = t.reader().saveState();
            assertEquals(1, saved.overflowBase().size());

            try (BpfFlowReader fresh = BpfFlowReader.of(t.object())) {
                assertEquals(Map.of(key, new FlowValue(3, 3L * o.length)), stats(fresh), "the array keeps every count");
            }
            try (BpfFlowReader restored = BpfFlowReader.of(t.object())) {
                assertTrue(restored.restoreState(saved));
                assertEquals(Map.of(key, new FlowValue(1, o.length)), stats(restored), "only what came after the drain");
                t.run(OUTBOUND, o);
                assertEquals(Map.of(key, new FlowValue(2, 2L * o.length)), stats(restored));
            }
        }
    }

    private static Map<StatKey, FlowValue> stats(BpfFlowReader r) {
        Map<StatKey, FlowValue> m = new java.util.HashMap<>();
        r.readStats((k, p, b) -> m.put(k, new FlowValue(p, b)));
        return m;
    }

    /**
     * lo (ifindex 1) and a veth with ifindex 65 share overflow slot 1 (65 % OVERFLOW_SLOTS). On one CPU the
     * first to overflow owns the slot; the other's overflow goes to the stats hash. Both read exactly, and
     * the second one's counts are really in the hash (raw lookup).
     */
    @Test
    void anInterfaceWhoseSlotIsTakenCountsInTheStatsHash() throws Throwable {
        String ns = "tfull-" + Integer.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        IfindexTestRunTest.ip("netns", "add", ns);
        try {
            IfindexTestRunTest.ip("-n", ns, "link", "add", "ov65", "index", "65", "type", "veth", "peer", "name", "ov65p");
            byte[] a = udp4("10.0.0.1", "1.1.1.1", 10);
            byte[] o = udp4("10.0.0.2", "1.1.1.2", 30);
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread th = Thread.ofPlatform().start(() -> {
                try (ProgTestRun t = ProgTestRun.load(1)) {
                    IfindexTestRunTest.enterNetns(ns);
                    PerCpuTestRunTest.pinTo(PerCpuTestRunTest.onlineCpus().get(0)); // one CPU: one owner of the slot
                    assertEquals(65, dev.ebpftraffic.sys.Libc.ifNameToIndex("ov65"));
                    assertEquals(1, ProgTestRun.loopbackIfindex());
                    t.run(OUTBOUND, a);                                  // fills flows4
                    t.run(OUTBOUND, o);                                  // lo overflows: owns slot 1
                    t.run(OUTBOUND, o, ProgTestRun.Skb.ifindex(65));      // slot 1 taken: stats hash
                    t.run(Direction.INBOUND, o, ProgTestRun.Skb.ifindex(65));
                    StatKey lo = new StatKey(1, OUTBOUND, KernelStat.OVERFLOW_PUBLIC);
                    StatKey v65out = new StatKey(65, OUTBOUND, KernelStat.OVERFLOW_PUBLIC);
                    StatKey v65in = new StatKey(65, Direction.INBOUND, KernelStat.OVERFLOW_PUBLIC);
                    assertEquals(1, java.util.Arrays.stream(t.perCpuStat(v65out)).mapToLong(c -> c[0]).sum(), "in the hash");
                    assertEquals(1, java.util.Arrays.stream(t.perCpuStat(v65in)).mapToLong(c -> c[0]).sum(), "in the hash");
                    assertEquals(Map.of(lo, new FlowValue(1, o.length), v65out, new FlowValue(1, o.length),
                            v65in, new FlowValue(1, o.length)), t.stats());
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            th.join();
            if (failure.get() != null) {
                throw failure.get();
            }
        } finally {
            IfindexTestRunTest.ip("netns", "del", ns);
        }
    }
}
