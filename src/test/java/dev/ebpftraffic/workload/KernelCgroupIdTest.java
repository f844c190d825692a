package dev.ebpftraffic.workload;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.TestCgroups;
import dev.ebpftraffic.workload.Cgroup2Mount.Found;
import dev.ebpftraffic.workload.Workload.Kind;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The id BPF's bpf_skb_cgroup_id gives for a socket is the one the resolver maps to the group's
 * path. The test moves its own JVM into a group it creates (named like a Kubernetes pod's
 * container), runs the cgroup_skb counters of src/test/bpf/workload_cost.bpf.c with
 * BPF_PROG_TEST_RUN (the kernel gives the test skb a socket of the calling task's cgroup), moves
 * itself back, and reads the counts: exact packets and bytes under the group's id, nothing else.
 */
@KernelTest
class KernelCgroupIdTest {
    private static final SecureRandom RANDOM = new SecureRandom();

    @Test
    void bpfSkbCgroupIdResolvesToTheGroupsPathAndWorkload() throws Throwable {
        Found mount = (Found) Cgroup2Mount.find();
        Path src = ExporterProcess.projectRoot().resolve("src/test/bpf/workload_cost.bpf.c");
        Path objFile = ExporterProcess.projectRoot().resolve("target/test-bpf/workload_cost.bpf.o");
        Files.createDirectories(objFile.getParent());
        Cmd.run("clang", "-O2", "-g", "-Wall", "-Werror", "-target", "bpf",
                "-I/usr/include/" + System.getProperty("os.arch").replace("amd64", "x86_64") + "-linux-gnu",
                "-c", src.toString(), "-o", objFile.toString()).ok();

        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        byte[] bytes = Files.readAllBytes(objFile);
        byte[] v4 = udp4Frame();
        String podUid = UUID.randomUUID().toString();
        byte[] r = new byte[32];
        RANDOM.nextBytes(r);
        String ctrId = HexFormat.of().formatHex(r);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(bytes.length, 8);
            buf.copyFrom(MemorySegment.ofArray(bytes));
            MemorySegment obj = lib.objectOpenMem(buf);
            try {
                int err = lib.objectLoad(obj);
                assertEquals(0, err, () -> "load: " + Libc.strerror(-err));
                int in = lib.programFd(lib.findProgram(obj, "cg_count_in"));
                int out = lib.programFd(lib.findProgram(obj, "cg_count_out"));
                int counts = lib.mapFd(lib.findMap(obj, "wl_counts"));
                MemorySegment frame = arena.allocate(v4.length, 8);
                frame.copyFrom(MemorySegment.ofArray(v4));

                long id;
                String groupPath;
                try (TestCgroups cg = TestCgroups.under(mount.mountPoint())) {
                    Path group = cg.create("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                            + podUid.replace('-', '_') + ".slice/cri-containerd-" + ctrId + ".scope");
                    id = TestCgroups.inode(group);
                    groupPath = "/" + mount.mountPoint().relativize(group);
                    assertEquals(CgroupResolverKernelTest.kernelCgroupId(group), id);
                    long self = ProcessHandle.current().pid();
                    TestCgroups.move(self, group);
                    try {
                        assertEquals(5, testRun(lib, arena, in, frame, 5));
                        assertEquals(3, testRun(lib, arena, out, frame, 3));
                    } finally {
                        TestCgroups.move(self, mount.mountPoint().resolve(ORIGIN));
                    }
                    assertFalse(Files.readString(Path.of("/proc/self/cgroup")).contains(ctrId), "moved back");

                    // The id the program saw resolves to the group and names the pod's container.
                    CgroupResolver resolver = new CgroupResolver(mount, Duration.ofSeconds(1));
                    assertEquals(groupPath, resolver.path(id).orElseThrow());
                    Workload w = WorkloadNames.of(resolver.path(id).orElseThrow());
                    assertEquals(Kind.KUBERNETES, w.kind());
                    assertEquals(podUid, w.podUid());
                    assertEquals(ctrId, w.containerId());
                    assertEquals("besteffort", w.qos());
                }
                int ipBytes = v4.length - 14; // cgroup_skb sees the packet from its IP header
                assertEquals(Map.of(new Key(id, 0), List.of(5L, 5L * ipBytes), new Key(id, 1), List.of(3L, 3L * ipBytes)),
                        readCounts(lib, arena, counts));
            } finally {
                lib.objectClose(obj);
            }
        }
    }

    /** This JVM's group before the test moved it, relative to the mount. */
    private static final String ORIGIN = originGroup();

    private static String originGroup() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
                if (line.startsWith("0::/")) {
                    return line.substring(4);
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return "";
    }

    record Key(long id, int direction) {
    }

    /** Every key of wl_counts with {packets, bytes} summed over CPUs. */
    private static Map<Key, List<Long>> readCounts(Libbpf lib, Arena arena, int fd) {
        int cpus = lib.numPossibleCpus();
        Map<Key, List<Long>> m = new HashMap<>();
        MemorySegment k = arena.allocate(16, 8);
        MemorySegment next = arena.allocate(16, 8);
        MemorySegment v = arena.allocate(16L * cpus, 8);
        MemorySegment cur = MemorySegment.NULL;
        while (lib.mapGetNextKey(fd, cur, next) == 0) {
            assertEquals(0, lib.mapLookupElem(fd, next, v));
            long p = 0;
            long b = 0;
            for (int c = 0; c < cpus; c++) {
                p += v.get(JAVA_LONG, 16L * c);
                b += v.get(JAVA_LONG, 16L * c + 8);
            }
            m.put(new Key(next.get(JAVA_LONG, 0), next.get(JAVA_BYTE, 8)), List.of(p, b));
            k.copyFrom(next);
            cur = k;
        }
        return m;
    }

    /** BPF_PROG_TEST_RUN with repeat runs; returns repeat after checking the verdict "allow". */
    private static int testRun(Libbpf lib, Arena arena, int prog, MemorySegment frame, int repeat) {
        MemorySegment opts = arena.allocate(LibbpfTestCalls.TEST_RUN_OPTS);
        opts.set(JAVA_LONG, off("sz"), LibbpfTestCalls.TEST_RUN_OPTS.byteSize());
        opts.set(ADDRESS, off("data_in"), frame);
        opts.set(JAVA_INT, off("data_size_in"), (int) frame.byteSize());
        opts.set(JAVA_INT, off("repeat"), repeat);
        int err = LibbpfTestCalls.of(lib).progTestRun(prog, opts);
        assertEquals(0, err, () -> "test run: " + Libc.strerror(-err));
        assertEquals(1, opts.get(JAVA_INT, off("retval")), "cgroup_skb verdict");
        return repeat;
    }

    private static long off(String field) {
        return LibbpfTestCalls.TEST_RUN_OPTS.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    /** Ethernet + IPv4 (10.1.0.1 -> 10.2.0.1) + UDP with a 64-byte payload. */
    private static byte[] udp4Frame() {
        byte[] f = new byte[14 + 20 + 8 + 64];
        f[12] = 0x08;
        f[14] = 0x45;
        int total = 20 + 8 + 64;
        f[16] = (byte) (total >> 8);
        f[17] = (byte) total;
        f[22] = 64;
        f[23] = 17;
        System.arraycopy(new byte[] {10, 1, 0, 1}, 0, f, 26, 4);
        System.arraycopy(new byte[] {10, 2, 0, 1}, 0, f, 30, 4);
        f[34] = (byte) (40000 >> 8);
        f[35] = (byte) 40000;
        f[37] = 9;
        f[38] = 0;
        f[39] = 8 + 64;
        return f;
    }
}
