package dev.ebpftraffic.bench;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.workload.Cgroup2Mount;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Per-packet cost of candidate kernel designs for per-workload attribution (src/test/bpf/
 * workload_cost.bpf.c), by BPF_PROG_TEST_RUN, each next to the empty program of its own type in
 * the same round (alternating order), as KernelCostBench does for tc_ingress. bench/workload_cost.sh
 * runs it as root; a main, not a test.
 *
 * <p>Before timing, one run of each program checks that it counted where it should: the cgroup_skb
 * and TC programs under this process's cgroup v2 id (the inode of its group's directory), the
 * socket-lookup program under the id stored for a UDP socket bound on 127.0.0.1 (hit) and under 0
 * for a frame to a port with no socket (miss).
 *
 * <p>Beside the candidates, the programs the exporter ships, cgroup_wl_ingress and cgroup_wl_egress,
 * from the built object (target/bpf/traffic.bpf.o), timed the same way next to the empty cgroup_skb
 * program; before timing, each must count one packet of the frame's IP length in the "workloads" map
 * under this process's cgroup id, its direction and "private" (10/8 on both ends).
 */
public final class WorkloadCostBench {
    private static final int TC_ACT_UNSPEC = -1;
    private static final int CG_ALLOW = 1;
    private static final long OPTS_SIZE = LibbpfTestCalls.TEST_RUN_OPTS.byteSize();
    /** What the bench stores as the bound socket's cgroup id (any value unlike a real id). */
    private static final long STORED_ID = 0x5eed_0000_0001L;
    /** FLOOR_ID in the C source: cg_floor's constant key. */
    private static final long FLOOR_ID = 0xf1000000000000L;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SOCKET = LINKER.downcallHandle(LINKER.defaultLookup().find("socket").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = LINKER.downcallHandle(LINKER.defaultLookup().find("bind").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKNAME = LINKER.downcallHandle(LINKER.defaultLookup().find("getsockname").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));

    private final Libbpf lib;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment opts = arena.allocate(LibbpfTestCalls.TEST_RUN_OPTS);
    private final MethodHandle mapUpdate;
    /** The exporter's object, loaded: cgroup_wl_ingress and cgroup_wl_egress, and their "workloads" map. */
    private FileProgram shipped;

    record Case(String name, String description, int progFd, int emptyFd, int retval, MemorySegment frame) {
    }

    private WorkloadCostBench(Libbpf lib) {
        this.lib = lib;
        SymbolLookup l = SymbolLookup.libraryLookup(Libbpf.DEFAULT_PATH, Arena.global());
        this.mapUpdate = LINKER.downcallHandle(l.find("bpf_map_update_elem").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    }

    public static void main(String[] args) throws Throwable {
        Path obj = Path.of(KernelCostBench.arg(args, "--obj", "target/bench/workload_cost.bpf.o"));
        Path out = Path.of(KernelCostBench.arg(args, "--out", "target/bench/results"));
        Path shipped = Path.of(KernelCostBench.arg(args, "--shipped", "target/bpf/traffic.bpf.o"));
        int rounds = Integer.parseInt(KernelCostBench.arg(args, "--rounds", "30"));
        int repeat = Integer.parseInt(KernelCostBench.arg(args, "--repeat", "1000000"));
        Files.createDirectories(out);
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        WorkloadCostBench b = new WorkloadCostBench(lib);
        try (FileProgram cgEmpty = FileProgram.open(lib, obj, "cg_empty");
             FileProgram ship = FileProgram.open(lib, shipped, "cgroup_wl_ingress")) {
            MemorySegment o = cgEmpty.obj();
            int fd = -1;
            try {
                fd = b.socketOnLoopback();
                b.shipped = ship;
                b.run(o, cgEmpty.fd(), fd, out, rounds, repeat);
            } finally {
                Libc.close(fd);
            }
        }
    }

    private void run(MemorySegment o, int cgEmptyFd, int sockFd, Path out, int rounds, int repeat) throws IOException {
        int counts = lib.mapFd(lib.findMap(o, "wl_counts"));
        int skCgroup = lib.mapFd(lib.findMap(o, "sk_cgroup"));
        int cgIn = prog(o, "cg_count_in");
        int cgOut = prog(o, "cg_count_out");
        int cgFloor = prog(o, "cg_floor");
        int tcEmpty = prog(o, "tc_empty");
        int tcSkb = prog(o, "tc_skb_cgroup");
        int tcLookup = prog(o, "tc_sk_lookup");

        int port = boundPort(sockFd);
        MemorySegment key = arena.allocate(JAVA_INT);
        key.set(JAVA_INT, 0, sockFd);
        MemorySegment val = arena.allocate(JAVA_LONG);
        val.set(JAVA_LONG, 0, STORED_ID);
        int err = update(skCgroup, key, val);
        if (err != 0) {
            throw new IllegalStateException("cannot store the socket's cgroup id: " + Libc.strerror(-err));
        }

        MemorySegment v4 = frame(udp4("10.1.0.1", "10.2.0.1"));
        MemorySegment hit = frame(withDstPort(udp4("127.0.0.1", "127.0.0.1"), port));
        MemorySegment miss = frame(withDstPort(udp4("127.0.0.1", "127.0.0.1"), port == 65535 ? 65534 : port + 1));

        long own = ownCgroupId();
        // Each program counts one packet where it should, with the bytes the hook sees (skb->len).
        int cgBytes = (int) v4.byteSize() - 14; // cgroup_skb sees the packet from the IP header
        check(counts, cgIn, CG_ALLOW, v4, own, 0, cgBytes);
        check(counts, cgOut, CG_ALLOW, v4, own, 1, cgBytes);
        check(counts, cgFloor, CG_ALLOW, v4, FLOOR_ID, 0, cgBytes);
        check(counts, tcSkb, TC_ACT_UNSPEC, v4, own, 1, (int) v4.byteSize());
        check(counts, tcLookup, TC_ACT_UNSPEC, hit, STORED_ID, 0, (int) hit.byteSize());
        check(counts, tcLookup, TC_ACT_UNSPEC, miss, 0, 0, (int) miss.byteSize());
        int wlIn = shipped.fd();
        int wlOut = lib.programFd(lib.findProgram(shipped.obj(), "cgroup_wl_egress"));
        int workloads = lib.mapFd(lib.findMap(shipped.obj(), "workloads"));
        // struct workload_key: remote_private (byte 9) is 1 for 10/8; epoch (byte 10) 0 in a fresh epoch map.
        check(workloads, wlIn, CG_ALLOW, v4, own, 0 | 1 << 8, cgBytes);
        check(workloads, wlOut, CG_ALLOW, v4, own, 1 | 1 << 8, cgBytes);
        System.err.printf("workload cost: checked (own cgroup id %d, socket 127.0.0.1:%d)%n", own, port);

        List<Case> cases = List.of(
                new Case("cg_skb_in", "cgroup_skb ingress: bpf_skb_cgroup_id + per-CPU hash update {cgroup id, direction}", cgIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("cg_skb_out", "cgroup_skb egress: the same, direction out", cgOut, cgEmptyFd, CG_ALLOW, v4),
                new Case("cg_floor", "reference: the same update under a constant id, no helper call", cgFloor, cgEmptyFd, CG_ALLOW, v4),
                new Case("tc_skb_cgroup", "TC: bpf_skb_cgroup_id + the same update (right at egress only)", tcSkb, tcEmpty, TC_ACT_UNSPEC, v4),
                new Case("tc_sk_lookup_hit", "TC ingress: parse + bpf_sk_lookup_udp (found) + socket storage + update", tcLookup, tcEmpty, TC_ACT_UNSPEC, hit),
                new Case("tc_sk_lookup_miss", "TC ingress: parse + bpf_sk_lookup_udp (no socket) + update under 0", tcLookup, tcEmpty, TC_ACT_UNSPEC, miss),
                new Case("wl_ingress", "shipped cgroup_wl_ingress (bpf/traffic.bpf.c): IP parse, remote class, segments, epoch, update", wlIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("wl_egress", "shipped cgroup_wl_egress: the same, direction out", wlOut, cgEmptyFd, CG_ALLOW, v4));
        for (Case c : cases) { // warm up
            testRun(c.progFd(), c.frame(), 10_000, c.retval());
            testRun(c.emptyFd(), c.frame(), 10_000, c.retval());
        }
        List<long[]> added = new ArrayList<>();
        List<long[]> empties = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            added.add(new long[rounds]);
            empties.add(new long[rounds]);
        }
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("workload_cost.csv")))) {
            w.println("round,case,repeat,first,empty_ns,prog_ns");
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < cases.size(); k++) {
                    int i = (k + r) % cases.size();
                    Case c = cases.get(i);
                    long e;
                    long p;
                    if (r % 2 == 0) {
                        e = testRun(c.emptyFd(), c.frame(), repeat, c.retval());
                        p = testRun(c.progFd(), c.frame(), repeat, c.retval());
                    } else {
                        p = testRun(c.progFd(), c.frame(), repeat, c.retval());
                        e = testRun(c.emptyFd(), c.frame(), repeat, c.retval());
                    }
                    added.get(i)[r] = p - e;
                    empties.get(i)[r] = e;
                    w.printf("%d,%s,%d,%s,%d,%d%n", r, c.name(), repeat, r % 2 == 0 ? "empty" : "prog", e, p);
                }
                w.flush();
            }
        }
        System.out.println("| case | what it does | ns added (median) | interquartile range | empty program (median) |");
        System.out.println("|---|---|---|---|---|");
        for (int i = 0; i < cases.size(); i++) {
            long[] a = added.get(i).clone();
            Arrays.sort(a);
            long[] e = empties.get(i).clone();
            Arrays.sort(e);
            System.out.printf("| %s | %s | %.1f | %.1f - %.1f | %.1f |%n", cases.get(i).name(), cases.get(i).description(),
                    quantile(a, 0.5), quantile(a, 0.25), quantile(a, 0.75), quantile(e, 0.5));
        }
    }

    private static double quantile(long[] sorted, double q) {
        double pos = q * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = (int) Math.ceil(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /** Runs prog once on frame and checks that exactly {id, direction} got one packet of len bytes. */
    private void check(int mapFd, int progFd, int retval, MemorySegment frame, long id, int direction, int len) {
        long[] before = sum(mapFd, id, direction);
        testRun(progFd, frame, 1, retval);
        long[] after = sum(mapFd, id, direction);
        if (after[0] - before[0] != 1 || after[1] - before[1] != len) {
            throw new IllegalStateException("program fd " + progFd + " did not count 1 packet, " + len + " bytes under cgroup id "
                    + id + " direction " + direction + ": packets " + before[0] + " -> " + after[0] + ", bytes " + before[1] + " -> " + after[1]);
        }
    }

    /**
     * {packets, bytes} summed over CPUs for one key of wl_counts or workloads (zeros when absent).
     * direction: byte 8 of the key in its low byte, byte 9 (workloads: remote_private) in the next.
     */
    private long[] sum(int mapFd, long id, int direction) {
        MemorySegment k = arena.allocate(16, 8);
        k.set(JAVA_LONG, 0, id);
        k.set(JAVA_BYTE, 8, (byte) direction);
        k.set(JAVA_BYTE, 9, (byte) (direction >> 8));
        int cpus = lib.numPossibleCpus();
        MemorySegment v = arena.allocate(16L * cpus, 8);
        if (lib.mapLookupElem(mapFd, k, v) != 0) {
            return new long[2];
        }
        long[] s = new long[2];
        for (int c = 0; c < cpus; c++) {
            s[0] += v.get(JAVA_LONG, 16L * c);
            s[1] += v.get(JAVA_LONG, 16L * c + 8);
        }
        return s;
    }

    /** The cgroup v2 id of this process's group: the inode of its directory. */
    static long ownCgroupId() throws IOException {
        Cgroup2Mount.Found m = (Cgroup2Mount.Found) Cgroup2Mount.find();
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return (Long) Files.getAttribute(m.mountPoint().resolve(line.substring(4)), "unix:ino", LinkOption.NOFOLLOW_LINKS);
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
    }

    private int prog(MemorySegment o, String name) {
        return lib.programFd(lib.findProgram(o, name));
    }

    private int update(int fd, MemorySegment key, MemorySegment value) throws IllegalStateException {
        try {
            return (int) mapUpdate.invokeExact(fd, key, value, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A UDP socket bound to 127.0.0.1 on a port the kernel picks. */
    private int socketOnLoopback() throws Throwable {
        int fd = (int) SOCKET.invokeExact(2 /* AF_INET */, 2 /* SOCK_DGRAM */, 0);
        if (fd < 0) {
            throw new IllegalStateException("socket() failed");
        }
        MemorySegment sa = arena.allocate(16, 4);
        sa.set(JAVA_SHORT, 0, (short) 2);
        sa.set(JAVA_BYTE, 4, (byte) 127);
        sa.set(JAVA_BYTE, 7, (byte) 1);
        int rc = (int) BIND.invokeExact(fd, sa, 16);
        if (rc != 0) {
            Libc.close(fd);
            throw new IllegalStateException("bind(127.0.0.1:0) failed");
        }
        return fd;
    }

    private int boundPort(int fd) {
        MemorySegment sa = arena.allocate(16, 4);
        MemorySegment len = arena.allocate(JAVA_INT);
        len.set(JAVA_INT, 0, 16);
        try {
            int rc = (int) GETSOCKNAME.invokeExact(fd, sa, len);
            if (rc != 0) {
                throw new IllegalStateException("getsockname failed");
            }
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return ((sa.get(JAVA_BYTE, 2) & 0xff) << 8) | (sa.get(JAVA_BYTE, 3) & 0xff);
    }

    /** IPv4 UDP 40000 -> 9 with a 64-byte payload, as the kernel cost bench measures. */
    private static byte[] udp4(String src, String dst) {
        return Frames.ethernet().ipv4(src, dst).udp(40000, 9).payload(64).build();
    }

    private static byte[] withDstPort(byte[] frame, int port) {
        frame[14 + 20 + 2] = (byte) (port >> 8);
        frame[14 + 20 + 3] = (byte) port;
        return frame;
    }

    private MemorySegment frame(byte[] bytes) {
        MemorySegment s = arena.allocate(bytes.length, 8);
        s.copyFrom(MemorySegment.ofArray(bytes));
        return s;
    }

    private long testRun(int progFd, MemorySegment frame, int repeat, int expectRetval) {
        opts.fill((byte) 0);
        opts.set(JAVA_LONG, KernelCostBench.off("sz"), OPTS_SIZE);
        opts.set(ADDRESS, KernelCostBench.off("data_in"), frame);
        opts.set(JAVA_INT, KernelCostBench.off("data_size_in"), (int) frame.byteSize());
        opts.set(JAVA_INT, KernelCostBench.off("repeat"), repeat);
        int err = LibbpfTestCalls.of(lib).progTestRun(progFd, opts);
        if (err < 0) {
            throw new LibbpfException("BPF_PROG_TEST_RUN failed: " + Libc.strerror(-err), -err);
        }
        int retval = opts.get(JAVA_INT, KernelCostBench.off("retval"));
        if (retval != expectRetval) {
            throw new IllegalStateException("program returned " + retval + ", expected " + expectRetval);
        }
        return Integer.toUnsignedLong(opts.get(JAVA_INT, KernelCostBench.off("duration")));
    }

}
