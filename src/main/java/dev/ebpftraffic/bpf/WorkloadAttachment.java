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
 */
public final class WorkloadAttachment implements AutoCloseable {
    /** enum bpf_attach_type. */
    static final int BPF_CGROUP_INET_INGRESS = 0;
    static final int BPF_CGROUP_INET_EGRESS = 1;

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

    private WorkloadAttachment(Path root, LinkPins pins) {
        this.root = root;
        this.pins = pins;
    }

    /** Attaches both programs of the loaded object to the cgroup at root (the cgroup2 mount point). */
    public static WorkloadAttachment attach(BpfObject obj, Path root) {
        return attach(obj, root, null);
    }

    /** As {@link #attach(BpfObject, Path)}, through pins when not null. */
    public static WorkloadAttachment attach(BpfObject obj, Path root, LinkPins pins) {
        WorkloadAttachment a = new WorkloadAttachment(root, pins);
        int dir = Libc.openDirectory(root.toString());
        if (dir < 0) {
            throw new LibbpfException("cannot open the cgroup v2 root " + root + ": " + Libc.strerror(-dir), -dir);
        }
        try {
            Libbpf lib = obj.lib();
            long id = pins == null ? 0 : cgroupId(root);
            a.ingressLink = a.link(lib, obj.programFd(BpfObject.PROG_CGROUP_INGRESS), dir, id, BPF_CGROUP_INET_INGRESS);
            a.egressLink = a.link(lib, obj.programFd(BpfObject.PROG_CGROUP_EGRESS), dir, id, BPF_CGROUP_INET_EGRESS);
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
        int fd = pins != null ? pins.attach(prog, cgroupFd, cgroupId, type) : lib.linkCreate(prog, cgroupFd, type);
        if (fd < 0) {
            String why = -fd == Errno.EPERM
                    ? "permission denied (CAP_BPF and CAP_NET_ADMIN are needed)"
                    : Libc.strerror(-fd);
            throw new LibbpfException("cannot attach the per-workload program to the cgroup v2 root " + root + ": " + why, -fd);
        }
        return fd;
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
        ingressLink = -1;
        egressLink = -1;
    }
}
