package dev.ebpftraffic.bpf;

import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.nio.file.Path;

/**
 * The cgroup_skb programs attached to the cgroup v2 root, ingress and egress, by BPF links
 * (bpf_link_create with BPF_CGROUP_INET_INGRESS/EGRESS). A cgroup link attaches like BPF_F_ALLOW_MULTI:
 * it runs beside any other program there (systemd's IP accounting and firewalls, Cilium, ...) and
 * replaces none of them. close() closes the two links, which detaches exactly them; if the process
 * dies, the kernel closes them as well, so nothing of ours can stay attached. With --bpf.pin-path the
 * links are pinned ({@link LinkPins}): then they stay attached across a restart, and the next process
 * takes them over by swapping their program (bpf_link_update, atomic), as with the TCX links.
 *
 * <p>With processes, the pair attached is cgroup_proc_* (the same counts plus one per process), after
 * proc_sock_create (cgroup/sock_create, tags every new inet socket) and one run of the proc_scan
 * iterator over the sockets that existed before: that order leaves no socket made in between untagged.
 * The sock_create link is never pinned: sockets made while no exporter runs are found by the next
 * start's scan.
 */
public final class WorkloadAttachment implements AutoCloseable {
    /** enum bpf_attach_type. */
    static final int BPF_CGROUP_INET_INGRESS = 0;
    static final int BPF_CGROUP_INET_EGRESS = 1;
    static final int BPF_CGROUP_INET_SOCK_CREATE = 2;
    static final int BPF_TRACE_ITER = 28;

    /** Cgroup links through bpffs pins (see BpfPins.cgroupLinkPins). */
    public interface LinkPins {
        /** A link fd (the pinned one of a previous process, now running progFd, or a new one, pinned), or -errno. */
        int attach(int progFd, int cgroupFd, long cgroupId, int attachType);

        /** Before the link fd is closed: unpins it unless the exporter is exiting to be restarted. */
        void release(int attachType);
    }

    private final Path root;
    private final LinkPins pins; // null: plain links
    private int ingressLink = -1;
    private int egressLink = -1;
    private int sockCreateLink = -1;
    private boolean processes;
    private String scanError;
    private long scanMissed;

    private WorkloadAttachment(Path root, LinkPins pins) {
        this.root = root;
        this.pins = pins;
    }

    /** Attaches both programs of the loaded object to the cgroup at root (the cgroup2 mount point). */
    public static WorkloadAttachment attach(BpfObject obj, Path root) {
        return attach(obj, root, null, false);
    }

    /** As {@link #attach(BpfObject, Path)}, with or without the per-process programs. */
    public static WorkloadAttachment attach(BpfObject obj, Path root, boolean processes) {
        return attach(obj, root, null, processes);
    }

    /** As {@link #attach(BpfObject, Path)}, through pins when not null. */
    public static WorkloadAttachment attach(BpfObject obj, Path root, LinkPins pins) {
        return attach(obj, root, pins, false);
    }

    /**
     * As {@link #attach(BpfObject, Path)}, through pins when not null. processes: attach the
     * per-process programs (see above). A failed scan is not fatal: sockets made from now on are still
     * attributed; {@link #scanError()} says why the older ones are not.
     */
    public static WorkloadAttachment attach(BpfObject obj, Path root, LinkPins pins, boolean processes) {
        WorkloadAttachment a = new WorkloadAttachment(root, pins);
        a.processes = processes;
        int dir = Libc.openDirectory(root.toString());
        if (dir < 0) {
            throw new LibbpfException("cannot open the cgroup v2 root " + root + ": " + Libc.strerror(-dir), -dir);
        }
        try {
            Libbpf lib = obj.lib();
            long id = pins == null ? 0 : cgroupId(root);
            if (processes) {
                a.sockCreateLink = plainLink(lib, obj.programFd(BpfObject.PROG_PROC_SOCK_CREATE), dir,
                        BPF_CGROUP_INET_SOCK_CREATE, root);
                long[] missed = {0};
                a.scanError = scan(lib, obj.programFd(BpfObject.PROG_PROC_SCAN), missed);
                a.scanMissed = missed[0];
            }
            a.ingressLink = a.link(lib, obj.programFd(processes ? BpfObject.PROG_PROC_INGRESS : BpfObject.PROG_CGROUP_INGRESS),
                    dir, id, BPF_CGROUP_INET_INGRESS);
            a.egressLink = a.link(lib, obj.programFd(processes ? BpfObject.PROG_PROC_EGRESS : BpfObject.PROG_CGROUP_EGRESS),
                    dir, id, BPF_CGROUP_INET_EGRESS);
            return a;
        } catch (RuntimeException e) {
            a.close();
            throw e;
        } finally {
            Libc.close(dir); // the links hold the cgroup
        }
    }

    /** A cgroup's id is its directory's inode number. */
    private static long cgroupId(Path dir) {
        try {
            return (Long) java.nio.file.Files.getAttribute(dir, "unix:ino");
        } catch (java.io.IOException e) {
            throw new LibbpfException("cannot read the cgroup v2 root " + dir + ": " + e.getMessage(), 0);
        }
    }

    private int link(Libbpf lib, int prog, int cgroupFd, long cgroupId, int type) {
        return pins != null ? checked(pins.attach(prog, cgroupFd, cgroupId, type), root) : plainLink(lib, prog, cgroupFd, type, root);
    }

    private static int plainLink(Libbpf lib, int prog, int cgroupFd, int type, Path root) {
        return checked(lib.linkCreate(prog, cgroupFd, type), root);
    }

    private static int checked(int fd, Path root) {
        if (fd < 0) {
            String why = -fd == Errno.EPERM
                    ? "permission denied (CAP_BPF and CAP_NET_ADMIN are needed)"
                    : Libc.strerror(-fd);
            throw new LibbpfException("cannot attach the per-workload program to the cgroup v2 root " + root + ": " + why, -fd);
        }
        return fd;
    }

    /**
     * Runs the proc_scan iterator once over every open file; null, or why it could not. missed[0]: the
     * sockets it found but could not store in "proc_scanned" (one byte of output each).
     */
    static String scan(Libbpf lib, int prog, long[] missed) {
        int link = lib.linkCreate(prog, 0, BPF_TRACE_ITER);
        if (link < 0) {
            return "cannot attach the socket scan (iter/task_file): " + Libc.strerror(-link);
        }
        int iter = lib.iterCreate(link);
        try {
            if (iter < 0) {
                return "cannot start the socket scan: " + Libc.strerror(-iter);
            }
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                java.lang.foreign.MemorySegment buf = arena.allocate(4096);
                long n;
                while ((n = Libc.read(iter, buf, buf.byteSize())) > 0) {
                    missed[0] += n; // reading runs the program to the end
                }
                return n < 0 ? "the socket scan failed: " + Libc.strerror((int) -n) : null;
            }
        } finally {
            Libc.close(iter);
            Libc.close(link);
        }
    }

    /**
     * Why this kernel cannot run the per-process programs, or null: proc_scan needs the kernel's BTF
     * (its field offsets are relocated against it) and bpf_sock_from_file (Linux 5.11). Checked before
     * the load, because one program the kernel refuses fails the whole object.
     */
    public static String processSupport(String osVersion, boolean vmlinuxBtf) {
        if (!vmlinuxBtf) {
            return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(osVersion);
        if (!m.find()) {
            return "cannot tell the kernel version from \"" + osVersion + "\"";
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        if (major < 5 || major == 5 && minor < 11) {
            return "Linux " + major + "." + minor + " is older than 5.11";
        }
        return null;
    }

    /** Whether the per-process programs are attached. */
    public boolean processes() {
        return processes;
    }

    /** Why the sockets that existed at start could not be scanned, or null. */
    public String scanError() {
        return scanError;
    }

    /** Sockets the start-up scan found but could not store ("proc_scanned" full): their traffic counts under pid 0. */
    public long scanMissed() {
        return scanMissed;
    }

    /** Bounds of max_entries of "proc_scanned" ({@link #scanEntries}). */
    public static final int SCAN_ENTRIES_MIN = 4096;
    public static final int SCAN_ENTRIES_MAX = 262_144;

    /**
     * max_entries of "proc_scanned" for a host with that many inet sockets (-1: not known): twice as
     * many, for the sockets made before the scan runs, within [SCAN_ENTRIES_MIN, SCAN_ENTRIES_MAX]. The
     * map is not preallocated, but its buckets are (16 bytes per max_entries rounded up to a power of two).
     */
    public static int scanEntries(long sockets) {
        if (sockets < 0) {
            return SCAN_ENTRIES_MAX;
        }
        return (int) Math.max(SCAN_ENTRIES_MIN, Math.min(SCAN_ENTRIES_MAX, 2 * sockets));
    }

    /** The kernel's slab caches of inet sockets, each one struct sock per socket. */
    private static final java.util.Set<String> SOCKET_SLABS = java.util.Set.of("TCP", "TCPv6", "UDP", "UDPv6", "UDP-Lite",
            "UDPLITEv6", "RAW", "RAWv6", "PING", "PINGv6", "MPTCP", "MPTCPv6", "SCTP", "SCTPv6", "DCCP", "DCCPv6");

    /**
     * The inet sockets of the whole host (every network namespace): active objects of their slab caches
     * in /proc/slabinfo (root only); -1 when it cannot be read. An upper bound of what the scan finds
     * (it also counts sockets no process holds).
     */
    public static long inetSockets(Path slabinfo) {
        try {
            long n = 0;
            for (String line : java.nio.file.Files.readAllLines(slabinfo)) {
                // Only the few socket caches' lines are split: a regex split of all ~250 lines, still
                // interpreted at start-up, cost tens of ms before the first scrape.
                int sp = line.indexOf(' ');
                if (sp <= 0 || !SOCKET_SLABS.contains(line.substring(0, sp))) {
                    continue;
                }
                String[] f = line.trim().split("\\s+");
                if (f.length > 1) {
                    n += Long.parseLong(f[1]);
                }
            }
            return n;
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
    }

    public Path root() {
        return root;
    }

    @Override
    public void close() {
        if (pins != null) {
            if (ingressLink >= 0) {
                pins.release(BPF_CGROUP_INET_INGRESS);
            }
            if (egressLink >= 0) {
                pins.release(BPF_CGROUP_INET_EGRESS);
            }
        }
        Libc.close(ingressLink);
        Libc.close(egressLink);
        Libc.close(sockCreateLink);
        ingressLink = -1;
        egressLink = -1;
        sockCreateLink = -1;
    }
}
