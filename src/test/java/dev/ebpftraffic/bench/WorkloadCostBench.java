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
 *
 * <p>The per-process pair, cgroup_proc_ingress and cgroup_proc_egress, from the same object, timed
 * the same way: each must count the packet in "workloads" as above and, in "procs", under the same
 * cgroup id, tgid 0 and its direction. BPF_PROG_TEST_RUN hands the program a bare socket the kernel
 * makes for the run, with no "proc_sk" storage, so what they measure is the path of an untagged
 * socket: the storage lookup (miss), the "proc_scanned" lookup (miss) and the "procs" update under
 * tgid 0. The tagged path (a socket made since the start: storage hit, count under its tgid) is
 * measured with src/test/bpf/proc_cost.bpf.c, which includes the shipped source: proc_tagged_in/out
 * tag the run's socket, then run the same code; proc_tag_only is the tag step alone, to subtract;
 * proc_min_in/out, the cheapest per-process counter measured, tag the socket the same way.
 *
 * <p>proc_sock_create runs once per socket, in socket(2), not per packet: its cost is timed per
 * socket, as socket() + close() of a UDP socket, N at a time, with and without the program attached
 * (a link) to a cgroup v2 group the bench makes under the root and moves itself into, in alternating
 * order; before timing, one socket made with it attached must put this process's command name into
 * "proc_comms" and one made without it must not. The group is removed and the process moved back at
 * the end, also when something fails.
 */
public final class WorkloadCostBench {
    private static final int TC_ACT_UNSPEC = -1;
    private static final int CG_ALLOW = 1;
    private static final long OPTS_SIZE = LibbpfTestCalls.TEST_RUN_OPTS.byteSize();
    /** What the bench stores as the bound socket's cgroup id (any value unlike a real id). */
    private static final long STORED_ID = 0x5eed_0000_0001L;
    /** FLOOR_ID in the C source: cg_floor's constant key. */
    private static final long FLOOR_ID = 0xf1000000000000L;
    /** TAGGED_TGID in src/test/bpf/proc_cost.bpf.c. */
    private static final int TAGGED_TGID = 424242;

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
    /** src/test/bpf/proc_cost.bpf.c, loaded: proc_tagged_in/out, proc_tag_only. */
    private FileProgram procCost;

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
        Path procObj = Path.of(KernelCostBench.arg(args, "--proc", "target/bench/proc_cost.bpf.o"));
        Files.createDirectories(out);
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        WorkloadCostBench b = new WorkloadCostBench(lib);
        try (FileProgram cgEmpty = FileProgram.open(lib, obj, "cg_empty");
             FileProgram ship = FileProgram.open(lib, shipped, "cgroup_wl_ingress");
             FileProgram proc = FileProgram.open(lib, procObj, "proc_tag_only")) {
            MemorySegment o = cgEmpty.obj();
            int fd = -1;
            try {
                fd = b.socketOnLoopback();
                b.shipped = ship;
                b.procCost = proc;
                b.run(o, cgEmpty.fd(), fd, out, rounds, repeat);
                b.socketCost(out, rounds, Integer.parseInt(KernelCostBench.arg(args, "--sockets", "20000")));
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
        int procIn = lib.programFd(lib.findProgram(shipped.obj(), "cgroup_proc_ingress"));
        int procOut = lib.programFd(lib.findProgram(shipped.obj(), "cgroup_proc_egress"));
        int procs = lib.mapFd(lib.findMap(shipped.obj(), "procs"));
        checkProc(workloads, procs, procIn, v4, own, 0, 0, cgBytes);
        checkProc(workloads, procs, procOut, v4, own, 0, 1, cgBytes);
        int taggedIn = lib.programFd(lib.findProgram(procCost.obj(), "proc_tagged_in"));
        int taggedOut = lib.programFd(lib.findProgram(procCost.obj(), "proc_tagged_out"));
        int tagOnly = procCost.fd();
        int pcWorkloads = lib.mapFd(lib.findMap(procCost.obj(), "workloads"));
        int pcProcs = lib.mapFd(lib.findMap(procCost.obj(), "procs"));
        checkProc(pcWorkloads, pcProcs, taggedIn, v4, own, TAGGED_TGID, 0, cgBytes);
        checkProc(pcWorkloads, pcProcs, taggedOut, v4, own, TAGGED_TGID, 1, cgBytes);
        int minIn = lib.programFd(lib.findProgram(procCost.obj(), "proc_min_in"));
        int minOut = lib.programFd(lib.findProgram(procCost.obj(), "proc_min_out"));
        int minCounts = lib.mapFd(lib.findMap(procCost.obj(), "proc_min_counts"));
        checkMin(minCounts, minIn, v4, own, 0, cgBytes);
        checkMin(minCounts, minOut, v4, own, 1, cgBytes);
        long[] before = sumProc(pcProcs, own, TAGGED_TGID, 0);
        testRun(tagOnly, v4, 1, CG_ALLOW);
        if (!Arrays.equals(before, sumProc(pcProcs, own, TAGGED_TGID, 0))) {
            throw new IllegalStateException("proc_tag_only counted a packet");
        }
        System.err.printf("workload cost: checked (own cgroup id %d, socket 127.0.0.1:%d)%n", own, port);

        List<Case> cases = List.of(
                new Case("cg_skb_in", "cgroup_skb ingress: bpf_skb_cgroup_id + per-CPU hash update {cgroup id, direction}", cgIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("cg_skb_out", "cgroup_skb egress: the same, direction out", cgOut, cgEmptyFd, CG_ALLOW, v4),
                new Case("cg_floor", "reference: the same update under a constant id, no helper call", cgFloor, cgEmptyFd, CG_ALLOW, v4),
                new Case("tc_skb_cgroup", "TC: bpf_skb_cgroup_id + the same update (right at egress only)", tcSkb, tcEmpty, TC_ACT_UNSPEC, v4),
                new Case("tc_sk_lookup_hit", "TC ingress: parse + bpf_sk_lookup_udp (found) + socket storage + update", tcLookup, tcEmpty, TC_ACT_UNSPEC, hit),
                new Case("tc_sk_lookup_miss", "TC ingress: parse + bpf_sk_lookup_udp (no socket) + update under 0", tcLookup, tcEmpty, TC_ACT_UNSPEC, miss),
                new Case("wl_ingress", "shipped cgroup_wl_ingress (bpf/traffic.bpf.c): IP parse, remote class, segments, epoch, update", wlIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("wl_egress", "shipped cgroup_wl_egress: the same, direction out", wlOut, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_ingress", "shipped cgroup_proc_ingress: cgroup_wl_ingress + socket storage (miss: the run's bare socket) + proc_scanned miss + procs update (tgid 0)", procIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_egress", "shipped cgroup_proc_egress: the same, direction out", procOut, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_tagged_in", "tag step + the code of cgroup_proc_ingress on a tagged socket (storage hit, procs update under its tgid)", taggedIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_tagged_out", "tag step + the code of cgroup_proc_egress on a tagged socket", taggedOut, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_min_in", "cheapest per-process counter: tag step + bpf_skb_cgroup_id + storage get (hit) + per-CPU hash update {cgroup, tgid, direction}", minIn, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_min_out", "the same, direction out", minOut, cgEmptyFd, CG_ALLOW, v4),
                new Case("proc_tag_only", "the tag step alone (socket storage get, hit after the first run; one store)", tagOnly, cgEmptyFd, CG_ALLOW, v4));
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

    private static final int BPF_CGROUP_INET_SOCK_CREATE = 2;

    /** Per socket: socket() + close() with and without proc_sock_create attached to a group this process is in. */
    private void socketCost(Path out, int rounds, int perRound) throws IOException {
        Cgroup2Mount.Found m = (Cgroup2Mount.Found) Cgroup2Mount.find();
        Path home = m.mountPoint().resolve(ownCgroupPath());
        Path group = m.mountPoint().resolve("etx-sockbench-" + Long.toHexString(System.nanoTime() ^ new java.util.Random().nextLong()));
        String pid = Long.toString(ProcessHandle.current().pid());
        int prog = lib.programFd(lib.findProgram(shipped.obj(), "proc_sock_create"));
        int comms = lib.mapFd(lib.findMap(shipped.obj(), "proc_comms"));
        MemorySegment tgid = arena.allocate(JAVA_INT);
        tgid.set(JAVA_INT, 0, (int) ProcessHandle.current().pid());
        MemorySegment comm = arena.allocate(16);
        Files.createDirectory(group);
        int cg = -1;
        int link = -1;
        long[] without = new long[rounds];
        long[] with = new long[rounds];
        try {
            Files.writeString(group.resolve("cgroup.procs"), pid);
            cg = Libc.openDirectory(group.toString());
            if (cg < 0) {
                throw new IllegalStateException("cannot open " + group + ": " + Libc.strerror(-cg));
            }
            // Checked first: made with the program attached, a socket names this process in "proc_comms"; without, not.
            lib.mapDeleteElem(comms, tgid);
            sockets(1);
            if (lib.mapLookupElem(comms, tgid, comm) == 0) {
                throw new IllegalStateException("proc_comms holds this process before proc_sock_create was attached");
            }
            link = attach(prog, cg);
            sockets(1);
            if (lib.mapLookupElem(comms, tgid, comm) != 0) {
                throw new IllegalStateException("proc_sock_create attached to " + group + " did not name this process in proc_comms");
            }
            Libc.close(link);
            link = -1;
            sockets(perRound / 10); // warm up
            link = attach(prog, cg);
            sockets(perRound / 10);
            Libc.close(link);
            link = -1;
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(out.resolve("sock_cost.csv")))) {
                w.println("round,sockets,first,without_ns,with_ns");
                for (int r = 0; r < rounds; r++) {
                    for (int half = 0; half < 2; half++) {
                        boolean attached = (half == 0) == (r % 2 == 1);
                        if (attached) {
                            link = attach(prog, cg);
                            with[r] = sockets(perRound);
                            Libc.close(link);
                            link = -1;
                        } else {
                            without[r] = sockets(perRound);
                        }
                    }
                    w.printf("%d,%d,%s,%d,%d%n", r, perRound, r % 2 == 1 ? "with" : "without", without[r], with[r]);
                    w.flush();
                }
            }
        } finally {
            if (link >= 0) {
                Libc.close(link);
            }
            if (cg >= 0) {
                Libc.close(cg);
            }
            Files.writeString(home.resolve("cgroup.procs"), pid);
            Files.delete(group);
        }
        long[] added = new long[rounds];
        for (int r = 0; r < rounds; r++) {
            added[r] = (with[r] - without[r]) / perRound;
        }
        Arrays.sort(added);
        Arrays.sort(without);
        System.out.println();
        System.out.println("| per socket | ns added by proc_sock_create (median) | interquartile range | socket() + close() without it (median) |");
        System.out.println("|---|---|---|---|");
        System.out.printf("| proc_sock_create | %.1f | %.1f - %.1f | %.1f |%n", quantile(added, 0.5), quantile(added, 0.25),
                quantile(added, 0.75), quantile(without, 0.5) / perRound);
    }

    private int attach(int prog, int cg) {
        int link = lib.linkCreate(prog, cg, BPF_CGROUP_INET_SOCK_CREATE);
        if (link < 0) {
            throw new IllegalStateException("cannot attach proc_sock_create: " + Libc.strerror(-link));
        }
        return link;
    }

    /** ns taken by n times socket(AF_INET, SOCK_DGRAM) + close(). */
    private static long sockets(int n) {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            int fd = Libc.socket(2, 2, 0);
            if (fd < 0) {
                throw new IllegalStateException("socket() failed: " + Libc.strerror(-fd));
            }
            Libc.close(fd);
        }
        return System.nanoTime() - t0;
    }

    /** This process's cgroup v2 path, relative to the mount ("" for the root). */
    private static String ownCgroupPath() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return line.substring(4);
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
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
     * Runs prog once on frame and checks that exactly one packet of len bytes landed in "workloads" under
     * {id, direction, private} and in "procs" under {id, tgid, direction}.
     */
    private void checkProc(int workloadsFd, int procsFd, int progFd, MemorySegment frame, long id, int tgid, int direction, int len) {
        long[] wBefore = sum(workloadsFd, id, direction | 1 << 8);
        long[] before = sumProc(procsFd, id, tgid, direction);
        testRun(progFd, frame, 1, CG_ALLOW);
        long[] wAfter = sum(workloadsFd, id, direction | 1 << 8);
        long[] after = sumProc(procsFd, id, tgid, direction);
        if (wAfter[0] - wBefore[0] != 1 || wAfter[1] - wBefore[1] != len
                || after[0] - before[0] != 1 || after[1] - before[1] != len) {
            throw new IllegalStateException("program fd " + progFd + " did not count 1 packet, " + len + " bytes under cgroup id "
                    + id + " direction " + direction + " in workloads and tgid " + tgid + " in procs: workloads " + Arrays.toString(wBefore)
                    + " -> " + Arrays.toString(wAfter) + ", procs " + Arrays.toString(before) + " -> " + Arrays.toString(after));
        }
    }

    /** As check, for proc_min_counts ({cgroup, tgid, direction as u32}) under TAGGED_TGID. */
    private void checkMin(int mapFd, int progFd, MemorySegment frame, long id, int direction, int len) {
        MemorySegment k = arena.allocate(16, 8);
        k.set(JAVA_LONG, 0, id);
        k.set(JAVA_INT, 8, TAGGED_TGID);
        k.set(JAVA_INT, 12, direction);
        long[] before = sumKey(mapFd, k);
        testRun(progFd, frame, 1, CG_ALLOW);
        long[] after = sumKey(mapFd, k);
        if (after[0] - before[0] != 1 || after[1] - before[1] != len) {
            throw new IllegalStateException("program fd " + progFd + " did not count 1 packet, " + len + " bytes under tgid "
                    + TAGGED_TGID + ": " + Arrays.toString(before) + " -> " + Arrays.toString(after));
        }
    }

    /** {packets, bytes} summed over CPUs for one key of "procs" (struct proc_key; epoch 0), zeros when absent. */
    private long[] sumProc(int mapFd, long id, int tgid, int direction) {
        MemorySegment k = arena.allocate(16, 8);
        k.set(JAVA_LONG, 0, id);
        k.set(JAVA_INT, 8, tgid);
        k.set(JAVA_BYTE, 12, (byte) direction);
        return sumKey(mapFd, k);
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
        return sumKey(mapFd, k);
    }

    private long[] sumKey(int mapFd, MemorySegment k) {
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
