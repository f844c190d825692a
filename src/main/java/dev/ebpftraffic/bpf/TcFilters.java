package dev.ebpftraffic.bpf;

import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.sys.NetlinkDump;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * Lists the TC filters under one parent of an interface (an RTM_GETTFILTER dump, what `tc filter
 * show dev X ingress` does), whoever put them there. libbpf can only ask about one handle and
 * priority at a time (bpf_tc_query), which cannot tell whether anyone else uses a clsact qdisc.
 */
public final class TcFilters {
    /** Parents of the clsact qdisc's two filter blocks: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / EGRESS). */
    public static final int CLSACT_INGRESS = 0xFFFFFFF2;
    public static final int CLSACT_EGRESS = 0xFFFFFFF3;

    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_ROUTE = 0;
    private static final int RTM_NEWTFILTER = 44;
    private static final int RTM_GETTFILTER = 46;
    private static final int NLMSG_HDRLEN = 16;
    private static final int TCMSG_LEN = 20;
    private static final int TCA_KIND = 1;
    private static final int TCA_OPTIONS = 2;
    private static final int TCA_BPF_ID = 11;
    private static final int BUF = 1 << 16;

    /**
     * One entry of the dump. handle 0 is a classifier instance (a priority and protocol with its
     * kind) rather than a filter; the kernel lists one before the filters it holds. progId: the
     * program of a cls_bpf filter (0 for other kinds).
     */
    public record Filter(int parent, int priority, int protocol, int handle, String kind, int progId) {
        @Override
        public String toString() {
            return kind + " pref " + priority + " handle 0x" + Integer.toHexString(handle);
        }
    }

    private TcFilters() {
    }

    /**
     * Every filter (and classifier instance) under parent of ifindex, in the calling thread's
     * network namespace; empty when there is no such qdisc. Throws IllegalStateException when
     * netlink fails or the list kept changing while it was read.
     */
    public static List<Filter> list(int ifindex, int parent) {
        try (Arena arena = Arena.ofConfined()) {
            int fd = Libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
            if (fd < 0) {
                throw new IllegalStateException("cannot open a netlink socket: " + Libc.strerror(-fd));
            }
            try {
                for (int attempt = 0; attempt < 10; attempt++) {
                    List<Filter> out = new ArrayList<>();
                    if (dump(arena, fd, attempt + 1, ifindex, parent, out)) {
                        return out;
                    }
                }
                throw new IllegalStateException("the filters kept changing while they were read");
            } finally {
                Libc.close(fd);
            }
        }
    }

    /** One dump into out; false when the kernel says a change interrupted it. */
    private static boolean dump(Arena arena, int fd, int seq, int ifindex, int parent, List<Filter> out) {
        MemorySegment req = NetlinkDump.request(arena, RTM_GETTFILTER, seq, TCMSG_LEN);
        // struct tcmsg: family, pad, pad, ifindex, handle, parent, info
        req.set(JAVA_INT, NLMSG_HDRLEN + 4, ifindex);
        req.set(JAVA_INT, NLMSG_HDRLEN + 12, parent);
        return NetlinkDump.run(fd, req, arena.allocate(BUF, 8), "RTM_GETTFILTER", (m, type, off, len) -> {
            if (type == RTM_NEWTFILTER && len >= NLMSG_HDRLEN + TCMSG_LEN) {
                out.add(parse(m, off, len));
            }
        });
    }

    private static Filter parse(MemorySegment m, int off, int len) {
        int body = off + NLMSG_HDRLEN;
        int handle = m.get(JAVA_INT_UNALIGNED, body + 8);
        int parent = m.get(JAVA_INT_UNALIGNED, body + 12);
        int info = m.get(JAVA_INT_UNALIGNED, body + 16);
        String kind = "";
        int progId = 0;
        int a = body + TCMSG_LEN;
        int end = off + len;
        while (a + 4 <= end) {
            int alen = m.get(JAVA_SHORT_UNALIGNED, a) & 0xffff;
            int atype = m.get(JAVA_SHORT_UNALIGNED, a + 2) & 0x3fff;
            if (alen < 4 || a + alen > end) {
                break;
            }
            if (atype == TCA_KIND) {
                byte[] b = m.asSlice(a + 4, alen - 4).toArray(JAVA_BYTE);
                int z = 0;
                while (z < b.length && b[z] != 0) {
                    z++;
                }
                kind = new String(b, 0, z, StandardCharsets.US_ASCII);
            } else if (atype == TCA_OPTIONS) {
                progId = bpfProgId(m, a + 4, a + alen);
            }
            a += (alen + 3) & ~3;
        }
        // tcm_info: priority in the upper 16 bits, protocol (network byte order) in the lower.
        int proto = Short.reverseBytes((short) (info & 0xffff)) & 0xffff;
        return new Filter(parent, info >>> 16, proto, handle, kind, kind.equals("bpf") ? progId : 0);
    }

    /** TCA_BPF_ID among the nested attributes in [a, end), or 0. */
    private static int bpfProgId(MemorySegment m, int a, int end) {
        while (a + 4 <= end) {
            int alen = m.get(JAVA_SHORT_UNALIGNED, a) & 0xffff;
            int atype = m.get(JAVA_SHORT_UNALIGNED, a + 2) & 0x3fff;
            if (alen < 4 || a + alen > end) {
                break;
            }
            if (atype == TCA_BPF_ID && alen >= 8) {
                return m.get(JAVA_INT_UNALIGNED, a + 4);
            }
            a += (alen + 3) & ~3;
        }
        return 0;
    }
}
