package dev.ebpftraffic.bpf;

import dev.ebpftraffic.libbpf.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.libbpf.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The ingress and egress programs attached to one interface. Like libbpf-bootstrap's tc.c,
 * it remembers exactly what it created and close() undoes only that: a TCX link is closed
 * (the kernel detaches it; it also goes away by itself if the process dies), a legacy filter
 * is removed by its handle and priority, and the clsact qdisc is removed only if we created it.
 */
public final class TcAttachment implements AutoCloseable {
    /**
     * Handle and priority of our legacy filters. Fixed, so that a start after a SIGKILL
     * replaces the filter the dead process left instead of adding a second one.
     */
    static final int LEGACY_HANDLE = 0xEB9F;
    static final int LEGACY_PRIORITY = 0xEB9F;

    /** What is attached, for the attached self-metric. */
    public record Hook(String iface, String hook, String mode) {
    }

    /**
     * TCX links through bpffs pins (--bpf.pin-path): attach reuses a pinned link of the same hook
     * (swapping its program) or pins a new one; release unpins it unless the exporter is exiting
     * to be restarted, so the link (and the counting) outlives the process.
     */
    public interface LinkPins {
        /** A link fd, or -errno. */
        int attach(int progFd, int ifindex, int attachType);

        /** Before the link fd is closed; gone: the interface is gone, unpin anyway. True when unpinned. */
        boolean release(int ifindex, int attachType, boolean gone);
    }

    private static volatile LinkPins linkPins;

    /** Pins TCX links from now on (null: plain links, detached when the process exits). */
    public static void pinLinks(LinkPins pins) {
        linkPins = pins;
    }

    private final Libbpf lib;
    private final String iface;
    private final int ifindex;
    private final List<Integer> linkFds = new ArrayList<>();
    private final List<Integer> linkTypes = new ArrayList<>(); // attach type of each linkFds entry
    private LinkPins pinned; // how this attachment's links were made
    private boolean leftAttached;
    private final List<Integer> legacyPoints = new ArrayList<>();
    private final List<Hook> hooks = new ArrayList<>();
    private boolean createdQdisc;
    private boolean closed;

    private TcAttachment(Libbpf lib, String iface, int ifindex) {
        this.lib = lib;
        this.iface = iface;
        this.ifindex = ifindex;
    }

    /**
     * Attaches ingressFd and egressFd to ifindex. On failure nothing stays attached.
     *
     * @param log receives one line about a fallback to the legacy hook
     */
    public static TcAttachment attach(Libbpf lib, String iface, int ifindex, int ingressFd, int egressFd,
                                      AttachMode mode, Consumer<String> log) {
        TcAttachment a = new TcAttachment(lib, iface, ifindex);
        try {
            if (mode == AttachMode.LEGACY) {
                a.attachLegacy(ingressFd, egressFd);
                return a;
            }
            int err = a.attachTcx(ingressFd, egressFd);
            if (err == 0) {
                return a;
            }
            if (mode == AttachMode.TCX || !tcxUnsupported(err)) {
                throw new LibbpfException(message(iface, "TCX link", err), err);
            }
            log.accept("this kernel has no TCX links (" + Libc.strerror(err) + "); using the legacy clsact hook on " + iface);
            a.attachLegacy(ingressFd, egressFd);
            return a;
        } catch (RuntimeException e) {
            a.close();
            throw e;
        }
    }

    private static boolean tcxUnsupported(int errno) {
        return errno == Errno.EINVAL || errno == Errno.EOPNOTSUPP || errno == Errno.ENOTSUPP;
    }

    /** Returns 0, or the errno of the first failure (with nothing left attached). */
    private int attachTcx(int ingressFd, int egressFd) {
        int[][] plan = {{ingressFd, Libbpf.BPF_TCX_INGRESS}, {egressFd, Libbpf.BPF_TCX_EGRESS}};
        pinned = linkPins;
        for (int[] p : plan) {
            int fd = pinned != null ? pinned.attach(p[0], ifindex, p[1]) : lib.linkCreate(p[0], ifindex, p[1]);
            if (fd < 0) {
                closeLinks(false);
                return -fd;
            }
            linkFds.add(fd);
            linkTypes.add(p[1]);
            hooks.add(new Hook(iface, p[1] == Libbpf.BPF_TCX_INGRESS ? "ingress" : "egress", "tcx"));
        }
        return 0;
    }

    private void attachLegacy(int ingressFd, int egressFd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment hook = hook(arena, Libbpf.BPF_TC_INGRESS);
            int err = lib.tcHookCreate(hook);
            if (err == 0) {
                createdQdisc = true;
            } else if (err != -Errno.EEXIST) { // EEXIST: a clsact qdisc is there already, not ours
                throw new LibbpfException(message(iface, "clsact qdisc", -err), -err);
            }
            int[][] plan = {{ingressFd, Libbpf.BPF_TC_INGRESS}, {egressFd, Libbpf.BPF_TC_EGRESS}};
            for (int[] p : plan) {
                MemorySegment h = hook(arena, p[1]);
                MemorySegment opts = opts(arena, p[0], Libbpf.BPF_TC_F_REPLACE);
                err = lib.tcAttach(h, opts);
                if (err < 0) {
                    throw new LibbpfException(message(iface, "tc filter", -err), -err);
                }
                legacyPoints.add(p[1]);
                hooks.add(new Hook(iface, p[1] == Libbpf.BPF_TC_INGRESS ? "ingress" : "egress", "legacy"));
            }
        }
    }

    private static String message(String iface, String what, int errno) {
        if (errno == Errno.EPERM) {
            return "permission denied attaching to " + iface + ": run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON";
        }
        if (errno == Errno.ENODEV || errno == Errno.ENOENT) {
            return "cannot attach to " + iface + ": the interface is gone";
        }
        return "cannot attach the " + what + " to " + iface + ": " + Libc.strerror(errno);
    }

    private MemorySegment hook(Arena arena, int attachPoint) {
        MemorySegment h = arena.allocate(Libbpf.TC_HOOK);
        h.set(JAVA_LONG, off(Libbpf.TC_HOOK, "sz"), Libbpf.TC_HOOK.byteSize());
        h.set(JAVA_INT, off(Libbpf.TC_HOOK, "ifindex"), ifindex);
        h.set(JAVA_INT, off(Libbpf.TC_HOOK, "attach_point"), attachPoint);
        return h;
    }

    private static MemorySegment opts(Arena arena, int progFd, int flags) {
        MemorySegment o = arena.allocate(Libbpf.TC_OPTS);
        o.set(JAVA_LONG, off(Libbpf.TC_OPTS, "sz"), Libbpf.TC_OPTS.byteSize());
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "prog_fd"), progFd);
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "flags"), flags);
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "handle"), LEGACY_HANDLE);
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "priority"), LEGACY_PRIORITY);
        return o;
    }

    private static long off(java.lang.foreign.StructLayout l, String field) {
        return l.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    public List<Hook> hooks() {
        return List.copyOf(hooks);
    }

    public String iface() {
        return iface;
    }

    public int ifindex() {
        return ifindex;
    }

    /** True when close() left pinned TCX links attached, for the next process to take over. */
    public synchronized boolean leftAttached() {
        return leftAttached;
    }

    private void closeLinks(boolean gone) {
        for (int i = 0; i < linkFds.size(); i++) {
            if (pinned != null) {
                leftAttached |= !pinned.release(ifindex, linkTypes.get(i), gone);
            }
            Libc.close(linkFds.get(i));
        }
        linkFds.clear();
        linkTypes.clear();
        hooks.removeIf(h -> h.mode().equals("tcx"));
    }

    /**
     * The interface is gone (deleted, or moved to another network namespace): the kernel has
     * already detached the TCX links (their fds are closed here) and removed the device's qdisc
     * and filters with it. Nothing is asked of the kernel by ifindex, which may soon name another
     * interface. Idempotent; close() afterwards does nothing.
     */
    public synchronized void abandon() {
        if (closed) {
            return;
        }
        closed = true;
        closeLinks(true);
        legacyPoints.clear();
        createdQdisc = false;
        hooks.clear();
    }

    /** Detaches what this attachment created, and nothing else. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeLinks(false);
        try (Arena arena = Arena.ofConfined()) {
            for (int point : legacyPoints) {
                lib.tcDetach(hook(arena, point), opts(arena, 0, 0)); // errors: the interface may be gone
            }
            if (createdQdisc) {
                lib.tcHookDestroy(hook(arena, Libbpf.BPF_TC_INGRESS | Libbpf.BPF_TC_EGRESS));
            }
        }
        legacyPoints.clear();
        hooks.clear();
    }
}
