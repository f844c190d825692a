package dev.ebpftraffic.workload;

import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.TestCgroups;
import dev.ebpftraffic.workload.Cgroup2Mount.Found;
import dev.ebpftraffic.workload.Workload.Kind;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The resolver on real cgroup v2 groups the test creates (named like a systemd service, a Docker
 * container and a Kubernetes pod's container) under a unique top group, removed in the end.
 */
@KernelTest
class CgroupResolverKernelTest {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int AT_FDCWD = -100;
    private static final int MAX_HANDLE_SZ = 128;
    /** include/linux/exportfs.h: a kernfs file handle is the node's 64-bit id. */
    private static final int FILEID_KERNFS = 0xfe;
    private static final MethodHandle NAME_TO_HANDLE_AT = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("name_to_handle_at").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT));

    /**
     * The cgroup's id as the kernel gives it out: the kernfs file handle (what systemd and bpftool
     * use), i.e. cgroup_id(), the value bpf_get_current_cgroup_id and bpf_skb_cgroup_id return.
     */
    static long kernelCgroupId(Path dir) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fh = arena.allocate(8 + MAX_HANDLE_SZ, 8);
            fh.set(JAVA_INT, 0, MAX_HANDLE_SZ);
            MemorySegment mountId = arena.allocate(JAVA_INT);
            int rc = (int) NAME_TO_HANDLE_AT.invokeExact(AT_FDCWD, arena.allocateFrom(dir.toString()), fh, mountId, 0);
            assertEquals(0, rc, "name_to_handle_at " + dir);
            assertEquals(8, fh.get(JAVA_INT, 0), "handle_bytes");
            assertEquals(FILEID_KERNFS, fh.get(JAVA_INT, 4), "handle_type");
            return fh.get(JAVA_LONG, 8);
        }
    }

    static String hex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    @Test
    void resolvesTestGroupsAndForgetsDeletedOnes() throws Throwable {
        Found mount = (Found) Cgroup2Mount.find();
        String dockerId = hex(32);
        String ctrId = hex(32);
        String podUid = UUID.randomUUID().toString();
        AtomicLong now = new AtomicLong();
        Process sleeper = null;
        Path topDir;
        try (TestCgroups cg = TestCgroups.under(mount.mountPoint())) {
            topDir = cg.top;
            String top = "/" + cg.top.getFileName();
            Path nginx = cg.create("system.slice/nginx.service");
            Path docker = cg.create("system.slice/docker-" + dockerId + ".scope");
            Path podCtr = cg.create("kubepods.slice/kubepods-pod" + podUid.replace('-', '_') + ".slice/cri-containerd-" + ctrId + ".scope");
            long nginxId = TestCgroups.inode(nginx);
            long dockerCgId = TestCgroups.inode(docker);
            long podCtrId = TestCgroups.inode(podCtr);
            // The inode is the id the kernel reports.
            assertEquals(kernelCgroupId(nginx), nginxId);
            assertEquals(kernelCgroupId(podCtr), podCtrId);
            assertEquals(kernelCgroupId(mount.mountPoint()), TestCgroups.inode(mount.mountPoint()));

            // A process in the service group: the kernel names that group for it.
            sleeper = new ProcessBuilder("sleep", "300").start();
            TestCgroups.move(sleeper.pid(), nginx);
            String procCgroup = Files.readString(Path.of("/proc/" + sleeper.pid() + "/cgroup"));
            assertTrue(procCgroup.contains("0::" + top + "/system.slice/nginx.service\n"), procCgroup);

            CgroupResolver r = new CgroupResolver(mount.mountPoint(), mount.root(), Duration.ofSeconds(1), now::get);
            assertEquals(Optional.of(top + "/system.slice/nginx.service"), r.path(nginxId));
            assertEquals(Optional.of("/"), r.path(TestCgroups.inode(mount.mountPoint())));
            assertEquals(Optional.of(top + "/system.slice/docker-" + dockerId + ".scope"), r.path(dockerCgId));
            assertEquals(1, r.walks());

            // Named end to end.
            Workload w = WorkloadNames.of(r.path(nginxId).orElseThrow());
            assertEquals(Kind.SYSTEMD, w.kind());
            assertEquals("nginx.service", w.name());
            w = WorkloadNames.of(r.path(dockerCgId).orElseThrow());
            assertEquals(Kind.CONTAINER, w.kind());
            assertEquals("docker", w.runtime());
            assertEquals(dockerId, w.containerId());
            assertEquals(dockerId.substring(0, 12), w.name());
            w = WorkloadNames.of(r.path(podCtrId).orElseThrow());
            assertEquals(Kind.KUBERNETES, w.kind());
            assertEquals(podUid, w.podUid());
            assertEquals(ctrId, w.containerId());
            assertEquals("guaranteed", w.qos());
            assertEquals("containerd", w.runtime());
            assertEquals(1, r.walks());

            // A group made after the walk: a miss within the interval does not walk; after it, one walk finds it.
            Path late = cg.create("system.slice/late.service");
            long lateId = TestCgroups.inode(late);
            now.addAndGet(Duration.ofMillis(999).toNanos());
            for (int i = 0; i < 100; i++) {
                assertEquals(Optional.empty(), r.path(lateId));
            }
            assertEquals(1, r.walks());
            now.addAndGet(Duration.ofMillis(1).toNanos());
            assertEquals(Optional.of(top + "/system.slice/late.service"), r.path(lateId));
            assertEquals(2, r.walks());

            // Deleted (its process moved out first): gone after the next walk; the others stay.
            cg.remove(nginx);
            assertFalse(Files.exists(nginx));
            assertEquals(Optional.of(top + "/system.slice/nginx.service"), r.path(nginxId), "kept until the next walk");
            r.refresh();
            assertEquals(Optional.empty(), r.path(nginxId));
            now.addAndGet(Duration.ofSeconds(5).toNanos());
            assertEquals(Optional.empty(), r.path(nginxId), "not there after another walk either");
            assertEquals(4, r.walks());
            assertEquals(Optional.of(top + "/system.slice/docker-" + dockerId + ".scope"), r.path(dockerCgId));
            String after = Files.readString(Path.of("/proc/" + sleeper.pid() + "/cgroup"));
            assertFalse(after.contains("nginx.service"), after);
        } finally {
            if (sleeper != null) {
                sleeper.destroyForcibly();
                sleeper.waitFor(10, TimeUnit.SECONDS);
            }
        }
        assertFalse(Files.exists(topDir), "test groups removed: " + topDir);
    }
}
