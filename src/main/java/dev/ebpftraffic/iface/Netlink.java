package dev.ebpftraffic.iface;

import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.sys.NetlinkDump;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * rtnetlink through FFM: lists the links of the process's network namespace (RTM_GETLINK dump,
 * what `ip link` does) and waits for link and TC events (a socket bound to the RTMGRP_LINK and
 * RTMGRP_TC multicast groups). Events are only a signal to list again: that is simple and never
 * misses a change, even when the event socket overflows (ENOBUFS).
 *
 * <p>When the event socket cannot be set up, {@link #subscribed()} is false and callers poll
 * (the attach manager lists the links every second).
 */
final class Netlink implements AutoCloseable {
    static final int AF_NETLINK = 16;
    static final int SOCK_RAW = 3;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int NETLINK_ROUTE = 0;
    static final int RTMGRP_LINK = 1;
    /** TC events (qdiscs and filters added or deleted): a sign that our hooks may have been taken away. */
    static final int RTMGRP_TC = 8;
    static final int RTM_NEWLINK = 16;
    static final int RTM_GETLINK = 18;
    static final int IFLA_IFNAME = 3;
    static final int MSG_DONTWAIT = 0x40;
    static final int O_NONBLOCK = 0x800;
    static final short POLLIN = 1;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int ENOBUFS = 105;
    static final int NLMSG_HDRLEN = 16;
    static final int IFINFOMSG_LEN = 16;

    private static final int BUF = 1 << 16;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment buf = arena.allocate(BUF, 8);
    private final MemorySegment wakeBuf = arena.allocate(8);
    private final MemorySegment pollFds = arena.allocate(16, 8);
    private final int wakeRead;
    private final int wakeWrite;
    private int events = -1;
    private int dumpFd = -1;
    private int seq;
    private String subscribeError;

    private Netlink(boolean subscribe) {
        MemorySegment fds = arena.allocate(JAVA_INT, 2);
        int r = Libc.pipe2(fds, SOCK_CLOEXEC | O_NONBLOCK);
        if (r < 0) {
            arena.close();
            throw new IllegalStateException("pipe2: " + Libc.strerror(-r));
        }
        wakeRead = fds.getAtIndex(JAVA_INT, 0);
        wakeWrite = fds.getAtIndex(JAVA_INT, 1);
        if (subscribe) {
            int fd = socket(RTMGRP_LINK | RTMGRP_TC);
            if (fd < 0) {
                subscribeError = Libc.strerror(-fd);
            } else {
                events = fd;
            }
        } else {
            subscribeError = "polling was asked for";
        }
    }

    /** Opens the event socket (unless subscribe is false) and a wake-up pipe. */
    static Netlink open(boolean subscribe) {
        return new Netlink(subscribe);
    }

    /** Whether link events arrive; false: poll with {@link #links()}. */
    boolean subscribed() {
        return events >= 0;
    }

    /** Why there are no events (when not subscribed). */
    String subscribeError() {
        return subscribeError;
    }

    /** A bound NETLINK_ROUTE socket, or -errno. */
    private int socket(int groups) {
        int fd = Libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) {
            return fd;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sa = a.allocate(12, 4); // struct sockaddr_nl: family, pad, pid, groups
            sa.set(JAVA_SHORT, 0, (short) AF_NETLINK);
            sa.set(JAVA_INT, 8, groups);
            int r = Libc.bind(fd, sa, 12);
            if (r < 0) {
                Libc.close(fd);
                return r;
            }
        }
        return fd;
    }

    /** Every link of the network namespace. Throws IllegalStateException when netlink fails. */
    List<Link> links() {
        for (int attempt = 0; ; attempt++) {
            if (dumpFd < 0) {
                int fd = socket(0);
                if (fd < 0) {
                    throw new IllegalStateException("cannot open a netlink socket: " + Libc.strerror(-fd));
                }
                dumpFd = fd;
            }
            try {
                List<Link> out = new ArrayList<>();
                if (dump(out)) {
                    return out;
                }
            } catch (RuntimeException e) {
                Libc.close(dumpFd); // leftovers of a broken dump must not be read by the next one
                dumpFd = -1;
                throw e;
            }
            if (attempt >= 10) { // links kept changing during every dump: take the next event's dump
                throw new IllegalStateException("the list of links kept changing while it was read");
            }
        }
    }

    /** One RTM_GETLINK dump into out; false when the kernel says it was interrupted by a change. */
    private boolean dump(List<Link> out) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = NetlinkDump.request(a, RTM_GETLINK, ++seq, IFINFOMSG_LEN);
            return NetlinkDump.run(dumpFd, req, buf, "RTM_GETLINK", (m, type, off, len) -> {
                if (type == RTM_NEWLINK) {
                    Link l = parseLink(m, off, len);
                    if (l != null) {
                        out.add(l);
                    }
                }
            });
        }
    }

    /** An RTM_NEWLINK message at off: ifinfomsg, then attributes; the name is IFLA_IFNAME. */
    static Link parseLink(MemorySegment m, int off, int len) {
        int body = off + NLMSG_HDRLEN;
        if (len < NLMSG_HDRLEN + IFINFOMSG_LEN) {
            return null;
        }
        int type = m.get(JAVA_SHORT_UNALIGNED, body + 2) & 0xffff;
        int index = m.get(JAVA_INT_UNALIGNED, body + 4);
        int flags = m.get(JAVA_INT_UNALIGNED, body + 8);
        int a = body + IFINFOMSG_LEN;
        int end = off + len;
        String name = null;
        while (a + 4 <= end) {
            int alen = m.get(JAVA_SHORT_UNALIGNED, a) & 0xffff;
            int atype = m.get(JAVA_SHORT_UNALIGNED, a + 2) & 0x3fff; // without NLA_F_NESTED / NET_BYTEORDER
            if (alen < 4 || a + alen > end) {
                break;
            }
            if (atype == IFLA_IFNAME) {
                byte[] b = m.asSlice(a + 4, alen - 4).toArray(JAVA_BYTE);
                int z = 0;
                while (z < b.length && b[z] != 0) {
                    z++;
                }
                name = IfaceNames.decode(b, z);
            }
            a += align4(alen);
        }
        return name == null ? null : new Link(name, index, type, flags);
    }

    private static int align4(int n) {
        return (n + 3) & ~3;
    }

    /**
     * Waits up to timeoutMillis (-1: forever) for a link event or {@link #wake()}. Returns true
     * when links may have changed (an event, or events lost to an overflow), false on a timeout
     * or a wake-up alone. Reads every pending event: one listing covers them all.
     */
    boolean await(int timeoutMillis) {
        int nfds = 0;
        if (events >= 0) {
            pollFds.set(JAVA_INT, 0, events);
            pollFds.set(JAVA_SHORT, 4, POLLIN);
            pollFds.set(JAVA_SHORT, 6, (short) 0);
            nfds++;
        }
        long w = nfds * 8L;
        pollFds.set(JAVA_INT, w, wakeRead);
        pollFds.set(JAVA_SHORT, w + 4, POLLIN);
        pollFds.set(JAVA_SHORT, w + 6, (short) 0);
        nfds++;
        final long count = nfds;
        int r = Libc.poll(pollFds, count, timeoutMillis);
        if (r <= 0) {
            return false; // timeout or EINTR
        }
        // Empty the wake-up pipe.
        while (Libc.read(wakeRead, wakeBuf, 8L) > 0) {
            // drained
        }
        boolean changed = false;
        if (events >= 0 && (pollFds.get(JAVA_SHORT, 6) != 0)) {
            while (true) {
                long n = Libc.recv(events, buf, BUF, MSG_DONTWAIT);
                if (n > 0) {
                    changed = true;
                    continue;
                }
                if (n == -ENOBUFS) {
                    changed = true; // events were lost: the caller lists everything again anyway
                    continue;
                }
                if (n == -EINTR) {
                    continue;
                }
                break; // EAGAIN: nothing more
            }
        }
        return changed;
    }

    /** Makes a waiting {@link #await} return. Safe from any thread. */
    void wake() {
        wakeBuf.set(JAVA_BYTE, 0, (byte) 1);
        long ignored = Libc.write(wakeWrite, wakeBuf, 1L);
    }

    /** Closes the sockets and the pipe. Only after the waiting thread has stopped. */
    @Override
    public void close() {
        Libc.close(events);
        Libc.close(dumpFd);
        Libc.close(wakeRead);
        Libc.close(wakeWrite);
        events = -1;
        dumpFd = -1;
        arena.close();
    }
}
