package dev.ebpftraffic.bench;

import dev.ebpftraffic.bpf.BpfFlowReader;
import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Kernel cost per packet of tc_ingress, by BPF_PROG_TEST_RUN (bench/run.sh runs it as root;
 * it is a main, not a test, so it never ships in the jar and never runs under `make test`).
 *
 * <p>Two measurements, both side by side with an empty TC program in the same run:
 * <ul>
 * <li><b>repeat</b>: each case runs the same frame {@code repeat} times in one BPF_PROG_TEST_RUN
 *     call; the kernel reports the mean ns per run. In every round each case is measured right
 *     next to the empty program on the same frame, in alternating order (empty first on even
 *     rounds, the program first on odd ones). ns added = program - empty of the same round.</li>
 * <li><b>single</b>: one run per call, for what a fixed frame cannot repeat: a <i>new</i> flow.
 *     Before each call the flow's entry is deleted (outside the timed region), so every timed run
 *     misses in the map and inserts. Each iteration also times the empty program and the same
 *     frame on an existing flow, in rotating order, so the single-run overhead (timer reads, cold
 *     caches after the syscall) cancels out in the differences.</li>
 * </ul>
 * Output: CSV files in the output directory; bench/report.py turns them into the report.
 */
public final class KernelCostBench {
    private static final int TC_ACT_UNSPEC = -1;
    private static final long OPTS_SIZE = LibbpfTestCalls.TEST_RUN_OPTS.byteSize();

    private final Libbpf lib;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment opts = arena.allocate(LibbpfTestCalls.TEST_RUN_OPTS);

    private KernelCostBench(Libbpf lib) {
        this.lib = lib;
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SCHED_SETAFFINITY = LINKER.downcallHandle(
            LINKER.defaultLookup().find("sched_setaffinity").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));

    /** Pins this thread to cpu; false when the CPU cannot be used (offline, or not in this cpuset). */
    private boolean pin(int cpu) {
        MemorySegment mask = arena.allocate(128, 8);
        mask.set(JAVA_LONG, (cpu / 64) * 8L, 1L << (cpu % 64));
        try {
            return (int) SCHED_SETAFFINITY.invokeExact(0, 128L, mask) == 0;
        } catch (Throwable t) {
            throw new IllegalStateException("sched_setaffinity", t);
        }
    }

    record Case(String name, String description, int progFd, MemorySegment frame) {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(arg(args, "--out", "target/bench/results"));
        Path objDir = Path.of(arg(args, "--objdir", "target/bench"));
        int rounds = Integer.parseInt(arg(args, "--rounds", "30"));
        int repeat = Integer.parseInt(arg(args, "--repeat", "1000000"));
        int single = Integer.parseInt(arg(args, "--single", "20000"));
        Files.createDirectories(out);

        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        KernelCostBench b = new KernelCostBench(lib);
        try (FileProgram empty = FileProgram.open(lib, objDir.resolve("empty.bpf.o"), "tc_empty");
             FileProgram floor4 = FileProgram.open(lib, objDir.resolve("floor.bpf.o"), "tc_floor4");
             FileProgram floor6 = FileProgram.open(lib, objDir.resolve("floor.bpf.o"), "tc_floor6");
             FileProgram floor40 = FileProgram.open(lib, objDir.resolve("floor.bpf.o"), "tc_floor40");
             BpfObject main = BpfObject.openEmbedded(lib);
             BpfObject full = BpfObject.openEmbedded(lib);
             BpfObject fresh = BpfObject.openEmbedded(lib);
             BpfObject hot = BpfObject.openEmbedded(lib);
             BpfObject big = BpfObject.openEmbedded(lib)) {
            main.load();
            big.setMaxEntries(BpfObject.MAP_FLOWS4, BIG);
            big.setMaxEntries(BpfObject.MAP_FLOWS6, BIG);
            big.load();
            full.setMaxEntries(BpfObject.MAP_FLOWS4, 1);
            full.setMaxEntries(BpfObject.MAP_FLOWS6, 1);
            full.load();
            fresh.load();
            hot.load();
            b.run(out, rounds, repeat, single, empty.fd(), new int[] {floor4.fd(), floor6.fd(), floor40.fd()}, main, full, fresh, hot);
            b.fillLevels(out, rounds, repeat, single, empty.fd(), big);
        }
    }

    /** The default --map-size. */
    private static final int BIG = 16_384;

    /**
     * A map of the default size as it fills: at each fill level, single runs of a new pair (its entry
     * deleted before each run) next to the same pair existing and the empty program (kernel_fill.csv).
     * Then the map full: repeat runs of an unknown pair (overflow) against an existing pair in the
     * same map, alternating (kernel_full.csv). Filler entries have ifdir 2000, which no test run makes.
     */
    private void fillLevels(Path out, int rounds, int repeat, int single, int emptyFd, BpfObject big) throws IOException {
        int prog = big.programFd(BpfObject.PROG_INGRESS);
        int fd = big.mapFd(BpfObject.MAP_FLOWS4);
        MemorySegment v4 = frame(udp4("10.1.0.1", "10.2.0.1", 0));
        MemorySegment unknown = frame(udp4("10.1.0.9", "10.2.0.1", 0));
        MemorySegment key = arena.allocate(FlowKey.LAYOUT4);
        testRun(prog, v4, 1);
        if (lib.mapGetNextKey(fd, MemorySegment.NULL, key) != 0) {
            throw new IllegalStateException("no entry after a run");
        }
        MemorySegment fk = arena.allocate(FlowKey.LAYOUT4);
        MemorySegment fv = arena.allocate(Math.max(16L * lib.numPossibleCpus(), 24), 8); // a flows value: struct flow_entry
        int filled = 1; // the measured pair
        int next = 0;
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("kernel_fill.csv")))) {
            w.println("fill,iter,new_ns,existing_ns,empty_ns");
            for (int level : new int[] {0, BIG / 4, BIG / 2, 3 * BIG / 4, BIG - 1}) {
                while (filled < Math.max(level, 1)) {
                    fk.set(JAVA_INT, 0, 2000);
                    fk.set(JAVA_INT, 4, next++);
                    fk.set(JAVA_INT, 8, 0);
                    if (lib.mapUpdateElem(fd, fk, fv, 1) == 0) {
                        filled++;
                    }
                }
                for (int i = 0; i < single; i++) {
                    int err = lib.mapDeleteElem(fd, key);
                    if (err != 0) {
                        throw new IllegalStateException("new flow was not inserted at fill " + level + ": " + Libc.strerror(-err));
                    }
                    long e = -1;
                    if (i % 2 == 0) {
                        e = testRun(emptyFd, v4, 1);
                    }
                    long n = testRun(prog, v4, 1);
                    long x = testRun(prog, v4, 1);
                    if (i % 2 == 1) {
                        e = testRun(emptyFd, v4, 1);
                    }
                    w.printf("%d,%d,%d,%d,%d%n", level, i, n, x, e);
                }
                System.err.printf("kernel cost: fill %d done%n", level);
            }
        }
        // Now full: the measured pair is in, and the last slot goes to a filler.
        while (lib.mapUpdateElem(fd, fk, fv, 1) != -7 /* E2BIG */) {
            fk.set(JAVA_INT, 4, next++);
        }
        testRun(prog, unknown, 1000);
        testRun(prog, v4, 1000);
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("kernel_full.csv")))) {
            w.println("round,unknown_ns,existing_ns,empty_ns");
            for (int r = 0; r < rounds; r++) {
                long u;
                long x;
                long e;
                if (r % 2 == 0) {
                    e = testRun(emptyFd, v4, repeat);
                    u = testRun(prog, unknown, repeat);
                    x = testRun(prog, v4, repeat);
                } else {
                    x = testRun(prog, v4, repeat);
                    u = testRun(prog, unknown, repeat);
                    e = testRun(emptyFd, v4, repeat);
                }
                w.printf("%d,%d,%d,%d%n", r, u, x, e);
            }
        }
        checkOverflowCounted(big);
        System.err.println("kernel cost: full map done");
    }

    private void run(Path out, int rounds, int repeat, int single, int emptyFd, int[] floorFds,
                     BpfObject main, BpfObject full, BpfObject fresh, BpfObject hot) throws IOException {
        int mainFd = main.programFd(BpfObject.PROG_INGRESS);
        int fullFd = full.programFd(BpfObject.PROG_INGRESS);
        int freshFd = fresh.programFd(BpfObject.PROG_INGRESS);

        MemorySegment v4 = frame(udp4("10.1.0.1", "10.2.0.1", 0));
        MemorySegment v6 = frame(udp6("fd00::1", "fd00::2", 0));
        /*
         * Which path an existing pair takes depends on the CPUs that counted it: one CPU, the atomic
         * adds to the shared value; more than one past HOT_AFTER packets, its per-CPU hot slot. An
         * unpinned thread measured one or the other depending on where the scheduler had run it. So
         * everything runs on one CPU (CPU 0 unless the cpuset excludes it), and the "hot" object's
         * pairs are first counted on another CPU:
         * ipv4/ipv6 are the atomic path (a pair whose packets one CPU handles, as RSS steers a flow),
         * ipv4_hot/ipv6_hot the slot path of a pair counted by several CPUs.
         */
        int hotFd = hot.programFd(BpfObject.PROG_INGRESS);
        int home = -1;
        boolean spread = false;
        for (int cpu = 0; cpu < lib.numPossibleCpus() && !spread; cpu++) {
            if (pin(cpu)) {
                if (home < 0) {
                    home = cpu; // the first CPU this process may use: everything timed runs there
                } else {
                    testRun(hotFd, v4, 2_000);
                    testRun(hotFd, v6, 2_000);
                    spread = true;
                }
            }
        }
        if (home < 0 || !pin(home)) {
            throw new IllegalStateException("kernel cost: no CPU to run on");
        }
        List<Case> cases = new java.util.ArrayList<>(List.of(
                new Case("ipv4", "IPv4 UDP, existing flow", mainFd, v4),
                new Case("ipv6", "IPv6 UDP, existing flow", mainFd, v6),
                new Case("vlan_ipv4", "IPv4 UDP, one 802.1Q tag, existing flow", mainFd, frame(udp4("10.1.0.1", "10.2.0.2", 1))),
                new Case("qinq_ipv6", "IPv6 UDP, 802.1ad + 802.1Q tags, existing flow", mainFd, frame(udp6("fd00::1", "2001:db8::2", 2))),
                new Case("map_full", "IPv4 UDP, flows4 map full: miss, map-full flag, overflow slot", fullFd, v4),
                new Case("non_ip", "ARP: non-IP stat", mainFd, frame(arp())),
                new Case("floor4", "reference: bare per-CPU hash lookup+update, 12-byte key (flow4_key), no parsing", floorFds[0], v4),
                new Case("floor6", "reference: bare per-CPU hash lookup+update, 36-byte key (flow6_key), no parsing", floorFds[1], v4),
                new Case("floor40", "reference: the same with the 40-byte key of the earlier single flows map", floorFds[2], v4)));
        if (spread) { // one CPU only: no slot path to measure
            cases.add(new Case("ipv4_hot", "IPv4 UDP, existing flow counted by two CPUs: its hot slot", hotFd, v4));
            cases.add(new Case("ipv6_hot", "IPv6 UDP, existing flow counted by two CPUs: its hot slot", hotFd, v6));
        }

        // The full map holds one other flow, so the measured frame always overflows.
        testRun(fullFd, frame(udp4("10.9.9.9", "10.9.9.8", 0)), 1);
        // Warm up: creates the existing flows, JITs nothing (already JITed), touches the caches.
        for (Case c : cases) {
            testRun(c.progFd(), c.frame(), 10_000);
            testRun(emptyFd, c.frame(), 10_000);
        }

        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("kernel_repeat.csv")))) {
            w.println("round,case,description,repeat,first,empty_ns,prog_ns");
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < cases.size(); i++) {
                    Case c = cases.get((i + r) % cases.size()); // rotate which case goes first
                    long e;
                    long p;
                    if (r % 2 == 0) {
                        e = testRun(emptyFd, c.frame(), repeat);
                        p = testRun(c.progFd(), c.frame(), repeat);
                    } else {
                        p = testRun(c.progFd(), c.frame(), repeat);
                        e = testRun(emptyFd, c.frame(), repeat);
                    }
                    w.printf("%d,%s,\"%s\",%d,%s,%d,%d%n", r, c.name(), c.description(), repeat,
                            r % 2 == 0 ? "empty" : "prog", e, p);
                }
                w.flush();
                System.err.printf("kernel cost: round %d/%d%n", r + 1, rounds);
            }
        }
        checkOverflowCounted(full);

        // New flow: delete the entry before every single timed run.
        int flowsFd = fresh.mapFd(BpfObject.MAP_FLOWS4);
        MemorySegment key = arena.allocate(FlowKey.LAYOUT4);
        testRun(freshFd, v4, 1);
        int err = lib.mapGetNextKey(flowsFd, MemorySegment.NULL, key);
        if (err != 0) {
            throw new IllegalStateException("the new-flow object has no entry after a run: " + Libc.strerror(-err));
        }
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("kernel_single.csv")))) {
            w.println("iter,new_ns,existing_ns,empty_ns");
            long[] t = new long[3];
            for (int i = 0; i < single; i++) {
                err = lib.mapDeleteElem(flowsFd, key);
                if (err != 0) { // proves the previous timed run inserted the flow
                    throw new IllegalStateException("new flow was not inserted (delete: " + Libc.strerror(-err) + ")");
                }
                for (int k = 0; k < 3; k++) {
                    int which = (k + i) % 3;
                    t[which] = switch (which) {
                        case 0 -> testRun(freshFd, v4, 1);
                        case 1 -> testRun(mainFd, v4, 1);
                        default -> testRun(emptyFd, v4, 1);
                    };
                }
                w.printf("%d,%d,%d,%d%n", i, t[0], t[1], t[2]);
            }
        }
        System.err.println("kernel cost: done");
    }

    /** Fails loudly if the map_full case did not really take the overflow path. */
    private void checkOverflowCounted(BpfObject full) {
        boolean[] seen = new boolean[1];
        try (BpfFlowReader r = BpfFlowReader.of(full)) {
            r.readStats((k, p, b) -> seen[0] |= k.stat().isOverflow() && p > 0);
        }
        if (!seen[0]) {
            throw new IllegalStateException("map_full case never reached " + KernelStat.OVERFLOW_PRIVATE);
        }
    }

    private MemorySegment frame(byte[] bytes) {
        MemorySegment s = arena.allocate(bytes.length, 8);
        s.copyFrom(MemorySegment.ofArray(bytes));
        return s;
    }

    /** One BPF_PROG_TEST_RUN; returns the kernel's mean ns per run. */
    private long testRun(int progFd, MemorySegment frame, int repeat) {
        opts.fill((byte) 0);
        opts.set(JAVA_LONG, off("sz"), OPTS_SIZE);
        opts.set(ADDRESS, off("data_in"), frame);
        opts.set(JAVA_INT, off("data_size_in"), (int) frame.byteSize());
        opts.set(JAVA_INT, off("repeat"), repeat);
        int err = LibbpfTestCalls.of(lib).progTestRun(progFd, opts);
        if (err < 0) {
            throw new LibbpfException("BPF_PROG_TEST_RUN failed: " + Libc.strerror(-err), -err);
        }
        int retval = opts.get(JAVA_INT, off("retval"));
        if (retval != TC_ACT_UNSPEC) {
            throw new IllegalStateException("program returned " + retval + ", expected TC_ACT_UNSPEC");
        }
        return Integer.toUnsignedLong(opts.get(JAVA_INT, off("duration")));
    }

    /** Offset of a field of bpf_test_run_opts (the benches read retval and duration). */
    static long off(String field) {
        return LibbpfTestCalls.TEST_RUN_OPTS.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    /** The value after name in args, or def: the benches' "--name value" arguments. */
    static String arg(String[] args, String name, String def) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }

    /** IPv4 UDP 40000 -> 9, 64-byte payload, behind 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) tags. */
    static byte[] udp4(String src, String dst, int tags) {
        return tagged(tags).ipv4(src, dst).udp(40000, 9).payload(64).build();
    }

    /** IPv6 UDP 40000 -> 9, 64-byte payload, behind 0, 1 or 2 tags. */
    static byte[] udp6(String src, String dst, int tags) {
        return tagged(tags).ipv6(src, dst).udp(40000, 9).payload(64).build();
    }

    static byte[] arp() {
        return Frames.ethernet().arp("10.1.0.1", "10.2.0.1").build();
    }

    private static Frames.Builder tagged(int tags) {
        return switch (tags) {
            case 0 -> Frames.ethernet();
            case 1 -> Frames.ethernet().vlan(10);
            case 2 -> Frames.ethernet().vlan(Frames.ETH_P_8021AD, 100).vlan(10);
            default -> throw new IllegalArgumentException("tags: " + tags);
        };
    }
}
