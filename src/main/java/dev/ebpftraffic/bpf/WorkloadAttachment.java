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
 * dies, the kernel closes them as well, so nothing of ours can stay attached.
 */
public final class WorkloadAttachment implements AutoCloseable {
    /** enum bpf_attach_type. */
    static final int BPF_CGROUP_INET_INGRESS = 0;
    static final int BPF_CGROUP_INET_EGRESS = 1;

    private final Path root;
    private int ingressLink = -1;
    private int egressLink = -1;

    private WorkloadAttachment(Path root) {
        this.root = root;
    }

    /** Attaches both programs of the loaded object to the cgroup at root (the cgroup2 mount point). */
    public static WorkloadAttachment attach(BpfObject obj, Path root) {
        WorkloadAttachment a = new WorkloadAttachment(root);
        int dir = Libc.openDirectory(root.toString());
        if (dir < 0) {
            throw new LibbpfException("cannot open the cgroup v2 root " + root + ": " + Libc.strerror(-dir), -dir);
        }
        try {
            Libbpf lib = obj.lib();
            a.ingressLink = link(lib, obj.programFd(BpfObject.PROG_CGROUP_INGRESS), dir, BPF_CGROUP_INET_INGRESS, root);
            a.egressLink = link(lib, obj.programFd(BpfObject.PROG_CGROUP_EGRESS), dir, BPF_CGROUP_INET_EGRESS, root);
            return a;
        } catch (RuntimeException e) {
            a.close();
            throw e;
        } finally {
            Libc.close(dir); // the links hold the cgroup
        }
    }

    private static int link(Libbpf lib, int prog, int cgroupFd, int type, Path root) {
        int fd = lib.linkCreate(prog, cgroupFd, type);
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
        Libc.close(ingressLink);
        Libc.close(egressLink);
        ingressLink = -1;
        egressLink = -1;
    }
}
