package dev.ebpftraffic.workload;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.workload.Cgroup2Mount.Found;
import dev.ebpftraffic.workload.Cgroup2Mount.Missing;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cgroup2 mount found on this machine is really one, and what `ip netns exec` does to it. */
@KernelTest
class Cgroup2MountKernelTest {
    /** include/uapi/linux/magic.h */
    static final long CGROUP2_SUPER_MAGIC = 0x63677270L;

    private static final MethodHandle STATFS = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("statfs").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));

    /** statfs(2) f_type: the first member of struct statfs, a long on 64-bit Linux. */
    static long fsMagic(Path p) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(512, 8); // struct statfs is 120 bytes on x86-64 and arm64
            int rc = (int) STATFS.invokeExact(arena.allocateFrom(p.toString()), buf);
            assertEquals(0, rc, "statfs " + p);
            return buf.get(JAVA_LONG, 0);
        }
    }

    /** The mount this machine's mountinfo names is a cgroup2 file system, by its magic number. */
    @Test
    void foundMountIsCgroup2() throws Throwable {
        Found f = assertInstanceOf(Found.class, Cgroup2Mount.find());
        assertEquals(CGROUP2_SUPER_MAGIC, fsMagic(f.mountPoint()), "f_type of " + f.mountPoint());
        assertTrue(Files.isRegularFile(f.mountPoint().resolve("cgroup.controllers")));
        // The mountinfo text parsed the same way names the same mount.
        assertEquals(f, Cgroup2Mount.parse(Files.readString(Cgroup2Mount.MOUNTINFO, StandardCharsets.ISO_8859_1)));
        // And the directory above is not (a tmpfs on hybrid hosts, sysfs on unified ones).
        assertTrue(fsMagic(f.mountPoint().getParent()) != CGROUP2_SUPER_MAGIC);
    }

    /**
     * A process run by `ip netns exec` sees a fresh /sys and no cgroup2 mount; one joined to the
     * same network namespace with nsenter --net still sees it.
     */
    @Test
    void ipNetnsExecHidesItAndNsenterDoesNot() {
        Found here = assertInstanceOf(Found.class, Cgroup2Mount.find());
        try (NetNs ns = NetNs.pair()) {
            String viaIp = ns.exec(ns.a, "cat", "/proc/self/mountinfo").ok().stdout();
            Missing m = assertInstanceOf(Missing.class, Cgroup2Mount.parse(viaIp), viaIp);
            // It unmounts the old /sys (with everything below) and mounts a new one: no cgroup2 line at all.
            assertTrue(m.message().startsWith("no cgroup v2") && m.message().contains("nsenter"), m.message());
            String viaNsenter = Cmd.run(List.of("nsenter", "--net=/run/netns/" + ns.a, "cat", "/proc/self/mountinfo")).ok().stdout();
            assertEquals(here, Cgroup2Mount.parse(viaNsenter));
        }
    }
}
