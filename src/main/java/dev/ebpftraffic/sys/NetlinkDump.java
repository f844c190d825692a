package dev.ebpftraffic.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/** An rtnetlink dump (RTM_GET* with NLM_F_DUMP) over a NETLINK_ROUTE socket: the request, the framing, the end. */
public final class NetlinkDump {
    public static final int NLMSG_HDRLEN = 16;
    private static final int NLMSG_ERROR = 2;
    private static final int NLMSG_DONE = 3;
    private static final int NLM_F_REQUEST = 1;
    private static final int NLM_F_DUMP = 0x300;
    private static final int NLM_F_DUMP_INTR = 0x10;
    private static final int EINTR = 4;

    /** One message of the dump: its type, and where it is in buf (off, len including the header). */
    @FunctionalInterface
    public interface Message {
        void accept(MemorySegment buf, int type, int off, int len);
    }

    private NetlinkDump() {
    }

    /** A dump request of type with sequence seq, and bodyLen zero bytes after the header for the caller to fill. */
    public static MemorySegment request(Arena arena, int type, int seq, int bodyLen) {
        MemorySegment req = arena.allocate(NLMSG_HDRLEN + bodyLen, 4);
        req.set(JAVA_INT, 0, NLMSG_HDRLEN + bodyLen);
        req.set(JAVA_SHORT, 4, (short) type);
        req.set(JAVA_SHORT, 6, (short) (NLM_F_REQUEST | NLM_F_DUMP));
        req.set(JAVA_INT, 8, seq);
        return req;
    }

    /**
     * Sends req on fd and hands every message of its sequence to out until the end of the dump;
     * false when the kernel says a change interrupted it (the caller dumps again). Throws
     * IllegalStateException on a socket error, an error message (named by what) or a malformed message.
     */
    public static boolean run(int fd, MemorySegment req, MemorySegment buf, String what, Message out) {
        int seq = req.get(JAVA_INT, 8);
        long sent = Libc.send(fd, req, req.byteSize(), 0);
        if (sent < 0) {
            throw new IllegalStateException("netlink send: " + Libc.strerror((int) -sent));
        }
        boolean interrupted = false;
        while (true) {
            long n = Libc.recv(fd, buf, buf.byteSize(), 0);
            if (n < 0) {
                if (n == -EINTR) {
                    continue;
                }
                throw new IllegalStateException("netlink recv: " + Libc.strerror((int) -n));
            }
            int off = 0;
            while (off + NLMSG_HDRLEN <= n) {
                int len = buf.get(JAVA_INT_UNALIGNED, off);
                int type = buf.get(JAVA_SHORT_UNALIGNED, off + 4) & 0xffff;
                int flags = buf.get(JAVA_SHORT_UNALIGNED, off + 6) & 0xffff;
                int msgSeq = buf.get(JAVA_INT_UNALIGNED, off + 8);
                if (len < NLMSG_HDRLEN || off + len > n) {
                    throw new IllegalStateException("malformed netlink message");
                }
                if (msgSeq == seq) {
                    if ((flags & NLM_F_DUMP_INTR) != 0) {
                        interrupted = true;
                    }
                    if (type == NLMSG_DONE) {
                        return !interrupted;
                    }
                    if (type == NLMSG_ERROR) {
                        int err = -buf.get(JAVA_INT_UNALIGNED, off + NLMSG_HDRLEN);
                        throw new IllegalStateException(what + ": " + Libc.strerror(err));
                    }
                    out.accept(buf, type, off, len);
                }
                off += (len + 3) & ~3;
            }
        }
    }
}
