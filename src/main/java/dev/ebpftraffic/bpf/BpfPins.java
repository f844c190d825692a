package dev.ebpftraffic.bpf;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.libbpf.LibbpfPins;
import dev.ebpftraffic.sys.Libc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The exporter's objects pinned in bpffs under one directory (--bpf.pin-path), so that the kernel
 * keeps counting while the process is away (a restart, an upgrade, a crash):
 * <pre>
 *   DIR/flows4, DIR/flows6, DIR/stats,       the maps ({@link #MAPS})
 *   DIR/overflow, DIR/epoch, DIR/hot4, DIR/hot6,
 *   DIR/workloads, DIR/workload_overflow
 *   DIR/links/tcx_IFINDEX_ingress|egress      the TCX links (the kernel detaches a link when its
 *                                             last reference, the pin, goes)
 *   DIR/links/cgroup_ingress|egress           the cgroup_skb links on the cgroup v2 root
 * </pre>
 * A new process reuses a pinned map only when its layout (type, key and value size, max_entries,
 * flags) is the one it would create, and all of them are pinned; otherwise (a pin of an older build:
 * per-CPU flows hashes, no overflow array) it starts all maps fresh, and says so in one line.
 * It takes over a pinned TCX link by swapping the link's program (bpf_link_update: atomic, so no
 * packet is counted twice or missed). Legacy (clsact) filters are not kept: see README.
 */
public final class BpfPins {
    /**
     * The maps that persist across restarts, in the order they are checked: what the kernel counts
     * while no process runs, and the epoch its flows keys carry (the state file's consistency rests
     * on it); "overflow" holds cumulative counts too (the state file keeps what drains handed out of
     * them); "hot4"/"hot6" hold part of the flows entries' counts. A new map that must outlive the process is added here; everything else (ip_groups:
     * filled from --config.file; flows_full: a hint that starts cleared) is created fresh by each
     * process, and the old program keeps its own until the link switches to the new one.
     */
    public static final List<String> MAPS = List.of(BpfObject.MAP_FLOWS4, BpfObject.MAP_FLOWS6, BpfObject.MAP_STATS,
            BpfObject.MAP_OVERFLOW, BpfObject.MAP_EPOCH, BpfObject.MAP_HOT4, BpfObject.MAP_HOT6, BpfObject.MAP_WORKLOADS,
            BpfObject.MAP_WORKLOAD_OVERFLOW);
    static final String LINKS = "links";

    private final LibbpfPins pins;
    private final Path dir;
    private final Consumer<String> info;
    private final Map<String, Boolean> reused = new LinkedHashMap<>();
    private volatile boolean keepLinks;

    private BpfPins(LibbpfPins pins, Path dir, Consumer<String> info) {
        this.pins = pins;
        this.dir = dir;
        this.info = info;
    }

    /** Creates DIR and DIR/links when missing; DIR must be on a bpffs mount. */
    public static BpfPins open(Libbpf lib, Path dir, Consumer<String> info) {
        try {
            Files.createDirectories(dir.resolve(LINKS));
        } catch (java.nio.file.AccessDeniedException e) {
            throw new IllegalStateException("permission denied creating the pin directory " + dir
                    + ": create it for the exporter's user, which must also be able to pass through its parents (README \"Restarts and upgrades\")");
        } catch (IOException e) {
            throw new IllegalStateException("cannot create the pin directory " + dir + " (" + e.getMessage()
                    + "): --bpf.pin-path must be on a bpffs mount such as /sys/fs/bpf");
        }
        return new BpfPins(new LibbpfPins(lib), dir, info);
    }

    public Path dir() {
        return dir;
    }

    /**
     * Before load: points the object's maps at the pinned ones when all of them have the layout the
     * object would create. Returns true when the kernel's maps (and their counts) continue.
     */
    public boolean reuseMaps(BpfObject obj) {
        Map<String, Integer> fds = new LinkedHashMap<>();
        String mismatch = null;
        try {
            for (String name : MAPS) {
                Path p = dir.resolve(name);
                if (!Files.exists(p)) {
                    if (mismatch == null) { // only reported when another one is pinned (below)
                        mismatch = name + " is not pinned";
                    }
                    continue;
                }
                int fd = pins.get(p.toString());
                if (fd < 0) {
                    throw new LibbpfException("cannot open the pinned map " + p + ": " + Libc.strerror(-fd), -fd);
                }
                fds.put(name, fd);
                LibbpfPins.MapInfo want = pins.definition(obj.mapHandle(name), obj.maxEntries(name));
                LibbpfPins.MapInfo have = pins.mapInfo(fd);
                if (!have.sameLayout(want) && mismatch == null) {
                    mismatch = name + " has " + have + ", this version needs " + want;
                }
            }
            if (fds.isEmpty()) {
                info.accept("no pinned maps in " + dir + ": starting with new maps, pinned there");
                return false;
            }
            if (mismatch != null) {
                // Counts still in the old maps (since the last state write) are dropped with them.
                info.accept("pinned maps in " + dir + " do not fit (" + mismatch + "): starting fresh with new maps; kernel counts since the last state write are dropped");
                for (String name : fds.keySet()) {
                    delete(dir.resolve(name));
                }
                return false;
            }
            for (Map.Entry<String, Integer> e : fds.entrySet()) {
                int err = pins.reuseFd(obj.mapHandle(e.getKey()), e.getValue());
                if (err < 0) {
                    throw new LibbpfException("cannot reuse the pinned map " + dir.resolve(e.getKey()) + ": " + Libc.strerror(-err), -err);
                }
                reused.put(e.getKey(), true);
            }
            info.accept("reusing the pinned maps in " + dir + ": the kernel's counts continue");
            return true;
        } finally {
            for (int fd : fds.values()) {
                Libc.close(fd); // libbpf keeps its own dup
            }
        }
    }

    /** After load: pins the maps that are new. */
    public void pinMaps(BpfObject obj) {
        for (String name : MAPS) {
            if (reused.getOrDefault(name, false)) {
                continue;
            }
            Path p = dir.resolve(name);
            int err = pins.pin(obj.mapFd(name), p.toString());
            if (err < 0) {
                throw new LibbpfException("cannot pin map " + name + " at " + p + ": " + Libc.strerror(-err), -err);
            }
        }
    }

    /** The kernel's ids of the maps, in {@link #MAPS} order: they tell a state file which maps it describes. */
    public static List<Integer> mapIds(LibbpfPins pins, BpfObject obj) {
        List<Integer> ids = new ArrayList<>();
        for (String name : MAPS) {
            ids.add(pins.mapInfo(obj.mapFd(name)).id());
        }
        return ids;
    }

    public LibbpfPins lib() {
        return pins;
    }

    /** From now on, closing an attachment leaves its pinned TCX links attached (graceful exit). */
    public void keepLinks() {
        keepLinks = true;
    }

    private Path linkPath(int ifindex, int attachType) {
        return dir.resolve(LINKS).resolve("tcx_" + ifindex + (attachType == Libbpf.BPF_TCX_INGRESS ? "_ingress" : "_egress"));
    }

    /** What TcAttachment uses for TCX links while pinning is on. */
    public TcAttachment.LinkPins linkPins(Libbpf lib) {
        return new TcAttachment.LinkPins() {
            @Override
            public int attach(int progFd, int ifindex, int attachType) {
                Path p = linkPath(ifindex, attachType);
                if (Files.exists(p)) {
                    int fd = pins.get(p.toString());
                    if (fd >= 0) {
                        LibbpfPins.LinkInfo li;
                        try {
                            li = pins.linkInfo(fd);
                        } catch (LibbpfException e) {
                            li = null;
                        }
                        // A link of a deleted interface is defunct (ifindex 0): replace it.
                        if (li != null && li.type() == LibbpfPins.BPF_LINK_TYPE_TCX && li.ifindex() == ifindex
                                && li.attachType() == attachType && pins.linkUpdate(fd, progFd) == 0) {
                            return fd; // the previous process's link, now running our program
                        }
                        Libc.close(fd);
                    }
                    delete(p);
                }
                int fd = lib.linkCreate(progFd, ifindex, attachType);
                if (fd < 0) {
                    return fd;
                }
                int err = pins.pin(fd, p.toString());
                if (err < 0) {
                    Libc.close(fd);
                    return -err;
                }
                return fd;
            }

            @Override
            public boolean release(int ifindex, int attachType, boolean gone) {
                if (gone || !keepLinks) {
                    delete(linkPath(ifindex, attachType)); // the caller's close() then detaches it
                    return true;
                }
                return false;
            }
        };
    }

    private Path cgroupLinkPath(int attachType) {
        return dir.resolve(LINKS).resolve(attachType == WorkloadAttachment.BPF_CGROUP_INET_INGRESS ? "cgroup_ingress" : "cgroup_egress");
    }

    /** What WorkloadAttachment uses for its two cgroup links while pinning is on. */
    public WorkloadAttachment.LinkPins cgroupLinkPins(Libbpf lib) {
        return new WorkloadAttachment.LinkPins() {
            @Override
            public int attach(int progFd, int cgroupFd, long cgroupId, int attachType) {
                Path p = cgroupLinkPath(attachType);
                if (Files.exists(p)) {
                    int fd = pins.get(p.toString());
                    if (fd >= 0) {
                        LibbpfPins.CgroupLinkInfo li;
                        try {
                            li = pins.cgroupLinkInfo(fd);
                        } catch (LibbpfException e) {
                            li = null;
                        }
                        // Another cgroup root (a different --workloads mount) or a defunct link: replace it.
                        if (li != null && li.type() == LibbpfPins.BPF_LINK_TYPE_CGROUP && li.cgroupId() == cgroupId
                                && li.attachType() == attachType && pins.linkUpdate(fd, progFd) == 0) {
                            return fd; // the previous process's link, now running our program
                        }
                        Libc.close(fd);
                    }
                    delete(p);
                }
                int fd = lib.linkCreate(progFd, cgroupFd, attachType);
                if (fd < 0) {
                    return fd;
                }
                int err = pins.pin(fd, p.toString());
                if (err < 0) {
                    Libc.close(fd);
                    return err;
                }
                return fd;
            }

            @Override
            public void release(int attachType) {
                if (!keepLinks) {
                    delete(cgroupLinkPath(attachType)); // the caller's close() then detaches it
                }
            }
        };
    }

    /**
     * Per-workload attribution is off in this process: unpins the cgroup links a previous one left
     * (the kernel detaches them), so nothing counts into maps no one reads. Returns what was removed.
     */
    public List<String> dropCgroupLinks() {
        List<String> removed = new ArrayList<>();
        for (int t : new int[] {WorkloadAttachment.BPF_CGROUP_INET_INGRESS, WorkloadAttachment.BPF_CGROUP_INET_EGRESS}) {
            Path p = cgroupLinkPath(t);
            if (Files.exists(p)) {
                delete(p);
                removed.add(p.toString());
            }
        }
        return removed;
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + p + ": " + e.getMessage(), e);
        }
    }

    /**
     * Clean removal: unpins every link (the kernel detaches it) and map under dir, then dir itself.
     * Returns what was removed. Only names this class creates are touched; anything else in dir
     * makes it stay, and is reported.
     */
    public static List<String> uninstall(Path dir) {
        List<String> removed = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return removed;
        }
        Path links = dir.resolve(LINKS);
        if (Files.isDirectory(links)) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(links, "{tcx_*,cgroup_ingress,cgroup_egress}")) {
                for (Path p : ds) {
                    delete(p);
                    removed.add(p.toString());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            deleteDir(links, removed);
        }
        for (String m : MAPS) {
            Path p = dir.resolve(m);
            if (Files.exists(p)) {
                delete(p);
                removed.add(p.toString());
            }
        }
        deleteDir(dir, removed);
        return removed;
    }

    private static void deleteDir(Path d, List<String> removed) {
        try {
            Files.delete(d);
            removed.add(d.toString());
        } catch (java.nio.file.DirectoryNotEmptyException e) {
            throw new IllegalStateException(d + " holds files the exporter did not create; left in place");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + d + ": " + e.getMessage(), e);
        }
    }
}
