package dev.ebpftraffic.workload;

import dev.ebpftraffic.workload.Cgroup2Mount.Found;
import dev.ebpftraffic.workload.Cgroup2Mount.Missing;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parsing of mountinfo texts; {@link Cgroup2MountKernelTest} checks this machine's mount. */
class Cgroup2MountTest {

    /** A unified host (Debian 12, systemd): cgroup2 at /sys/fs/cgroup, optional fields present. */
    static final String UNIFIED = """
            22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
            23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
            28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
            26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
            27 22 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
            29 22 0:26 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:6 - bpf bpf rw,mode=700
            """;

    /** A hybrid host (this CI machine): v1 controllers, cgroup2 at /sys/fs/cgroup/unified. */
    static final String HYBRID = """
            22 1 0:20 / /sys rw,relatime - sysfs sysfs rw
            30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """;

    /** cgroup v1 only: no cgroup2 line. */
    static final String V1_ONLY = """
            22 1 0:20 / /sys rw,relatime - sysfs sysfs rw
            30 22 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
            31 30 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
            39 30 0:36 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
            """;

    @Test
    void unified() {
        assertEquals(new Found(Path.of("/sys/fs/cgroup"), "/"), Cgroup2Mount.parse(UNIFIED));
    }

    @Test
    void hybrid() {
        assertEquals(new Found(Path.of("/sys/fs/cgroup/unified"), "/"), Cgroup2Mount.parse(HYBRID));
    }

    @Test
    void noCgroup2IsOneLineMessage() {
        Missing m = assertInstanceOf(Missing.class, Cgroup2Mount.parse(V1_ONLY));
        assertFalse(m.message().contains("\n"), m.message());
        assertTrue(m.message().contains("no cgroup v2"), m.message());
        assertInstanceOf(Missing.class, Cgroup2Mount.parse(""));
    }

    @Test
    void octalEscapesInPathsAndSeveralOptionalFields() {
        String text = """
                28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
                60 28 0:40 /sub\\040dir /mnt/my\\040cgroup\\011tab\\134back\\012nl rw,relatime shared:30 master:2 propagate_from:4 unbindable - cgroup2 cgroup2 rw
                """;
        assertEquals(new Found(Path.of("/mnt/my cgroup\ttab\\back\nnl"), "/sub dir"), Cgroup2Mount.parse(text));
    }

    @Test
    void fsTypeIsTakenAfterTheSeparatorNotFromAnOptionalField() {
        // An optional field or the source may look like a type; only the field after " - " counts.
        String text = """
                28 1 254:1 / / rw shared:1 - ext4 cgroup2 rw
                61 28 0:41 / /srv/x rw cgroup2 - tmpfs cgroup2 rw
                """;
        assertInstanceOf(Missing.class, Cgroup2Mount.parse(text));
    }

    @Test
    void malformedLinesAreSkipped() {
        String text = "garbage\n1 2\nx y 0:1 / /a rw - cgroup2 cgroup2 rw\n40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
                + "41 30 0:37 / /no/type rw -\n";
        assertEquals(new Found(Path.of("/sys/fs/cgroup/unified"), "/"), Cgroup2Mount.parse(text));
    }

    @Test
    void prefersTheMountOfTheWholeHierarchy() {
        // A bind mount of a subtree first (root is that cgroup), the hierarchy's root second.
        String text = """
                28 1 254:1 / / rw - ext4 /dev/vda1 rw
                50 28 0:24 /system.slice /run/some-bind rw - cgroup2 cgroup2 rw
                26 28 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
                """;
        assertEquals(new Found(Path.of("/sys/fs/cgroup"), "/"), Cgroup2Mount.parse(text));
        // Only the subtree: taken, with its root, so paths can be told relative to it.
        String only = """
                28 1 254:1 / / rw - ext4 /dev/vda1 rw
                50 28 0:24 /kubepods.slice /host/cgroup rw - cgroup2 cgroup2 rw
                """;
        assertEquals(new Found(Path.of("/host/cgroup"), "/kubepods.slice"), Cgroup2Mount.parse(only));
    }

    @Test
    void hiddenBySysRemountAsIpNetnsExecDoes() {
        // `ip netns exec` mounts a new sysfs on /sys: the cgroup2 mount under the old one is hidden.
        String text = HYBRID + "900 22 0:99 / /sys rw,relatime - sysfs e2e-ns rw\n";
        Missing m = assertInstanceOf(Missing.class, Cgroup2Mount.parse(text));
        assertTrue(m.message().contains("hidden") && m.message().contains("nsenter"), m.message());
        assertFalse(m.message().contains("\n"), m.message());
        // A later mount below the cgroup2 mount point, or beside it, hides nothing.
        assertInstanceOf(Found.class, Cgroup2Mount.parse(HYBRID + "901 40 0:98 / /sys/fs/cgroup/unified/x rw - tmpfs t rw\n"
                + "902 22 0:97 / /sys/fs/bpf rw - bpf bpf rw\n"));
        // A cgroup2 mount made after the remount is visible again.
        assertEquals(new Found(Path.of("/sys/fs/cgroup"), "/"), Cgroup2Mount.parse(text
                + "903 900 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"));
    }

    @Test
    void unescape() {
        assertEquals("a b", Cgroup2Mount.unescape("a\\040b"));
        assertEquals("a\\", Cgroup2Mount.unescape("a\\134"));
        assertEquals("a\\04", Cgroup2Mount.unescape("a\\04"), "an incomplete escape stays as it is");
        assertEquals("a\\089", Cgroup2Mount.unescape("a\\089"), "not octal");
        // Raw UTF-8 bytes as read in ISO-8859-1 come back as the characters.
        assertEquals("/mnt/caf\u00e9", Cgroup2Mount.unescape(new String("/mnt/caf\u00e9".getBytes(java.nio.charset.StandardCharsets.UTF_8),
                java.nio.charset.StandardCharsets.ISO_8859_1)));
        assertNull(Cgroup2Mount.Entry.parse("1 2 0:3 / /x rw"), "no separator");
    }
}
