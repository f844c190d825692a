package dev.ebpftraffic.iface;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.libbpf.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

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
 *   <li>Before an interface's ifindex is attached its name is recorded in {@link IfaceNames}; when
 *       it is gone, {@code retire} is called with the ifindex (the collector drains its last
 *       counts from the kernel maps under the name) before the name is let go. Counters are keyed
 *       by name, so a recreated interface continues them.</li>
 *   <li>close() detaches everything it attached, and nothing else.</li>
 * </ul>
 */
public final class AttachManager implements AutoCloseable {
    /** Reasons of ebpf_traffic_exporter_attach_failures_total. */
    public static final List<String> REASONS = List.of("gone", "permission_denied", "unsupported_link_type", "error");
    /** Link listing interval without link events. */
    static final int POLL_MILLIS = 1000;

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
    private final IntConsumer retire;
    private final Consumer<String> info;
    private final Consumer<String> warn;
    private final Netlink netlink;
    private final Map<Integer, Attached> attached = new LinkedHashMap<>(); // guarded by this
    /** ifindex -> name of a match that could not be attached; tried again only when it changes. */
    private final Map<Integer, String> refused = new HashMap<>(); // guarded by this
    private final Map<String, AtomicLong> failures = new LinkedHashMap<>();
    private volatile List<TcAttachment.Hook> hooks = List.of();
    private volatile boolean stopping;
    private boolean closed;
    private Thread thread;

    private AttachManager(Libbpf lib, Programs programs, AttachMode mode, IfacePatterns patterns, IfaceNames names,
                          IntConsumer retire, Consumer<String> info, Consumer<String> warn, boolean poll) {
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
                                      IfaceNames names, IntConsumer retire, Consumer<String> info,
                                      Consumer<String> warn, boolean poll) {
        AttachManager m = new AttachManager(lib, programs, mode, patterns, names, retire, info, warn, poll);
        try {
            List<Link> links = m.netlink.links();
            for (String literal : patterns.literals()) {
                if (links.stream().noneMatch(l -> l.name().equals(literal))) {
                    throw new IllegalStateException("interface \"" + literal
                            + "\" does not exist: pick one from `ip link` with --iface");
                }
            }
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
                changed = netlink.await(poll ? POLL_MILLIS : -1);
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
                retireIfindex(a.ifindex); // counts so far stay under the old name
                if (patterns.matches(l)) {
                    names.put(a.ifindex, l.name());
                    a.name = l.name();
                    info.accept(old + " was renamed to " + l.name() + " (ifindex " + a.ifindex + "); counting under the new name");
                } else {
                    a.attachment.close();
                    attached.remove(a.ifindex);
                    info.accept(old + " was renamed to " + l.name() + ", which --iface does not match: detached");
                }
            }
        }
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

    /** Drains the counts of an ifindex that is gone, then lets its name go. */
    private void retireIfindex(int ifindex) {
        try {
            retire.accept(ifindex);
        } finally {
            names.gone(ifindex);
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
        for (Attached a : attached.values()) {
            for (TcAttachment.Hook x : a.attachment.hooks()) {
                h.add(new TcAttachment.Hook(a.name, x.hook(), x.mode()));
            }
        }
        hooks = List.copyOf(h);
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
