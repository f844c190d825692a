package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Draining a pair while the program keeps counting it must lose nothing and credit nothing to
 * another pair. One thread runs the program on one pair (BPF_PROG_TEST_RUN with repeat), one reads
 * and drains that pair over and over, as the exporter's refresh does, and one makes new pairs all
 * the time, so that a deleted element is reused at once if the kernel allows it. Afterwards the
 * drained values plus what remains equal the runs exactly, and every new pair has exactly its own.
 */
@KernelTest
@Timeout(300)
class DrainRaceTestRunTest {
    private static final int REPEAT = 20_000;
    private static final int CALLS = 150;

    @Test
    void drainingWhileCountingLosesNothingAndMisattributesNothing() throws Exception {
        byte[] hot = ethernet().ipv4("10.70.0.1", "10.70.0.2").udp(1, 2).payload(10).build();
        FlowKey hotKey = FlowKey.of(ProgTestRun.loopbackIfindex(), INBOUND, IpAddress.parse("10.70.0.1"), IpAddress.parse("10.70.0.2"));
        try (ProgTestRun t = ProgTestRun.load()) {
            AtomicBoolean done = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            long[] drained = new long[3]; // packets, bytes, drains that found the entry
            Map<FlowKey, FlowValue> drainedOthers = new HashMap<>();

            Thread runner = new Thread(() -> {
                try {
                    for (int i = 0; i < CALLS; i++) {
                        t.run(INBOUND, hot, null, REPEAT);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.set(true);
                }
            }, "drain-race-runner");
            int[] made = new int[1];
            Thread maker = new Thread(() -> {
                try {
                    while (!done.get()) {
                        int i = made[0]++;
                        t.run(INBOUND, ethernet().ipv4("10.71." + (i >> 8 & 0xff) + "." + (i & 0xff), "10.72.0." + (i >> 16 & 0xff))
                                .udp(1, 2).payload(3).build());
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "drain-race-maker");
            runner.start();
            maker.start();
            // The drainer: the exporter's refresh, as fast as it goes. It drains the new pairs too, which
            // puts their elements back on the free list for the next insert.
            BpfFlowReader r = t.reader();
            while (!done.get()) {
                java.util.List<FlowKey> keys = new java.util.ArrayList<>();
                r.readFlows((k, p, b) -> keys.add(k));
                for (FlowKey k : keys) {
                    r.drainFlow(k, (key, p, b) -> {
                        if (key.equals(hotKey)) {
                            drained[0] += p;
                            drained[1] += b;
                            drained[2]++;
                        } else {
                            drainedOthers.merge(key, new FlowValue(p, b), (x, y) -> new FlowValue(x.packets() + y.packets(), x.bytes() + y.bytes()));
                        }
                    });
                }
            }
            runner.join();
            maker.join();
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
            Map<FlowKey, FlowValue> rest = t.flows();
            FlowValue left = rest.getOrDefault(hotKey, new FlowValue(0, 0));
            long runs = (long) CALLS * REPEAT;
            System.out.printf("[drain race] %d runs, %d drains found the pair, drained %d packets, %d left; %d new pairs%n",
                    runs, drained[2], drained[0], left.packets(), made[0]);
            assertTrue(drained[2] > 20, "the drainer must have drained the busy pair many times: " + drained[2]);
            assertEquals(runs, drained[0] + left.packets(), "packets of the busy pair: drained + left == runs");
            assertEquals(runs * hot.length, drained[1] + left.bytes(), "bytes of the busy pair");
            // Every new pair ran exactly once: nothing of the busy pair may have landed in one.
            java.util.Set<FlowKey> seen = new java.util.HashSet<>(drainedOthers.keySet());
            seen.addAll(rest.keySet());
            seen.remove(hotKey);
            assertEquals(made[0], seen.size(), "pairs besides the busy one: exactly the new ones");
            for (int i = 0; i < made[0]; i++) {
                FlowKey k = FlowKey.of(ProgTestRun.loopbackIfindex(), INBOUND,
                        IpAddress.parse("10.71." + (i >> 8 & 0xff) + "." + (i & 0xff)), IpAddress.parse("10.72.0." + (i >> 16 & 0xff)));
                FlowValue d = drainedOthers.getOrDefault(k, new FlowValue(0, 0));
                FlowValue l = rest.getOrDefault(k, new FlowValue(0, 0));
                assertEquals(new FlowValue(1, 14 + 20 + 8 + 3), new FlowValue(d.packets() + l.packets(), d.bytes() + l.bytes()), "new pair " + k);
            }
        }
    }

    /**
     * The reader's view of a pair across reads and a drain, step by step: cumulative values while the
     * entries move from the kernel into userspace, the drain hands out exactly what the last read
     * showed (also the part still in a current-epoch kernel entry), and afterwards the pair counts
     * only what came after the drain.
     */
    @Test
    void readsAndDrainsAddUpStepByStep() {
        byte[] f = ethernet().ipv4("10.70.1.1", "10.70.1.2").udp(1, 2).payload(10).build();
        long len = f.length;
        FlowKey key = FlowKey.of(ProgTestRun.loopbackIfindex(), INBOUND, IpAddress.parse("10.70.1.1"), IpAddress.parse("10.70.1.2"));
        try (ProgTestRun t = ProgTestRun.load()) {
            BpfFlowReader r = t.reader();
            t.run(INBOUND, f, null, 3);
            assertEquals(Map.of(key, new FlowValue(3, 3 * len)), t.flows()); // the entry moved into userspace
            assertEquals(Map.of(key, new FlowValue(3, 3 * len)), t.flows()); // nothing new: the same
            t.run(INBOUND, f, null, 2);
            assertEquals(Map.of(key, new FlowValue(5, 5 * len)), t.flows()); // 3 in userspace + 2 in the kernel
            t.run(INBOUND, f, null, 4); // after the read: not seen yet
            long[] out = new long[2];
            assertTrue(r.drainFlow(key, (k, p, b) -> {
                out[0] = p;
                out[1] = b;
            }));
            assertEquals(5, out[0], "the drain hands out what the last read showed");
            assertEquals(5 * len, out[1]);
            assertTrue(!r.drainFlow(key, (k, p, b) -> { }), "a drained pair is gone");
            // The 4 after the read: the pair is new, from zero.
            assertEquals(Map.of(key, new FlowValue(4, 4 * len)), t.flows());
            assertEquals(Map.of(key, new FlowValue(4, 4 * len)), t.flows());
            assertTrue(r.drainFlow(key, (k, p, b) -> {
                out[0] = p;
                out[1] = b;
            }));
            assertEquals(4, out[0]);
            assertEquals(Map.of(), t.flows(), "drained and idle: nothing left");
        }
    }
}
