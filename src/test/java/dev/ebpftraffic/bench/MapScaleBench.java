package dev.ebpftraffic.bench;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CyclicBarrier;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Cost of the flows map as a function of the CPU count (bench/MAPSCALE.md; a main, run as root).
 * <ul>
 * <li>map_memory.csv: memlock of every map of traffic.bpf.o (default --map-size) from /proc/self/fdinfo,
 *     and of the three map variants of bpf/bench/shared.bpf.o empty and full;</li>
 * <li>map_read.csv: a whole-map BPF_MAP_LOOKUP_BATCH read of each full variant (what a scrape copies);</li>
 * <li>map_insert.csv: single runs of a new pair (entry deleted before each run) with each variant half
 *     full, next to an existing pair and the empty program;</li>
 * <li>map_contention.csv: one hot pair, repeat runs from a thread pinned to each CPU, alone and both
 *     CPUs at once (per-CPU hash with plain adds against a shared hash with atomic adds, and tc_ingress).</li>
 * </ul>
 */
public final class MapScaleBench {
    private static final int TC_ACT_UNSPEC = -1;
    private static final int ENTRIES = 16_384;
    private static final long KEY = 12;
    private static final java.util.Map<String, Integer> SIZES = java.util.Map.of("percpu_map", ENTRIES, "shared_map", ENTRIES,
            "lazy_map", ENTRIES);
    private static final long VALUE = 16;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SCHED_SETAFFINITY = LINKER.downcallHandle(
            LINKER.defaultLookup().find("sched_setaffinity").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));

    private final Libbpf lib;
    private final int cpus;

    private MapScaleBench(Libbpf lib) {
        this.lib = lib;
        this.cpus = lib.numPossibleCpus();
    }

    record Variant(String name, String map, boolean perCpu, int progFd, int mapFd) {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(KernelCostBench.arg(args, "--out", "target/bench/results"));
        Path objDir = Path.of(KernelCostBench.arg(args, "--objdir", "target/bench"));
        int rounds = Integer.parseInt(KernelCostBench.arg(args, "--rounds", "10"));
        int repeat = Integer.parseInt(KernelCostBench.arg(args, "--repeat", "1000000"));
        int single = Integer.parseInt(KernelCostBench.arg(args, "--single", "5000"));
        Files.createDirectories(out);
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        MapScaleBench b = new MapScaleBench(lib);
        Path shared = objDir.resolve("shared.bpf.o");
        try (FileProgram empty = FileProgram.open(lib, objDir.resolve("empty.bpf.o"), "tc_empty");
             FileProgram pc = FileProgram.open(lib, shared, "tc_percpu", SIZES);
             FileProgram sh = FileProgram.open(lib, shared, "tc_shared", SIZES);
             FileProgram lz = FileProgram.open(lib, shared, "tc_lazy", SIZES);
             BpfObject main = BpfObject.openEmbedded(lib);
             PrintWriter mem = new PrintWriter(Files.newBufferedWriter(out.resolve("map_memory.csv")))) {
            main.setMaxEntries(BpfObject.MAP_FLOWS4, ENTRIES);
            main.setMaxEntries(BpfObject.MAP_FLOWS6, ENTRIES);
            // As the exporter loads it by default (--workloads auto): proc_scanned sized from this host's
            // sockets, and the reader creates the lost-packet keys of "stats".
            main.setMaxEntries(BpfObject.MAP_PROC_SCANNED, dev.ebpftraffic.bpf.WorkloadAttachment.scanEntries(
                    dev.ebpftraffic.bpf.WorkloadAttachment.inetSockets(Path.of("/proc/slabinfo"))));
            main.load();
            dev.ebpftraffic.bpf.BpfFlowReader.of(main).close();
            mem.println("possible_cpus,object,map,max_entries,state,memlock");
            for (String m : BpfObject.MAPS) {
                if (main.hasMap(m)) {
                    mem.printf("%d,traffic,%s,%d,empty,%d%n", b.cpus, m, main.maxEntries(m), memlock(main.mapFd(m)));
                }
            }
            List<Variant> vs = List.of(
                    new Variant("percpu", "percpu_map", true, pc.fd(), lib.mapFd(lib.findMap(pc.obj(), "percpu_map"))),
                    new Variant("shared", "shared_map", false, sh.fd(), lib.mapFd(lib.findMap(sh.obj(), "shared_map"))),
                    new Variant("lazy", "lazy_map", true, lz.fd(), lib.mapFd(lib.findMap(lz.obj(), "lazy_map"))));
            byte[] f = KernelCostBench.udp4("10.1.0.1", "10.2.0.1", 0);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment frame = arena.allocate(f.length, 8);
                frame.copyFrom(MemorySegment.ofArray(f));
                MemorySegment opts = arena.allocate(LibbpfTestCalls.TEST_RUN_OPTS);
                for (Variant v : vs) {
                    mem.printf("%d,shared,%s,%d,empty,%d%n", b.cpus, v.map(), ENTRIES, memlock(v.mapFd()));
                }
                for (Variant v : vs) {
                    b.fill(v, ENTRIES, arena);
                    mem.printf("%d,shared,%s,%d,full,%d%n", b.cpus, v.map(), ENTRIES, memlock(v.mapFd()));
                }
                mem.flush();
                System.err.println("map scale: memory done");

                try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("map_read.csv")))) {
                    w.println("variant,entries,iter,ns");
                    for (int i = 0; i < rounds * 15; i++) { // the first third warms the JIT up: report.py skips it
                        Variant v = vs.get(i % vs.size());
                        long t0 = System.nanoTime();
                        int n = b.readAll(v, arena);
                        w.printf("%s,%d,%d,%d%n", v.name(), n, i, System.nanoTime() - t0);
                    }
                }
                System.err.println("map scale: read done");

                // Insert: half full maps, so the new pair's bucket and free list are as in steady state.
                for (Variant v : vs) {
                    b.clear(v, arena);
                    testRun(lib, opts, v.progFd(), frame, 1); // the measured pair's entry: its key comes back below
                    b.fill(v, ENTRIES / 2, arena);
                }
                try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("map_insert.csv")))) {
                    w.println("variant,iter,new_ns,existing_ns,empty_ns");
                    MemorySegment key = arena.allocate(KEY, 8);
                    key.set(JAVA_INT, 0, b.loIfindex(vs.get(0), arena));
                    key.asSlice(4, 4).copyFrom(frame.asSlice(14 + 12, 4));
                    key.asSlice(8, 4).copyFrom(frame.asSlice(14 + 16, 4));
                    long[] t = new long[3];
                    for (int i = 0; i < single; i++) {
                        for (Variant v : vs) {
                            int err = lib.mapDeleteElem(v.mapFd(), key);
                            if (err != 0) {
                                throw new IllegalStateException(v.name() + ": the new pair was not inserted: " + Libc.strerror(-err));
                            }
                            // The new pair runs first, the existing one (the same pair, now in the map) right after;
                            // the empty program before them or after them, alternately.
                            if (i % 2 == 0) {
                                t[2] = testRun(lib, opts, empty.fd(), frame, 1);
                            }
                            t[0] = testRun(lib, opts, v.progFd(), frame, 1);
                            t[1] = testRun(lib, opts, v.progFd(), frame, 1);
                            if (i % 2 == 1) {
                                t[2] = testRun(lib, opts, empty.fd(), frame, 1);
                            }
                            w.printf("%s,%d,%d,%d,%d%n", v.name(), i, t[0], t[1], t[2]);
                        }
                    }
                }
                System.err.println("map scale: insert done");
            }

            // Contention on one hot pair: tc_ingress (per-CPU) too, for the real program.
            List<int[]> progs = List.of(new int[] {pc.fd()}, new int[] {sh.fd()}, new int[] {main.programFd(BpfObject.PROG_INGRESS)},
                    new int[] {empty.fd()});
            List<String> names = List.of("percpu", "shared", "tc_ingress", "empty");
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("map_contention.csv")))) {
                w.println("variant,round,mode,cpu,ns");
                for (int r = 0; r < rounds; r++) {
                    for (int i = 0; i < progs.size(); i++) {
                        int p = progs.get(i)[0];
                        for (int cpu = 0; cpu < Math.min(2, b.cpus); cpu++) {
                            long[] ns = onCpus(lib, new int[] {cpu}, p, f, repeat);
                            w.printf("%s,%d,alone,%d,%d%n", names.get(i), r, cpu, ns[0]);
                        }
                        if (b.cpus >= 2) {
                            long[] ns = onCpus(lib, new int[] {0, 1}, p, f, repeat);
                            w.printf("%s,%d,both,0,%d%n%s,%d,both,1,%d%n", names.get(i), r, ns[0], names.get(i), r, ns[1]);
                        }
                    }
                    w.flush();
                    System.err.printf("map scale: contention round %d/%d%n", r + 1, rounds);
                }
            }
        }
    }

    /** Runs prog on frame with repeat from one thread pinned to each of cpus, all at once; the kernel's ns per run of each. */
    private static long[] onCpus(Libbpf lib, int[] cpus, int prog, byte[] f, int repeat) throws Exception {
        long[] ns = new long[cpus.length];
        Throwable[] fail = new Throwable[1];
        CyclicBarrier start = new CyclicBarrier(cpus.length);
        Thread[] ts = new Thread[cpus.length];
        for (int i = 0; i < cpus.length; i++) {
            int idx = i;
            ts[i] = Thread.ofPlatform().start(() -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment mask = a.allocate(128, 8);
                    mask.set(JAVA_LONG, (cpus[idx] / 64) * 8L, 1L << (cpus[idx] % 64));
                    if ((int) SCHED_SETAFFINITY.invokeExact(0, 128L, mask) != 0) {
                        throw new IllegalStateException("sched_setaffinity " + cpus[idx]);
                    }
                    MemorySegment frame = a.allocate(f.length, 8);
                    frame.copyFrom(MemorySegment.ofArray(f));
                    MemorySegment opts = a.allocate(LibbpfTestCalls.TEST_RUN_OPTS);
                    testRun(lib, opts, prog, frame, 1000);
                    start.await();
                    ns[idx] = testRun(lib, opts, prog, frame, repeat);
                } catch (Throwable t) {
                    synchronized (fail) {
                        fail[0] = t;
                    }
                    start.reset();
                }
            });
        }
        for (Thread t : ts) {
            t.join();
        }
        if (fail[0] != null) {
            throw new IllegalStateException(fail[0]);
        }
        return ns;
    }

    /** The ifindex BPF_PROG_TEST_RUN gives the skb (loopback), from the one entry the first run made. */
    private int loIfindex(Variant v, Arena arena) {
        MemorySegment k = arena.allocate(KEY, 8);
        int err = lib.mapGetNextKey(v.mapFd(), MemorySegment.NULL, k);
        if (err != 0) {
            throw new IllegalStateException("no entry after a run: " + Libc.strerror(-err));
        }
        return k.get(JAVA_INT, 0) == 2000 ? findLo(v, arena) : k.get(JAVA_INT, 0);
    }

    private int findLo(Variant v, Arena arena) {
        MemorySegment k = arena.allocate(KEY, 8);
        MemorySegment n = arena.allocate(KEY, 8);
        int err = lib.mapGetNextKey(v.mapFd(), MemorySegment.NULL, n);
        while (err == 0) {
            if (n.get(JAVA_INT, 0) != 2000) {
                return n.get(JAVA_INT, 0);
            }
            k.copyFrom(n);
            err = lib.mapGetNextKey(v.mapFd(), k, n);
        }
        throw new IllegalStateException("no test-run entry");
    }

    /** Inserts synthetic pairs (ifdir 2000, never a test run's) until the map holds n entries or is full. */
    private void fill(Variant v, int n, Arena arena) {
        MemorySegment key = arena.allocate(KEY, 8);
        MemorySegment value = arena.allocate(VALUE * (v.perCpu() ? cpus : 1), 8);
        int have = count(v, arena);
        for (int i = 0; have < n && i < 4 * n; i++) {
            key.set(JAVA_INT, 0, 2000);
            key.set(JAVA_INT, 4, i);
            key.set(JAVA_INT, 8, 0);
            int err = lib.mapUpdateElem(v.mapFd(), key, value, 1 /* BPF_NOEXIST */);
            if (err == 0) {
                have++;
            } else if (err != -17 /* EEXIST */) {
                break; // full
            }
        }
    }

    private void clear(Variant v, Arena arena) {
        MemorySegment k = arena.allocate(KEY, 8);
        while (lib.mapGetNextKey(v.mapFd(), MemorySegment.NULL, k) == 0) {
            lib.mapDeleteElem(v.mapFd(), k);
        }
    }

    private int count(Variant v, Arena arena) {
        MemorySegment k = arena.allocate(KEY, 8);
        MemorySegment n = arena.allocate(KEY, 8);
        int c = 0;
        int err = lib.mapGetNextKey(v.mapFd(), MemorySegment.NULL, n);
        while (err == 0) {
            c++;
            k.copyFrom(n);
            err = lib.mapGetNextKey(v.mapFd(), k, n);
        }
        return c;
    }

    /** The whole map by BPF_MAP_LOOKUP_BATCH, 1024 entries a call (as BpfFlowReader); returns the entries read. */
    private MemorySegment keys;
    private MemorySegment values;
    private MemorySegment in;
    private MemorySegment outB;
    private MemorySegment count;

    private int readAll(Variant v, Arena arena) {
        int batch = 1024;
        long vsize = VALUE * (v.perCpu() ? cpus : 1);
        if (keys == null) {
            keys = arena.allocate(KEY * batch, 8);
            values = arena.allocate(VALUE * cpus * batch, 8);
            in = arena.allocate(KEY, 8);
            outB = arena.allocate(KEY, 8);
            count = arena.allocate(JAVA_INT);
        }
        int total = 0;
        boolean first = true;
        long sum = 0;
        while (true) {
            count.set(JAVA_INT, 0, batch);
            int ret = lib.mapLookupBatch(v.mapFd(), first ? MemorySegment.NULL : in, outB, keys, values, count);
            if (ret < 0 && ret != -2) {
                throw new LibbpfException("batch read: " + Libc.strerror(-ret), -ret);
            }
            int n = count.get(JAVA_INT, 0);
            for (long i = 0; i < n * vsize / 8; i++) {
                sum += values.get(JAVA_LONG, i * 8); // the reader sums every value it is given
            }
            total += n;
            if (ret == -2) {
                return sum == Long.MIN_VALUE ? -1 : total;
            }
            MemorySegment.copy(outB, 0, in, 0, KEY);
            first = false;
        }
    }

    /** memlock of a map fd from /proc/self/fdinfo (bytes the kernel charges for it). */
    static long memlock(int fd) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
            if (line.startsWith("memlock:")) {
                return Long.parseLong(line.substring(8).trim());
            }
        }
        throw new IllegalStateException("no memlock in fdinfo of fd " + fd);
    }

    private static long testRun(Libbpf lib, MemorySegment opts, int progFd, MemorySegment frame, int repeat) {
        opts.fill((byte) 0);
        opts.set(JAVA_LONG, KernelCostBench.off("sz"), LibbpfTestCalls.TEST_RUN_OPTS.byteSize());
        opts.set(ADDRESS, KernelCostBench.off("data_in"), frame);
        opts.set(JAVA_INT, KernelCostBench.off("data_size_in"), (int) frame.byteSize());
        opts.set(JAVA_INT, KernelCostBench.off("repeat"), repeat);
        int err = LibbpfTestCalls.of(lib).progTestRun(progFd, opts);
        if (err < 0) {
            throw new LibbpfException("BPF_PROG_TEST_RUN failed: " + Libc.strerror(-err), -err);
        }
        if (opts.get(JAVA_INT, KernelCostBench.off("retval")) != TC_ACT_UNSPEC) {
            throw new IllegalStateException("program returned " + opts.get(JAVA_INT, KernelCostBench.off("retval")));
        }
        return Integer.toUnsignedLong(opts.get(JAVA_INT, KernelCostBench.off("duration")));
    }

}
