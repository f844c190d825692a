package dev.ebpftraffic.iface;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Keeps the programs attached to every interface that matches --iface / --iface-exclude, as
 * interfaces come and go.
 *
 * <ul>
 *   <li>At start, attaches to every match. A plainly named interface (no glob) must exist, and a
 *       permission error stops the start; other failures are counted and logged.</li>
 *   <li>Then it waits for rtnetlink link events (RTMGRP_LINK) and, after each batch of events,
 *       lists the links and reconciles: new matches are attached (within milliseconds), an
 *       interface that is gone is dropped without error, a deleted and recreated interface (same
 *       name, new ifindex) is attached again. Without link events (the socket cannot subscribe,
 *       or EBPF_EXPORTER_LINK_WATCH=poll) it lists the links every second instead.</li>
 *   <li>Our hooks can be taken away from under us (a TCX link detached with bpftool, a legacy
 *       filter or the clsact qdisc deleted with tc). TC events and a check every
 *       {@value #CHECK_MILLIS} ms notice it; the hook is attached again, counted in
 *       {@link #reattachments()}, and until then the interface is not ready.</li>
 *   <li>Before an interface's ifindex is attached its name is recorded in {@link IfaceNames}; when
 *       it is gone, {@code retire} is called with the ifindex (the collector drains its last
 *       counts from the kernel maps under the name) and lets the name go (or, on a rename, records
 *       the new one) in the same step for readers: no refresh sees the drained ifindex under the
 *       wrong name. Counters are keyed by name, so a recreated interface continues them.</li>
 *   <li>close() detaches everything it attached, and nothing else.</li>
 * </ul>
 */
public final class AttachManager implements AutoCloseable {
    /** Reasons of ebpf_traffic_exporter_attach_failures_total. */
    public static final List<String> REASONS = List.of("gone", "permission_denied", "unsupported_link_type", "error");
    /** Link listing interval without link events. */
    static final int POLL_MILLIS = 1000;
    /** How often the hooks are checked when no event came (TCX link detaches send none). */
    static final int CHECK_MILLIS = 2000;

    /**
     * Drains the last counts of an ifindex under its current name, then runs {@code rename} (which
     * updates the names) before any reader can read the maps again.
     */
    @FunctionalInterface
    public interface Retire {
        void retire(int ifindex, Runnable rename);
    }

    /** Program fds: the Ethernet pair and the L3 pair. */
    public record Programs(int ingress, int egress, int ingressL3, int egressL3) {
    }

    private static final class Attached {
        final int ifindex;
        final TcAttachment attachment;
        final LinkType.Kind kind;
        String name;

        Attached(int ifindex, String name, TcAttachment attachment, LinkType.Kind kind) {
            this.ifindex = ifindex;
            this.name = name;
            this.attachment = attachment;
            this.kind = kind;
        }
    }

    private final Libbpf lib;
    private final Programs programs;
    private final AttachMode mode;
    private final IfacePatterns patterns;
    private final IfaceNames names;
    private final Retire retire;
    private final Consumer<String> info;
    private final Consumer<String> warn;
    private final Netlink netlink;
    private final Map<Integer, Attached> attached = new LinkedHashMap<>(); // guarded by this
    /** ifindex -> name of a match that could not be attached; tried again only when it changes. */
    private final Map<Integer, String> refused = new HashMap<>(); // guarded by this
    private final Map<String, AtomicLong> failures = new LinkedHashMap<>();
    /** Interface name -> times its hooks had to be attached again. */
    private final Map<String, AtomicLong> reattachments = new ConcurrentSkipListMap<>();
    private volatile List<TcAttachment.Hook> hooks = List.of();
    private volatile boolean ready;
    private volatile boolean stopping;
    private boolean closed;
    private Thread thread;

    private AttachManager(Libbpf lib, Programs programs, AttachMode mode, IfacePatterns patterns, IfaceNames names,
                          Retire retire, Consumer<String> info, Consumer<String> warn, boolean poll) {
        this.lib = lib;
        this.programs = programs;
        this.mode = mode;
        this.patterns = patterns;
        this.names = names;
        this.retire = retire;
        this.info = info;
        this.warn = warn;
        for (String r : REASONS) {
            failures.put(r, new AtomicLong());
        }
        this.netlink = Netlink.open(!poll);
    }

    /**
     * Attaches to every interface that matches now, then watches for changes on a daemon thread.
     * On a start-up failure nothing stays attached.
     *
     * @param retire called with the ifindex of an interface that is gone (or renamed), while its
     *               name still resolves in names
     * @param poll   list links every second instead of waiting for link events
     */
    public static AttachManager start(Libbpf lib, Programs programs, AttachMode mode, IfacePatterns patterns,
                                      IfaceNames names, Retire retire, Consumer<String> info,
                                      Consumer<String> warn, boolean poll) {
        AttachManager m = new AttachManager(lib, programs, mode, patterns, names, retire, info, warn, poll);
        try {
            List<Link> links = m.netlink.links();
            patterns.requireLiterals(name -> links.stream().anyMatch(l -> l.name().equals(name)));
            m.reconcile(links, true);
            if (m.hooks.isEmpty()) {
                warn.accept("no interface matches --iface " + patterns + " yet; waiting for one to appear");
            }
            if (!m.netlink.subscribed()) {
                warn.accept("no rtnetlink link events (" + m.netlink.subscribeError()
                        + "); listing interfaces every " + POLL_MILLIS + " ms instead");
            }
            m.thread = Thread.ofPlatform().name("iface-watch").daemon(true).start(m::watch);
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private void watch() {
        boolean retry = false;
        while (!stopping) {
            boolean poll = !netlink.subscribed() || retry;
            boolean changed;
            try {
                changed = netlink.await(poll ? POLL_MILLIS : CHECK_MILLIS);
            } catch (RuntimeException e) {
                if (!stopping) {
                    warn.accept("waiting for link events failed: " + e.getMessage());
                }
                return;
            }
            if (stopping) {
                return;
            }
            if (!changed && !poll) {
                try {
                    verifyHooks();
                } catch (RuntimeException e) {
                    warn.accept("cannot check the attached hooks: " + e.getMessage());
                }
                continue;
            }
            try {
                reconcile(netlink.links(), false);
                retry = false;
            } catch (RuntimeException e) {
                warn.accept("cannot update the attached interfaces: " + e.getMessage() + "; trying again in 1 s");
                retry = true;
            }
        }
    }

    /** Brings the attachments in line with links. strict: start-up rules (see start). */
    private synchronized void reconcile(List<Link> links, boolean strict) {
        if (closed) {
            return;
        }
        Map<Integer, Link> byIndex = new HashMap<>();
        for (Link l : links) {
            byIndex.put(l.ifindex(), l);
        }
        // What is gone, renamed, or no longer to be watched.
        for (Attached a : new ArrayList<>(attached.values())) {
            Link l = byIndex.get(a.ifindex);
            if (l == null) {
                a.attachment.abandon(); // the kernel detached it with the device
                attached.remove(a.ifindex);
                retireIfindex(a.ifindex);
                info.accept(a.name + " is gone (ifindex " + a.ifindex + "); it is attached again if it comes back");
            } else if (!l.name().equals(a.name)) {
                String old = a.name;
                if (patterns.matches(l)) {
                    // Counts so far stay under the old name; the new name takes over atomically.
                    retireIfindex(a.ifindex, () -> names.put(a.ifindex, l.name()));
                    a.name = l.name();
                    info.accept(old + " was renamed to " + l.name() + " (ifindex " + a.ifindex + "); counting under the new name");
                } else {
                    a.attachment.close(); // first: nothing is counted after the last drain
                    attached.remove(a.ifindex);
                    retireIfindex(a.ifindex);
                    info.accept(old + " was renamed to " + l.name() + ", which --iface does not match: detached");
                }
            }
        }
        verifyAll(); // a TC event (a filter or qdisc deleted) brought us here, perhaps
        refused.entrySet().removeIf(e -> {
            Link l = byIndex.get(e.getKey());
            return l == null || !l.name().equals(e.getValue());
        });
        // New matches.
        for (Link l : links) {
            if (attached.containsKey(l.ifindex()) || refused.containsKey(l.ifindex()) || !patterns.matches(l)) {
                continue;
            }
            attach(l, strict);
        }
        rebuildHooks();
    }

    /** Checks every attached interface's hooks and attaches again what was taken away. */
    private synchronized void verifyHooks() {
        if (closed) {
            return;
        }
        verifyAll();
        rebuildHooks();
    }

    private void verifyAll() {
        for (Attached a : attached.values()) {
            if (a.attachment.verify() > 0) {
                reattachments.computeIfAbsent(a.name, k -> new AtomicLong()).incrementAndGet();
            }
        }
    }

    /** Drains the counts of an ifindex that is gone, then lets its name go. */
    private void retireIfindex(int ifindex) {
        retireIfindex(ifindex, () -> names.gone(ifindex));
    }

    /** Drains the counts of an ifindex under its name, then renames it, atomically for readers. */
    private void retireIfindex(int ifindex, Runnable rename) {
        boolean[] done = {false};
        try {
            retire.retire(ifindex, () -> {
                done[0] = true;
                rename.run();
            });
        } finally {
            if (!done[0]) { // the drain failed before renaming: the names must still move on
                rename.run();
            }
        }
    }

    private void attach(Link l, boolean strict) {
        LinkType.Kind kind = l.kind();
        if (kind == LinkType.Kind.UNSUPPORTED) {
            fail(l, "unsupported_link_type", "not attaching to " + l.name() + ": device type " + LinkType.name(l.type())
                    + " carries neither an Ethernet nor an IP header at the TC hook");
            return;
        }
        names.put(l.ifindex(), l.name()); // before any packet can be counted under this ifindex
        boolean l3 = kind == LinkType.Kind.L3;
        try {
            TcAttachment t = TcAttachment.attach(lib, l.name(), l.ifindex(),
                    l3 ? programs.ingressL3() : programs.ingress(), l3 ? programs.egressL3() : programs.egress(), mode, warn);
            attached.put(l.ifindex(), new Attached(l.ifindex(), l.name(), t, kind));
            info.accept("attached to " + l.name() + " (ifindex " + l.ifindex() + ", " + (l3 ? "L3 device, " : "")
                    + "ingress and egress, mode " + t.hooks().getFirst().mode() + ")");
        } catch (LibbpfException e) {
            names.gone(l.ifindex());
            int errno = e.errno();
            String reason = errno == Errno.ENODEV || errno == Errno.ENOENT ? "gone"
                    : errno == Errno.EPERM || errno == Errno.EACCES ? "permission_denied" : "error";
            if (strict && (reason.equals("permission_denied") || patterns.literals().contains(l.name()))) {
                failures.get(reason).incrementAndGet();
                throw e;
            }
            if (reason.equals("gone")) {
                failures.get(reason).incrementAndGet();
                info.accept(l.name() + " went away before it could be attached");
                return;
            }
            fail(l, reason, e.getMessage());
        }
    }

    private void fail(Link l, String reason, String message) {
        failures.get(reason).incrementAndGet();
        refused.put(l.ifindex(), l.name());
        warn.accept(message);
    }

    private void rebuildHooks() {
        List<TcAttachment.Hook> h = new ArrayList<>();
        Set<String> current = new HashSet<>();
        for (Attached a : attached.values()) {
            current.add(a.name);
            reattachments.computeIfAbsent(a.name, k -> new AtomicLong()); // exported at 0 from the start, for increase()
            for (TcAttachment.Hook x : a.attachment.hooks()) {
                h.add(new TcAttachment.Hook(a.name, x.hook(), x.mode()));
            }
        }
        // Interfaces come and go (pod veths): forget those that are gone and never needed a re-attach.
        reattachments.entrySet().removeIf(e -> e.getValue().get() == 0 && !current.contains(e.getKey()));
        hooks = List.copyOf(h);
        ready = !attached.isEmpty() && attached.values().stream().allMatch(a -> a.attachment.complete());
    }

    /**
     * Whether the program watches every interface it attached to: at least one, and none with a
     * hook that was taken away and is not attached again yet.
     */
    public boolean ready() {
        return ready;
    }

    /** Interface name -> times one or both of its hooks were found gone and attached again. */
    public Map<String, Long> reattachments() {
        Map<String, Long> out = new LinkedHashMap<>();
        reattachments.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** Every attached hook, with the interface's current name. */
    public List<TcAttachment.Hook> hooks() {
        return hooks;
    }

    /** Attach failures so far by reason (every reason present, 0 included). */
    public Map<String, Long> failures() {
        Map<String, Long> out = new LinkedHashMap<>();
        failures.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** Whether link events are watched (false: polling). */
    public boolean watchesEvents() {
        return netlink.subscribed();
    }

    /** Stops watching, then detaches everything this manager attached. Idempotent. */
    @Override
    public void close() {
        stopping = true;
        Thread t = thread;
        if (t != null) {
            netlink.wake();
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            hooks = List.of();
            ready = false;
            for (Attached a : attached.values()) {
                try {
                    a.attachment.close();
                    info.accept((a.attachment.leftAttached() ? "left attached (pinned) to " : "detached from ") + a.name);
                } catch (RuntimeException e) {
                    warn.accept("detaching from " + a.name + ": " + e.getMessage());
                }
            }
            attached.clear();
            if (t == null || !t.isAlive()) {
                netlink.close();
            }
        }
    }
}
