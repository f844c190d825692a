package dev.ebpftraffic.testing;

import dev.ebpftraffic.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * What is attached at the TC hooks of an interface inside a namespace.
 *
 * <p>TCX links: Debian 12's bpftool 7.1 cannot show them (`bpftool net` lists no tcx section and
 * `bpftool link` prints only "type 11 prog N", without the interface), so this asks the kernel
 * directly with BPF_PROG_QUERY (libbpf's bpf_prog_query) for BPF_TCX_INGRESS/EGRESS on the
 * interface's ifindex, from a thread inside the namespace. Legacy filters: `tc filter show`.
 */
public final class TcHooks {
    private static final int BPF_TCX_INGRESS = 46;
    private static final int BPF_TCX_EGRESS = 47;
    private static final MethodHandle PROG_QUERY;

    static {
        Linker linker = Linker.nativeLinker();
        SymbolLookup lib = SymbolLookup.libraryLookup("libbpf.so.1", Arena.global());
        // int bpf_prog_query(int target_fd, enum bpf_attach_type type, __u32 query_flags,
        //                    __u32 *attach_flags, __u32 *prog_ids, __u32 *prog_cnt)
        PROG_QUERY = linker.downcallHandle(lib.find("bpf_prog_query").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }

    private TcHooks() {
    }

    /** IDs of the programs attached through TCX at ingress (or egress) of iface in ns. */
    public static List<Integer> tcxPrograms(String ns, String iface, boolean ingress) {
        return Setns.call(ns, () -> {
            int ifindex = Libc.ifNameToIndex(iface);
            if (ifindex == 0) {
                throw new AssertionError("no interface " + iface + " in netns " + ns);
            }
            try (Arena arena = Arena.ofConfined()) {
                int max = 64;
                MemorySegment flags = arena.allocate(JAVA_INT);
                MemorySegment ids = arena.allocate(JAVA_INT, max);
                MemorySegment cnt = arena.allocate(JAVA_INT);
                cnt.set(JAVA_INT, 0, max);
                int r = (int) PROG_QUERY.invokeExact(ifindex, ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, 0,
                        flags, ids, cnt);
                if (r < 0) {
                    throw new AssertionError("BPF_PROG_QUERY on " + iface + " failed: " + Libc.strerror(-r));
                }
                List<Integer> out = new ArrayList<>();
                for (int i = 0; i < cnt.get(JAVA_INT, 0); i++) {
                    out.add(ids.getAtIndex(JAVA_INT, i));
                }
                return out;
            } catch (Throwable t) {
                if (t instanceof Error e) {
                    throw e;
                }
                throw new IllegalStateException(t);
            }
        });
    }

    /** Both TCX hooks: "ingress=[..] egress=[..]". */
    public static String tcx(String ns, String iface) {
        return "ingress=" + tcxPrograms(ns, iface, true) + " egress=" + tcxPrograms(ns, iface, false);
    }

    /** The filters (lines with a handle) at ingress or egress, from `tc filter show`. */
    public static List<String> filters(String ns, String iface, String point) {
        Cmd.Result r = Cmd.run("tc", "-n", ns, "filter", "show", "dev", iface, point);
        if (r.exitCode() != 0 && r.stderr().contains("Cannot find specified qdisc")) {
            return List.of();
        }
        r.ok();
        return r.stdout().lines().filter(l -> l.contains(" handle ")).map(String::strip).toList();
    }

    /** The qdisc lines of iface. */
    public static List<String> qdiscs(String ns, String iface) {
        return Cmd.run("tc", "-n", ns, "qdisc", "show", "dev", iface).ok().stdout().lines().map(String::strip).toList();
    }

    public static boolean hasClsact(String ns, String iface) {
        return qdiscs(ns, iface).stream().anyMatch(l -> l.startsWith("qdisc clsact"));
    }

    /** Fails unless nothing at all is attached to iface: no TCX program, no clsact qdisc, no filter. */
    public static void assertNothingAttached(String ns, String iface) {
        List<Integer> in = tcxPrograms(ns, iface, true);
        List<Integer> eg = tcxPrograms(ns, iface, false);
        if (!in.isEmpty() || !eg.isEmpty() || hasClsact(ns, iface)) {
            throw new AssertionError("something is still attached to " + iface + ": tcx ingress=" + in + " egress=" + eg
                    + ", qdiscs=" + qdiscs(ns, iface) + ", filters=" + filters(ns, iface, "ingress")
                    + filters(ns, iface, "egress"));
        }
    }
}
