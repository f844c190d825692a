package dev.ebpftraffic.workload;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * cgroup v2 id to path. The id the kernel reports for a cgroup (bpf_get_current_cgroup_id,
 * bpf_skb_cgroup_id, bpf_sk_cgroup_id) is its kernfs node id, which on 64-bit kernels is the inode
 * number of the cgroup's directory. So a walk of the cgroup2 tree, reading each directory's inode
 * (d_ino, from the listing: {@link CgroupTree}), gives the whole table.
 *
 * <p>The table is a snapshot, replaced by each walk: cgroups deleted since are gone from it then
 * (kernfs ids are not reused on 64-bit, so a stale entry is never wrong, only kept until the next
 * walk). A lookup that misses walks again, at most once per {@code minWalkInterval}, so a flood
 * of unknown ids costs one walk per interval, not one per id. Thread-safe: lookups read the
 * current snapshot without locking.
 */
public final class CgroupResolver {
    private final Path mountPoint;
    private final String root;
    private final long minWalkNanos;
    private final LongSupplier nanoClock;

    private volatile Map<Long, String> paths = Map.of();
    private long lastWalk;
    private boolean walked;
    private long walks;

    /**
     * mountPoint: where the hierarchy is mounted; root: the cgroup it shows as its top (mountinfo's
     * root field, "/" on a host), prefixed to every path so paths are the kernel's own.
     */
    public CgroupResolver(Path mountPoint, String root, Duration minWalkInterval, LongSupplier nanoClock) {
        this.mountPoint = mountPoint;
        this.root = root.equals("/") ? "" : stripTrailingSlash(root);
        this.minWalkNanos = minWalkInterval.toNanos();
        this.nanoClock = nanoClock;
    }

    public CgroupResolver(Cgroup2Mount.Found mount, Duration minWalkInterval) {
        this(mount.mountPoint(), mount.root(), minWalkInterval, System::nanoTime);
    }

    /**
     * The cgroup's path ("/" for the root, "/system.slice/nginx.service"), or empty when no cgroup
     * has that id, as of the last walk. A miss walks the tree again unless the last walk was less
     * than minWalkInterval ago.
     */
    public Optional<String> path(long id) {
        String p = paths.get(id);
        if (p != null) {
            return Optional.of(p);
        }
        synchronized (this) {
            p = paths.get(id); // another thread may have just walked
            if (p == null && (!walked || nanoClock.getAsLong() - lastWalk >= minWalkNanos)) {
                walk();
                p = paths.get(id);
            }
        }
        return Optional.ofNullable(p);
    }

    /** Walks the tree now, whatever the rate limit: new cgroups appear, deleted ones go. */
    public synchronized void refresh() {
        walk();
    }

    /** How many walks so far (for a self-metric, and for tests of the rate limit). */
    public synchronized long walks() {
        return walks;
    }

    /** Entries in the current snapshot. */
    public int size() {
        return paths.size();
    }

    private void walk() {
        Map<Long, String> found = new HashMap<>();
        long rootIno;
        try {
            rootIno = (Long) Files.getAttribute(mountPoint, "unix:ino", LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | RuntimeException e) {
            // Keep the old snapshot rather than forget every name because the mount went away briefly.
            finishWalk();
            return;
        }
        found.put(rootIno, root.isEmpty() ? "/" : root);
        if (CgroupTree.walk(mountPoint.toString(), (rel, ino) -> found.put(ino, root + "/" + rel))) {
            paths = Map.copyOf(found);
        }
        finishWalk();
    }

    private void finishWalk() {
        lastWalk = nanoClock.getAsLong();
        walked = true;
        walks++;
    }

    private static String stripTrailingSlash(String s) {
        return s.length() > 1 && s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
    }
}
