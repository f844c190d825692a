package dev.ebpftraffic.workload;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The resolver's table, rate limit and eviction on a plain directory tree (any tree maps inodes to
 * paths the same way); {@link CgroupResolverKernelTest} runs it on real cgroups.
 */
class CgroupResolverTest {
    @TempDir
    Path tmp;

    final AtomicLong now = new AtomicLong(1_000_000_000L);

    CgroupResolver resolver(String root) {
        return new CgroupResolver(tmp, root, Duration.ofSeconds(1), now::get);
    }

    static long ino(Path p) throws IOException {
        return (Long) Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS);
    }

    @Test
    void everyDirectoryByInode() throws IOException {
        Path svc = Files.createDirectories(tmp.resolve("system.slice/nginx.service"));
        Path file = Files.writeString(tmp.resolve("system.slice/cgroup.procs"), "");
        Path spaced = Files.createDirectories(tmp.resolve("odd name/x"));
        CgroupResolver r = resolver("/");
        assertEquals(Optional.of("/"), r.path(ino(tmp)));
        assertEquals(Optional.of("/system.slice"), r.path(ino(tmp.resolve("system.slice"))));
        assertEquals(Optional.of("/system.slice/nginx.service"), r.path(ino(svc)));
        assertEquals(Optional.of("/odd name/x"), r.path(ino(spaced)));
        assertEquals(Optional.empty(), r.path(ino(file)), "files are not cgroups");
        assertEquals(5, r.size());
        assertEquals(1, r.walks());
    }

    @Test
    void pathsCarryTheMountsRoot() throws IOException {
        Path pod = Files.createDirectories(tmp.resolve("kubepods-pod1.slice"));
        CgroupResolver r = resolver("/kubepods.slice/");
        assertEquals(Optional.of("/kubepods.slice"), r.path(ino(tmp)));
        assertEquals(Optional.of("/kubepods.slice/kubepods-pod1.slice"), r.path(ino(pod)));
    }

    @Test
    void hitsDoNotWalkMissesWalkAtMostOncePerInterval() throws IOException {
        Path a = Files.createDirectories(tmp.resolve("a"));
        CgroupResolver r = resolver("/");
        assertEquals(Optional.of("/a"), r.path(ino(a)));
        assertEquals(1, r.walks());
        for (int i = 0; i < 1000; i++) {
            assertEquals(Optional.of("/a"), r.path(ino(a)));
        }
        assertEquals(1, r.walks(), "hits never walk");

        // A new cgroup: its first miss within the interval does not walk, so it is not found yet.
        Path b = Files.createDirectories(tmp.resolve("b"));
        now.addAndGet(999_999_999L);
        for (long unknown = 1L << 40; unknown < (1L << 40) + 1000; unknown++) {
            assertEquals(Optional.empty(), r.path(unknown));
        }
        assertEquals(Optional.empty(), r.path(ino(b)));
        assertEquals(1, r.walks(), "a flood of unknown ids within the interval walks no more");

        // One interval after the last walk, a miss walks once and finds it.
        now.addAndGet(1);
        assertEquals(Optional.of("/b"), r.path(ino(b)));
        assertEquals(2, r.walks());
        assertEquals(Optional.empty(), r.path(12345678901L));
        assertEquals(2, r.walks());
    }

    @Test
    void deletedDirectoriesAreEvictedByTheNextWalk() throws IOException {
        Path a = Files.createDirectories(tmp.resolve("a/b"));
        long idA = ino(tmp.resolve("a"));
        long idB = ino(a);
        CgroupResolver r = resolver("/");
        assertEquals(Optional.of("/a/b"), r.path(idB));
        Files.delete(a);
        assertEquals(Optional.of("/a/b"), r.path(idB), "kept until the next walk");
        r.refresh();
        assertEquals(Optional.empty(), r.path(idB));
        assertEquals(Optional.of("/a"), r.path(idA));
        assertEquals(2, r.walks(), "the miss right after refresh() is within the interval");
    }

    @Test
    void aMissingMountKeepsTheLastSnapshot() throws IOException {
        Path a = Files.createDirectories(tmp.resolve("m/a"));
        CgroupResolver r = new CgroupResolver(tmp.resolve("m"), "/", Duration.ofSeconds(1), now::get);
        long id = ino(a);
        assertEquals(Optional.of("/a"), r.path(id));
        Files.move(tmp.resolve("m"), tmp.resolve("gone"));
        r.refresh();
        assertEquals(Optional.of("/a"), r.path(id));
        assertEquals(2, r.walks());
    }
}
