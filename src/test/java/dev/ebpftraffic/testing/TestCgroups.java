package dev.ebpftraffic.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * cgroup v2 groups a test creates under a top group with a unique name (ete-test-&lt;random&gt;) below
 * the cgroup2 mount. close() moves every process still in them back to the test JVM's own group,
 * then removes them deepest first, even after failures (and from a shutdown hook if the JVM is stopped).
 */
public final class TestCgroups implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<TestCgroups> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(t -> {
            try {
                t.close();
            } catch (RuntimeException e) {
                System.err.println("cgroup cleanup at exit: " + e);
            }
        }), "cgroup-cleanup"));
    }

    public final Path mount;
    /** The top group, mount/ete-test-&lt;random&gt;. */
    public final Path top;
    /** The test JVM's own group, where processes moved into the test's groups go back to. */
    private final Path origin;
    private final List<Path> created = new ArrayList<>();
    private boolean closed;

    private TestCgroups(Path mount) {
        byte[] r = new byte[4];
        RANDOM.nextBytes(r);
        this.mount = mount;
        this.top = mount.resolve("ete-test-" + HexFormat.of().formatHex(r));
        this.origin = ownGroup(mount);
    }

    /** This process's cgroup v2 directory (the "0::" line of /proc/self/cgroup), or the mount's root. */
    private static Path ownGroup(Path mount) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
                if (line.startsWith("0::/")) {
                    Path p = mount.resolve(line.substring(4));
                    if (Files.isRegularFile(p.resolve("cgroup.procs"))) {
                        return p;
                    }
                }
            }
        } catch (IOException e) {
            // fall through
        }
        return mount;
    }

    /** Creates the top group under the cgroup2 mount. */
    public static TestCgroups under(Path mount) throws IOException {
        KernelTestCondition.check();
        TestCgroups t = new TestCgroups(mount);
        OPEN.add(t);
        try {
            t.mkdir(t.top);
        } catch (IOException | RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    /** Creates top/relative and the groups above it that are missing; returns its directory. */
    public synchronized Path create(String relative) throws IOException {
        Path p = top.resolve(relative).normalize();
        if (!p.startsWith(top) || p.equals(top)) {
            throw new IllegalArgumentException("not below the test's group: " + relative);
        }
        Path rel = top.relativize(p);
        Path dir = top;
        for (Path part : rel) {
            dir = dir.resolve(part.toString());
            if (!Files.isDirectory(dir)) {
                mkdir(dir);
            }
        }
        return p;
    }

    private void mkdir(Path dir) throws IOException {
        Files.createDirectory(dir);
        created.add(dir);
    }

    /** The group's id as the kernel reports it: on 64-bit, the inode number of its directory. */
    public static long inode(Path dir) throws IOException {
        return (Long) Files.getAttribute(dir, "unix:ino", LinkOption.NOFOLLOW_LINKS);
    }

    /** Moves a process into a group (writes cgroup.procs). */
    public static void move(long pid, Path group) throws IOException {
        Files.writeString(group.resolve("cgroup.procs"), Long.toString(pid));
    }

    /**
     * Runs make while this JVM is in group, then moves it back to the group it was in: a socket made by
     * make belongs to group for its life (a socket's cgroup is the one of its creator at creation).
     */
    public static synchronized <T> T callIn(Path group, java.util.concurrent.Callable<T> make) throws Exception {
        Path origin = null;
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                origin = mountOf(group).resolve(line.substring(4));
            }
        }
        if (origin == null) {
            throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
        }
        long self = ProcessHandle.current().pid();
        move(self, group);
        try {
            return make.call();
        } finally {
            move(self, origin);
        }
    }

    /** The cgroup2 mount point a group directory is under. */
    private static Path mountOf(Path group) {
        Path m = ((dev.ebpftraffic.workload.Cgroup2Mount.Found) dev.ebpftraffic.workload.Cgroup2Mount.find()).mountPoint();
        if (!group.startsWith(m)) {
            throw new IllegalArgumentException(group + " is not under the cgroup2 mount " + m);
        }
        return m;
    }

    /** Removes one group made by create (it must be empty); for tests of deletion. */
    public synchronized void remove(Path dir) throws IOException {
        evacuate(dir);
        Files.delete(dir);
        created.remove(dir);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        OPEN.remove(this);
        List<String> errors = new ArrayList<>();
        // Deepest first: a group with children cannot be removed.
        List<Path> order = new ArrayList<>(created);
        order.sort((x, y) -> Integer.compare(y.getNameCount(), x.getNameCount()));
        for (Path dir : order) {
            try {
                evacuate(dir);
                Files.delete(dir);
            } catch (NoSuchFileException e) {
                // already gone
            } catch (IOException e) {
                errors.add(dir + ": " + e);
            }
        }
        created.clear();
        if (!errors.isEmpty()) {
            throw new IllegalStateException("could not remove test cgroups: " + String.join("; ", errors));
        }
    }

    /** Moves every process in dir back to the test JVM's group. */
    private void evacuate(Path dir) throws IOException {
        Path procs = dir.resolve("cgroup.procs");
        if (!Files.exists(procs)) {
            return;
        }
        for (String pid : Files.readString(procs).split("\n")) {
            if (!pid.isBlank()) {
                try {
                    Files.writeString(origin.resolve("cgroup.procs"), pid.trim());
                } catch (IOException e) {
                    // the process exited meanwhile: nothing to move
                }
            }
        }
    }
}
