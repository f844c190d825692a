package dev.ebpftraffic.bpf;

import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

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
 * is removed by its handle and priority, and the clsact qdisc is removed only if we created it
 * and no other filter is on it.
 *
 * <p>Hooks can be taken away from under us (`bpftool link detach`, `tc filter del`, `tc qdisc
 * del`); {@link #verify()} notices and attaches them again, but never over someone else's filter.
 */
public final class TcAttachment implements AutoCloseable {
    /**
     * Priority of our legacy filters: the same for every process, so they all sit at the same
     * place in the chain; each process has its own handle (see {@link LegacySlot}).
     */
    static final int LEGACY_PRIORITY = 0xEB9F;
    /** verify() found that the interface itself is gone: the link watcher deals with that. */
    private static final String DEVICE_GONE = "";
    /** struct bpf_link_info: type, id, prog_id, then (8-aligned) for TCX links ifindex (0 once detached), attach_type. */
    private static final int LINK_INFO_IFINDEX = 16;
    private static final int LINK_INFO_SIZE = 256;

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

    /** One attach point (ingress or egress) and what we hold there. */
    private static final class Point {
        final String hook;
        final int progFd;
        final int tcxType;
        final int tcPoint;
        int linkFd = -1; // TCX
        int progId;      // legacy: the program our filter runs, as the kernel reported it at attach
        boolean attached;
        String lastError; // of the last failed re-attach, so that a retry logs only a change

        Point(String hook, int progFd, int tcxType, int tcPoint) {
            this.hook = hook;
            this.progFd = progFd;
            this.tcxType = tcxType;
            this.tcPoint = tcPoint;
        }
    }

    private final Libbpf lib;
    private final String iface;
    private final int ifindex;
    private final Consumer<String> log;
    private final List<Point> points = new ArrayList<>();
    private String mode = "tcx";
    private int handle; // legacy
    private LinkPins pinned; // how this attachment's TCX links were made
    private boolean leftAttached;
    private boolean createdQdisc;
    private boolean closed;

    private TcAttachment(Libbpf lib, String iface, int ifindex, int ingressFd, int egressFd, Consumer<String> log) {
        this.lib = lib;
        this.iface = iface;
        this.ifindex = ifindex;
        this.log = log;
        points.add(new Point("ingress", ingressFd, Libbpf.BPF_TCX_INGRESS, Libbpf.BPF_TC_INGRESS));
        points.add(new Point("egress", egressFd, Libbpf.BPF_TCX_EGRESS, Libbpf.BPF_TC_EGRESS));
    }

    /**
     * Attaches ingressFd and egressFd to ifindex. On failure nothing stays attached.
     *
     * @param log receives one line about a fallback to the legacy hook, and later what
     *            {@link #verify()} and {@link #close()} have to say
     */
    public static TcAttachment attach(Libbpf lib, String iface, int ifindex, int ingressFd, int egressFd,
                                      AttachMode mode, Consumer<String> log) {
        TcAttachment a = new TcAttachment(lib, iface, ifindex, ingressFd, egressFd, log);
        try {
            if (mode == AttachMode.LEGACY) {
                a.attachLegacy();
                return a;
            }
            int err = a.attachTcx();
            if (err == 0) {
                return a;
            }
            if (mode == AttachMode.TCX || !tcxUnsupported(err)) {
                throw new LibbpfException(message(iface, "TCX link", err), err);
            }
            log.accept("this kernel has no TCX links (" + Libc.strerror(err) + "); using the legacy clsact hook on " + iface);
            a.attachLegacy();
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
    private int attachTcx() {
        pinned = linkPins;
        for (Point p : points) {
            int fd = createLink(p);
            if (fd < 0) {
                closeLinks(false);
                return -fd;
            }
            p.linkFd = fd;
            p.attached = true;
        }
        return 0;
    }

    /** A TCX link fd or -errno; with pins, the pinned link of this hook (ours, from a previous process) is taken over. */
    private int createLink(Point p) {
        return pinned != null ? pinned.attach(p.progFd, ifindex, p.tcxType) : lib.linkCreate(p.progFd, ifindex, p.tcxType);
    }

    private void attachLegacy() {
        mode = "legacy";
        handle = LegacySlot.handle(LegacySlot.get());
        ensureQdisc();
        for (Point p : points) {
            // Replace: a filter with our handle was left by a dead process that held our slot.
            attachFilter(p, Libbpf.BPF_TC_F_REPLACE);
        }
        removeLeftovers();
    }

    /**
     * Removes the filters that exporters killed with SIGKILL left in other slots (their programs
     * count into maps nobody reads), each while holding that slot: no live process owns it then.
     */
    private void removeLeftovers() {
        for (Point p : points) {
            List<TcFilters.Filter> filters;
            try {
                filters = TcFilters.list(ifindex, parent(p));
            } catch (RuntimeException e) {
                return; // only tidying up
            }
            for (TcFilters.Filter f : filters) {
                int slot = LegacySlot.slotOf(f.handle());
                if (slot == 0 || f.handle() == handle || f.priority() != LEGACY_PRIORITY || !f.kind().equals("bpf")) {
                    continue;
                }
                LegacySlot.ifFree(slot, () -> {
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment opts = opts(arena, 0, 0);
                        opts.set(JAVA_INT, off(Libbpf.TC_OPTS, "handle"), f.handle());
                        if (lib.tcDetach(hook(arena, p.tcPoint), opts) == 0) {
                            log.accept("removed the " + p.hook + " filter (handle 0x" + Integer.toHexString(f.handle())
                                    + ") that an exporter which is no longer running left on " + iface);
                        }
                    }
                });
            }
        }
    }

    private void ensureQdisc() {
        try (Arena arena = Arena.ofConfined()) {
            int err = lib.tcHookCreate(hook(arena, Libbpf.BPF_TC_INGRESS));
            if (err == 0) {
                createdQdisc = true;
            } else if (err != -Errno.EEXIST) { // EEXIST: a clsact qdisc is there already, not ours
                throw new LibbpfException(message(iface, "clsact qdisc", -err), -err);
            }
        }
    }

    private void attachFilter(Point p, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = opts(arena, p.progFd, flags);
            int err = lib.tcAttach(hook(arena, p.tcPoint), opts);
            if (err == -Errno.EEXIST) {
                throw handleTaken(p);
            }
            if (err < 0) {
                throw new LibbpfException(message(iface, "tc filter", -err), -err);
            }
            p.progId = opts.get(JAVA_INT, off(Libbpf.TC_OPTS, "prog_id"));
            p.attached = true;
        }
    }

    private LibbpfException handleTaken(Point p) {
        return new LibbpfException("another program's filter holds our handle 0x" + Integer.toHexString(handle)
                + " (priority " + LEGACY_PRIORITY + ") at " + p.hook + " of " + iface + "; not replacing it", Errno.EEXIST);
    }

    /** The filter at our handle and priority at p, or null; throws when the filters cannot be listed. */
    private TcFilters.Filter atOurHandle(Point p) {
        List<TcFilters.Filter> filters;
        try {
            filters = TcFilters.list(ifindex, parent(p));
        } catch (RuntimeException e) {
            throw new LibbpfException("cannot list the filters at " + p.hook + " of " + iface + ": " + e.getMessage(), 0);
        }
        for (TcFilters.Filter f : filters) {
            if (f.priority() == LEGACY_PRIORITY && f.handle() == handle) {
                return f;
            }
        }
        return null;
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

    private MemorySegment opts(Arena arena, int progFd, int flags) {
        MemorySegment o = arena.allocate(Libbpf.TC_OPTS);
        o.set(JAVA_LONG, off(Libbpf.TC_OPTS, "sz"), Libbpf.TC_OPTS.byteSize());
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "prog_fd"), progFd);
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "flags"), flags);
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "handle"), handle);
        o.set(JAVA_INT, off(Libbpf.TC_OPTS, "priority"), LEGACY_PRIORITY);
        return o;
    }

    private static long off(java.lang.foreign.StructLayout l, String field) {
        return l.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    /** The hooks attached right now. */
    public synchronized List<Hook> hooks() {
        List<Hook> out = new ArrayList<>();
        for (Point p : points) {
            if (p.attached) {
                out.add(new Hook(iface, p.hook, mode));
            }
        }
        return out;
    }

    /** Whether both hooks are attached (false while one was taken away and is not back yet). */
    public synchronized boolean complete() {
        return !closed && points.stream().allMatch(p -> p.attached);
    }

    public String iface() {
        return iface;
    }

    public int ifindex() {
        return ifindex;
    }

    /** The legacy filter handle (0 with TCX links). */
    public int legacyHandle() {
        return handle;
    }

    /**
     * Checks that our hooks are still attached as we left them, and attaches again what was taken
     * away: a TCX link detached from outside, a legacy filter deleted or replaced, the clsact
     * qdisc deleted. A legacy handle that now holds someone else's filter is not taken back (we
     * try again later, when it is free). Each loss and each re-attach is logged; a re-attach that
     * keeps failing is logged when its reason changes.
     *
     * @return the number of hooks attached again by this call
     */
    public synchronized int verify() {
        if (closed) {
            return 0;
        }
        for (Point p : points) {
            if (!p.attached) {
                continue;
            }
            String why = mode.equals("tcx") ? tcxLost(p) : legacyLost(p);
            if (why == DEVICE_GONE) {
                return 0; // the interface went away; the link watcher abandons this attachment
            }
            if (why != null) {
                p.attached = false;
                Libc.close(p.linkFd);
                p.linkFd = -1;
                log.accept("the " + p.hook + " hook on " + iface + " is gone (" + why + "); attaching it again");
            }
        }
        int n = 0;
        for (Point p : points) {
            if (p.attached) {
                continue;
            }
            try {
                if (mode.equals("tcx")) {
                    int fd = createLink(p); // a pinned link detached from outside is defunct: replaced and pinned anew
                    if (fd < 0) {
                        throw new LibbpfException(message(iface, "TCX link", -fd), -fd);
                    }
                    p.linkFd = fd;
                    p.attached = true;
                } else {
                    if (atOurHandle(p) != null) { // asked first: libbpf would log every refused try as a warning
                        throw handleTaken(p);
                    }
                    try {
                        attachFilter(p, 0); // never replace: a filter at our handle now is not ours
                    } catch (LibbpfException e) {
                        if (e.errno() != Errno.EINVAL) {
                            throw e;
                        }
                        ensureQdisc(); // EINVAL: no clsact qdisc (any more)
                        attachFilter(p, 0);
                    }
                }
                p.lastError = null;
                n++;
                log.accept("attached the " + p.hook + " hook on " + iface + " again (mode " + mode + ")");
            } catch (LibbpfException e) {
                if (e.errno() == Errno.ENODEV || Libc.ifIndexToName(ifindex) == null) {
                    return n; // the interface went away
                }
                if (!e.getMessage().equals(p.lastError)) {
                    log.accept(e.getMessage() + "; the " + p.hook + " hook on " + iface
                            + " stays detached, trying again every few seconds");
                    p.lastError = e.getMessage();
                }
            }
        }
        return n;
    }

    /** Why the TCX link of p no longer attaches it, or null; DEVICE_GONE when the interface is. */
    private String tcxLost(Point p) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(LINK_INFO_SIZE, 8);
            if (lib.objGetInfoByFd(p.linkFd, info) < 0) {
                return null; // cannot tell; assume it is still there
            }
            if (info.get(JAVA_INT, LINK_INFO_IFINDEX) != 0) {
                return null;
            }
            // A link is also detached when its interface is unregistered.
            return Libc.ifIndexToName(ifindex) == null ? DEVICE_GONE : "its TCX link was detached";
        }
    }

    /**
     * Why our legacy filter at p is gone, or null; DEVICE_GONE when the interface is. Lists the
     * filters rather than asking libbpf (bpf_tc_query) about our handle: a miss there is logged by
     * libbpf as a warning, and this runs every few seconds.
     */
    private String legacyLost(Point p) {
        List<TcFilters.Filter> filters;
        try {
            filters = TcFilters.list(ifindex, parent(p));
        } catch (RuntimeException e) {
            return Libc.ifIndexToName(ifindex) == null ? DEVICE_GONE : null; // else: cannot tell; assume it is there
        }
        for (TcFilters.Filter f : filters) {
            if (f.priority() == LEGACY_PRIORITY && f.handle() == handle) {
                return f.progId() == p.progId ? null : (f.progId() == 0 ? "another filter" : "another program (id " + f.progId() + ")")
                        + " replaced our filter (handle 0x" + Integer.toHexString(handle) + ")";
            }
        }
        if (Libc.ifIndexToName(ifindex) == null) {
            return DEVICE_GONE;
        }
        return filters.isEmpty() ? "our filter or the clsact qdisc was deleted" : "our filter was deleted";
    }

    private static int parent(Point p) {
        return p.tcPoint == Libbpf.BPF_TC_INGRESS ? TcFilters.CLSACT_INGRESS : TcFilters.CLSACT_EGRESS;
    }

    /** True when close() left pinned TCX links attached, for the next process to take over. */
    public synchronized boolean leftAttached() {
        return leftAttached;
    }

    private void closeLinks(boolean gone) {
        for (Point p : points) {
            if (pinned != null && p.linkFd >= 0) {
                leftAttached |= !pinned.release(ifindex, p.tcxType, gone);
            }
            Libc.close(p.linkFd);
            p.linkFd = -1;
            p.attached = false;
        }
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
        createdQdisc = false;
    }

    /**
     * Detaches what this attachment created, and nothing else: our legacy filters (only while
     * they still run our program), and the clsact qdisc if we created it and no filter of anyone
     * else is left on it. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (mode.equals("tcx")) {
            closeLinks(false);
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            for (Point p : points) {
                if (p.attached && legacyLost(p) == null) {
                    lib.tcDetach(hook(arena, p.tcPoint), opts(arena, 0, 0)); // errors: the interface may be gone
                }
                p.attached = false;
            }
            if (createdQdisc) {
                removeQdiscIfUnused(arena);
            }
        }
    }

    private void removeQdiscIfUnused(Arena arena) {
        List<TcFilters.Filter> others = new ArrayList<>();
        try {
            others.addAll(TcFilters.list(ifindex, TcFilters.CLSACT_INGRESS));
            others.addAll(TcFilters.list(ifindex, TcFilters.CLSACT_EGRESS));
        } catch (RuntimeException e) {
            if (Libc.ifIndexToName(ifindex) != null) {
                log.accept("left the clsact qdisc on " + iface + " in place: cannot list its filters (" + e.getMessage() + ")");
            }
            return;
        }
        if (!others.isEmpty()) {
            log.accept("left the clsact qdisc on " + iface + " in place: other software's filters are on it ("
                    + others.stream().filter(f -> f.handle() != 0).map(TcFilters.Filter::toString).distinct().toList() + ")");
            return;
        }
        lib.tcHookDestroy(hook(arena, Libbpf.BPF_TC_INGRESS | Libbpf.BPF_TC_EGRESS));
    }
}
