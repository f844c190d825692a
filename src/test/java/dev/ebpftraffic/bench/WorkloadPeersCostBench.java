package dev.ebpftraffic.bench;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.testing.Frames;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What the live view's per-workload peers cost per packet (bench/peers_cost.sh; a main, not a test):
 * cgroup_wl_egress of the object before the peers map (--old), and of the current one (--new) with
 * the "wl_peers_on" flag off (nobody watches) and on (the peer's entry exists: the steady state of a
 * conversation), each next to the empty cgroup_skb program in the same round, alternating order, as
 * WorkloadCostBench measures. Prints the median ns added over the empty program and the interquartile range.
 */
public final class WorkloadPeersCostBench {
    private static final int CG_ALLOW = 1;

    private final Libbpf lib;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment opts = arena.allocate(LibbpfTestCalls.TEST_RUN_OPTS);

    private WorkloadPeersCostBench(Libbpf lib) {
        this.lib = lib;
    }

    record Case(String name, int progFd, Runnable before) {
    }

    public static void main(String[] args) throws Exception {
        Path old = Path.of(KernelCostBench.arg(args, "--old", "target/bench/old/cp/bpf/traffic.bpf.o"));
        Path cur = Path.of(KernelCostBench.arg(args, "--new", "target/bpf/traffic.bpf.o"));
        Path empty = Path.of(KernelCostBench.arg(args, "--empty", "target/bench/workload_cost.bpf.o"));
        int rounds = Integer.parseInt(KernelCostBench.arg(args, "--rounds", "30"));
        int repeat = Integer.parseInt(KernelCostBench.arg(args, "--repeat", "1000000"));
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        WorkloadPeersCostBench b = new WorkloadPeersCostBench(lib);
        // --prog cgroup_proc_egress (or an ingress program): the same comparison for another program.
        String prog = KernelCostBench.arg(args, "--prog", "cgroup_wl_egress");
        try (FileProgram e = FileProgram.open(lib, empty, "cg_empty");
             FileProgram o = FileProgram.open(lib, old, prog);
             FileProgram n = FileProgram.open(lib, cur, prog)) {
            int flag = lib.mapFd(lib.findMap(n.obj(), "wl_peers_on"));
            b.run(e.fd(), List.of(
                    new Case("before (no peers map)", o.fd(), () -> { }),
                    new Case("flag off (nobody watches)", n.fd(), () -> b.set(flag, 0)),
                    new Case("flag on, peer known", n.fd(), () -> b.set(flag, 1))), rounds, repeat);
        }
    }

    private void set(int fd, int v) {
        MemorySegment k = arena.allocate(JAVA_INT);
        MemorySegment val = arena.allocate(JAVA_INT);
        val.set(JAVA_INT, 0, v);
        int err = lib.mapUpdateElem(fd, k, val, 0);
        if (err < 0) {
            throw new LibbpfException("cannot set wl_peers_on: " + Libc.strerror(-err), -err);
        }
    }

    private void run(int emptyFd, List<Case> cases, int rounds, int repeat) {
        byte[] bytes = Frames.ethernet().ipv4("10.1.0.1", "10.2.0.1").udp(40000, 9).payload(64).build();
        MemorySegment frame = arena.allocate(bytes.length, 8);
        frame.copyFrom(MemorySegment.ofArray(bytes));
        for (Case c : cases) { // warm up; the flag-on case inserts its peer here
            c.before().run();
            testRun(c.progFd(), frame, 10_000);
            testRun(emptyFd, frame, 10_000);
        }
        List<long[]> added = new ArrayList<>();
        cases.forEach(c -> added.add(new long[rounds]));
        long[] empties = new long[rounds * cases.size()];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < cases.size(); k++) {
                int i = (k + r) % cases.size();
                Case c = cases.get(i);
                c.before().run();
                long e;
                long p;
                if (r % 2 == 0) {
                    e = testRun(emptyFd, frame, repeat);
                    p = testRun(c.progFd(), frame, repeat);
                } else {
                    p = testRun(c.progFd(), frame, repeat);
                    e = testRun(emptyFd, frame, repeat);
                }
                added.get(i)[r] = p - e;
                empties[r * cases.size() + k] = e;
            }
        }
        Arrays.sort(empties);
        System.out.printf("| case | ns added over the empty cgroup_skb program (median) | interquartile range |%n|---|---|---|%n");
        for (int i = 0; i < cases.size(); i++) {
            long[] a = added.get(i).clone();
            Arrays.sort(a);
            System.out.printf("| %s | %.1f | %.1f - %.1f |%n", cases.get(i).name(), q(a, 0.5), q(a, 0.25), q(a, 0.75));
        }
        System.out.printf("(empty program: median %.1f ns; %d rounds of %d runs)%n", q(empties, 0.5), rounds, repeat);
    }

    private static double q(long[] sorted, double q) {
        double pos = q * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = (int) Math.ceil(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    private long testRun(int progFd, MemorySegment frame, int repeat) {
        opts.fill((byte) 0);
        opts.set(JAVA_LONG, KernelCostBench.off("sz"), LibbpfTestCalls.TEST_RUN_OPTS.byteSize());
        opts.set(ADDRESS, KernelCostBench.off("data_in"), frame);
        opts.set(JAVA_INT, KernelCostBench.off("data_size_in"), (int) frame.byteSize());
        opts.set(JAVA_INT, KernelCostBench.off("repeat"), repeat);
        int err = LibbpfTestCalls.of(lib).progTestRun(progFd, opts);
        if (err < 0) {
            throw new LibbpfException("BPF_PROG_TEST_RUN failed: " + Libc.strerror(-err), -err);
        }
        if (opts.get(JAVA_INT, KernelCostBench.off("retval")) != CG_ALLOW) {
            throw new IllegalStateException("cgroup_skb program did not allow the packet");
        }
        return Integer.toUnsignedLong(opts.get(JAVA_INT, KernelCostBench.off("duration")));
    }
}
