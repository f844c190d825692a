package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.KernelTestCondition;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Values from several CPUs: the flows maps are one BPF_MAP_TYPE_HASH for all CPUs (atomic adds), the
 * stats map is BPF_MAP_TYPE_PERCPU_HASH and readers sum over possible CPUs.
 *
 * <p>BPF_F_TEST_RUN_ON_CPU cannot choose the CPU for a SCHED_CLS program (the kernel refuses flags
 * and cpu with EINVAL, see TrafficProgTestRunTest#cpuOptionIsRefusedForTcPrograms). A test run runs
 * the program on the calling thread's CPU with migration disabled, so these tests pin a thread to one
 * CPU with sched_setaffinity and run the program from there; the CPU each value lands on is then known.
 */
@KernelTest
class PerCpuTestRunTest {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SCHED_SETAFFINITY = LINKER.downcallHandle(
            LINKER.defaultLookup().find("sched_setaffinity").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.captureCallState("errno"));
    private static final MethodHandle SCHED_GETCPU = LINKER.downcallHandle(
            LINKER.defaultLookup().find("sched_getcpu").orElseThrow(), FunctionDescriptor.of(JAVA_INT));

    /** Pins the calling thread (pid 0 = this thread only) to one CPU and checks it is running there. */
    static void pinTo(int cpu) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(128, 8); // cpu_set_t: 1024 bits
            mask.set(JAVA_LONG, (cpu / 64) * 8L, 1L << (cpu % 64));
            MemorySegment state = arena.allocate(CAPTURE);
            int r = (int) SCHED_SETAFFINITY.invokeExact(state, 0, 128L, mask);
            assertEquals(0, r, () -> "sched_setaffinity(" + cpu + "): errno " + (int) ERRNO.get(state, 0L));
            assertEquals(cpu, (int) SCHED_GETCPU.invokeExact(), "still not on the pinned CPU");
        } catch (Throwable t) {
            if (t instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(t);
        }
    }

    /** Skips on a one-CPU machine, but fails under CI=true: a CI run must not pass without these checks. */
    static void needTwoCpus(List<Integer> cpus) {
        if (cpus.size() >= 2) {
            return;
        }
        String why = "needs two online CPUs, found " + cpus;
        if (KernelTestCondition.isCi()) {
            throw new AssertionError(why + " (CI=true: give the CI machine two CPUs)");
        }
        assumeTrue(false, why);
    }

    /** The online CPUs from /sys/devices/system/cpu/online ("0-3,6"). */
    static List<Integer> onlineCpus() throws IOException {
        List<Integer> cpus = new ArrayList<>();
        for (String part : Files.readString(Path.of("/sys/devices/system/cpu/online")).trim().split(",")) {
            String[] r = part.split("-");
            int from = Integer.parseInt(r[0]);
            int to = r.length > 1 ? Integer.parseInt(r[1]) : from;
            for (int c = from; c <= to; c++) {
                cpus.add(c);
            }
        }
        return cpus;
    }

    /** Runs body on a new platform thread pinned to cpu; rethrows what it threw. */
    static void onCpu(int cpu, Runnable body) throws InterruptedException {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("cpu" + cpu).start(() -> {
            try {
                pinTo(cpu);
                body.run();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.join();
        rethrow(failure.get());
    }

    /** t runs frame f repeat times (one BPF_PROG_TEST_RUN) on CPU a and on CPU b, both starting together. */
    static void bothCpusRun(ProgTestRun t, int a, int b, byte[] f, int repeat) throws InterruptedException {
        CyclicBarrier start = new CyclicBarrier(2);
        onBothCpus(a, b, () -> {
            try {
                start.await(30, TimeUnit.SECONDS);
                t.run(INBOUND, f, null, repeat);
            } catch (Exception e) {
                start.reset(); // releases the other thread if it waits
                throw new IllegalStateException(e);
            }
        });
    }

    /** Runs body on CPU a and on CPU b at the same time (a thread pinned to each); rethrows either's failure. */
    static void onBothCpus(int a, int b, Runnable body) throws InterruptedException {
        AtomicReference<Throwable> other = new AtomicReference<>();
        Thread tb = Thread.ofPlatform().name("cpu" + b).start(() -> {
            try {
                pinTo(b);
                body.run();
            } catch (Throwable e) {
                other.set(e);
            }
        });
        try {
            onCpu(a, body);
        } finally {
            tb.join();
        }
        rethrow(other.get());
    }

    private static void rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    static FlowKey flow(Direction dir, String src, String dst) {
        return FlowKey.of(ProgTestRun.loopbackIfindex(), dir, IpAddress.parse(src), IpAddress.parse(dst));
    }

    @Test
    void valuesLandOnTheRunningCpuAndReadersSumThem() throws Exception {
        List<Integer> cpus = onlineCpus();
        needTwoCpus(cpus);
        int a = cpus.get(0);
        int b = cpus.get(cpus.size() - 1);
        byte[] f = ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1, 53).payload(50).build();
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        try (ProgTestRun t = ProgTestRun.load()) {
            onCpu(a, () -> {
                for (int i = 0; i < 3; i++) {
                    t.run(OUTBOUND, f);
                }
                t.run(INBOUND, arp);
            });
            onCpu(b, () -> {
                for (int i = 0; i < 5; i++) {
                    t.run(OUTBOUND, f);
                }
                t.run(INBOUND, arp, null, 7);
            });
            FlowKey key = flow(OUTBOUND, "10.0.0.1", "1.1.1.1");
            // The flows entry: one value both CPUs added to.
            assertArrayEquals(new long[][] {{8, 8L * f.length}}, t.perCpu(key));
            // The stats entry: each CPU's slot holds what ran on it.
            StatKey nonIp = new StatKey(ProgTestRun.loopbackIfindex(), INBOUND, KernelStat.NON_IP);
            long[][] raw = t.perCpuStat(nonIp);
            long[][] expected = new long[raw.length][2];
            expected[a] = new long[] {1, arp.length};
            expected[b] = new long[] {7, 7L * arp.length};
            for (int c = 0; c < raw.length; c++) {
                assertArrayEquals(expected[c], raw[c], "CPU " + c);
            }
            t.assertMaps(Map.of(key, new FlowValue(8, 8L * f.length)),
                    Map.of(new StatKey(ProgTestRun.loopbackIfindex(), INBOUND, KernelStat.NON_IP), new FlowValue(8, 8L * arp.length)));
        }
    }

    /**
     * Two CPUs create the same new keys at the same moment: one insert wins, the other gets EEXIST and
     * must add to the entry it then finds. No packet may be lost: the shared value holds what ran on both.
     */
    @Test
    void concurrentCreationOfTheSameFlowsLosesNothing() throws Exception {
        List<Integer> cpus = onlineCpus();
        needTwoCpus(cpus);
        int a = cpus.get(0);
        int b = cpus.get(1);
        int flows = 300;
        int reps = 4;
        List<byte[]> frames = new ArrayList<>();
        Map<FlowKey, FlowValue> expected = new HashMap<>();
        for (int i = 0; i < flows; i++) {
            byte[] f = ethernet().ipv4("10.9." + (i >> 8) + "." + (i & 0xff), "8.8.8.8").tcp(1, 2).payload(i % 64).build();
            frames.add(f);
            expected.put(flow(INBOUND, "10.9." + (i >> 8) + "." + (i & 0xff), "8.8.8.8"), new FlowValue(2L * reps, 2L * reps * f.length));
        }
        try (ProgTestRun t = ProgTestRun.load()) {
            CyclicBarrier start = new CyclicBarrier(2);
            Runnable body = () -> {
                try {
                    for (byte[] f : frames) {
                        start.await(30, TimeUnit.SECONDS); // both CPUs meet every new key at the same moment
                        for (int r = 0; r < reps; r++) {
                            t.run(INBOUND, f);
                        }
                    }
                } catch (Error e) {
                    start.reset(); // releases the other thread if it waits
                    throw e;
                } catch (Exception e) {
                    start.reset();
                    throw new IllegalStateException(e);
                }
            };
            onBothCpus(a, b, body);
            // Raw per-CPU values first: a read moves the entries out of the kernel map (BpfFlowReader).
            for (int i = 0; i < flows; i += 37) {
                long[][] raw = t.perCpu(flow(INBOUND, "10.9." + (i >> 8) + "." + (i & 0xff), "8.8.8.8"));
                long len = frames.get(i).length;
                assertArrayEquals(new long[][] {{2L * reps, 2L * reps * len}}, raw, "flow " + i);
            }
            t.assertMaps(expected, Map.of());
        }
    }

    /**
     * Both CPUs add to one hot pair at the same moment, many times: the flows value is shared, so only
     * atomic adds keep every packet (plain adds lose increments to each other here).
     */
    @Test
    void oneHotPairOnTwoCpusAtOnceLosesNothing() throws Exception {
        List<Integer> cpus = onlineCpus();
        assumeTrue(cpus.size() >= 2, "needs two online CPUs");
        int a = cpus.get(0);
        int b = cpus.get(1);
        int repeat = 300_000;
        byte[] f = ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 53).payload(20).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f); // the entry exists: both CPUs take the add path
            bothCpusRun(t, a, b, f, repeat);
            long n = 1 + 2L * repeat;
            assertArrayEquals(new long[][] {{n, n * f.length}}, t.perCpu(flow(INBOUND, "10.0.0.1", "8.8.8.8")));
        }
    }
}
