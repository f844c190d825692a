package dev.ebpftraffic.dns;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The little of RFC 1035 a reverse lookup needs: a PTR query, and the name, TTL or negative TTL
 * from the answer. Answers come from the network, so every length and pointer is checked and a
 * bad message is a {@link Malformed}, never another exception.
 */
public final class DnsMessage {
    static final int HEADER = 12;
    static final int TYPE_CNAME = 5;
    static final int TYPE_SOA = 6;
    static final int TYPE_PTR = 12;
    static final int CLASS_IN = 1;
    public static final int RCODE_OK = 0;
    public static final int RCODE_SERVFAIL = 2;
    public static final int RCODE_NXDOMAIN = 3;
    static final int MAX_NAME = 255;
    /** Compression pointers followed in one name: more than any real name needs, fewer than a loop would take. */
    static final int MAX_JUMPS = 64;
    /** CNAMEs followed in an answer (RFC 2317 classless delegation uses one). */
    static final int MAX_CHAIN = 8;

    /** Not a DNS answer we can read. */
    public static final class Malformed extends Exception {
        Malformed(String why) {
            super(why);
        }
    }

    /**
     * What an answer says about a PTR query.
     *
     * @param name       the host name (labels printable ASCII; anything else as \DDD), or null when there is none
     * @param ttlSeconds how long to keep the result: the record's TTL for a name, the negative TTL
     *                   from the SOA (RFC 2308) for "no name", or -1 when the answer does not say
     */
    public record Answer(int id, int rcode, String name, long ttlSeconds) {
    }

    private DnsMessage() {
    }

    /** 10.77.0.1 -> 1.0.77.10.in-addr.arpa; IPv6 -> 32 nibbles, lowest first, under ip6.arpa. */
    public static String ptrName(InetAddress a) {
        byte[] b = a.getAddress();
        StringBuilder s = new StringBuilder(74);
        if (a instanceof Inet4Address) {
            for (int i = 3; i >= 0; i--) {
                s.append(b[i] & 0xff).append('.');
            }
            return s.append("in-addr.arpa").toString();
        }
        for (int i = 15; i >= 0; i--) {
            s.append(Character.forDigit(b[i] & 0xf, 16)).append('.').append(Character.forDigit((b[i] >> 4) & 0xf, 16)).append('.');
        }
        return s.append("ip6.arpa").toString();
    }

    /** A standard query with recursion desired, one question: qname PTR IN. */
    public static byte[] query(int id, String qname) {
        byte[] name = encodeName(qname);
        byte[] m = new byte[HEADER + name.length + 4];
        m[0] = (byte) (id >> 8);
        m[1] = (byte) id;
        m[2] = 0x01; // RD
        m[5] = 1; // QDCOUNT
        System.arraycopy(name, 0, m, HEADER, name.length);
        int p = HEADER + name.length;
        m[p + 1] = TYPE_PTR;
        m[p + 3] = CLASS_IN;
        return m;
    }

    /** Dotted ASCII name (no escapes: ours are PTR names) in wire form. */
    static byte[] encodeName(String dotted) {
        byte[] out = new byte[dotted.length() + 2];
        int o = 0;
        for (String label : dotted.split("\\.")) {
            byte[] l = label.getBytes(StandardCharsets.US_ASCII);
            if (l.length == 0 || l.length > 63) {
                throw new IllegalArgumentException("bad label in " + dotted);
            }
            out[o++] = (byte) l.length;
            System.arraycopy(l, 0, out, o, l.length);
            o += l.length;
        }
        out[o++] = 0;
        return java.util.Arrays.copyOf(out, o);
    }

    /** The id of a message (the first two bytes), to find its query before parsing the rest. */
    public static int id(byte[] m, int len) throws Malformed {
        if (len < HEADER) {
            throw new Malformed("shorter than a DNS header: " + len + " bytes");
        }
        return u16(m, 0);
    }

    /**
     * Reads an answer to {@link #query}(id, qname). The question must be ours; the PTR is taken
     * for qname or for the name a CNAME in the answer leads to.
     */
    public static Answer parse(byte[] m, int len, String qname) throws Malformed {
        if (len > m.length) {
            throw new Malformed("length beyond the buffer");
        }
        int id = id(m, len);
        int flags = u16(m, 2);
        if ((flags & 0x8000) == 0) {
            throw new Malformed("a query, not a response");
        }
        if ((flags >> 11 & 0xf) != 0) {
            throw new Malformed("not a standard query response (opcode " + (flags >> 11 & 0xf) + ")");
        }
        int rcode = flags & 0xf;
        int qd = u16(m, 4);
        int an = u16(m, 6);
        int ns = u16(m, 8);
        if (qd != 1) {
            throw new Malformed(qd + " questions, expected 1");
        }
        int[] p = {HEADER};
        String q = readName(m, len, p);
        need(len, p[0], 4);
        if (!q.equalsIgnoreCase(qname) || u16(m, p[0]) != TYPE_PTR || u16(m, p[0] + 2) != CLASS_IN) {
            throw new Malformed("the question is " + q + ", not " + qname + " PTR IN");
        }
        p[0] += 4;
        String owner = qname;
        String name = null;
        long ttl = Long.MAX_VALUE;
        int chain = 0;
        for (int i = 0; i < an; i++) {
            String rrName = readName(m, len, p);
            need(len, p[0], 10);
            int type = u16(m, p[0]);
            int cls = u16(m, p[0] + 2);
            long rrTtl = u32(m, p[0] + 4);
            int rdlen = u16(m, p[0] + 8);
            p[0] += 10;
            need(len, p[0], rdlen);
            int end = p[0] + rdlen;
            if (cls == CLASS_IN && name == null && rrName.equalsIgnoreCase(owner)) {
                if (type == TYPE_PTR || type == TYPE_CNAME) {
                    int[] r = {p[0]};
                    String target = readName(m, len, r);
                    if (r[0] != end) {
                        throw new Malformed("rdata of " + rrName + " is " + rdlen + " bytes, its name " + (r[0] - p[0]));
                    }
                    ttl = Math.min(ttl, ttl(rrTtl));
                    if (type == TYPE_PTR) {
                        name = target;
                    } else if (++chain > MAX_CHAIN) {
                        throw new Malformed("more than " + MAX_CHAIN + " CNAMEs");
                    } else {
                        owner = target;
                    }
                }
            }
            p[0] = end;
        }
        if (name != null && !name.isEmpty()) { // a PTR to the root names nothing
            return new Answer(id, rcode, name, ttl);
        }
        // No name: the negative TTL is the smaller of the SOA's own TTL and its MINIMUM (RFC 2308, 5).
        long negative = -1;
        for (int i = 0; i < ns; i++) {
            readName(m, len, p);
            need(len, p[0], 10);
            int type = u16(m, p[0]);
            long rrTtl = u32(m, p[0] + 4);
            int rdlen = u16(m, p[0] + 8);
            p[0] += 10;
            need(len, p[0], rdlen);
            int end = p[0] + rdlen;
            if (type == TYPE_SOA && negative < 0) {
                int[] r = {p[0]};
                readName(m, len, r); // MNAME
                readName(m, len, r); // RNAME
                if (r[0] + 20 != end) {
                    throw new Malformed("SOA rdata of " + rdlen + " bytes does not end with its 5 numbers");
                }
                negative = Math.min(ttl(rrTtl), ttl(u32(m, r[0] + 16)));
            }
            p[0] = end;
        }
        return new Answer(id, rcode, null, negative);
    }

    /** RFC 2181: a TTL with the top bit set is 0. */
    private static long ttl(long raw) {
        return raw > Integer.MAX_VALUE ? 0 : raw;
    }

    /**
     * A name at p[0] (advanced past it), following compression pointers, which must point backwards.
     * Printable ASCII stays as it is; '.', '\' and other bytes are escaped as in zone files.
     */
    static String readName(byte[] m, int len, int[] p) throws Malformed {
        StringBuilder s = new StringBuilder();
        int pos = p[0];
        int after = -1; // where the name ends in the message, once a pointer was followed
        int jumps = 0;
        int wire = 1;
        while (true) {
            need(len, pos, 1);
            int l = m[pos] & 0xff;
            if (l == 0) {
                pos++;
                break;
            }
            if ((l & 0xc0) == 0xc0) {
                need(len, pos, 2);
                int target = ((l & 0x3f) << 8) | (m[pos + 1] & 0xff);
                if (target >= pos) {
                    throw new Malformed("compression pointer at " + pos + " does not point backwards");
                }
                if (++jumps > MAX_JUMPS) {
                    throw new Malformed("more than " + MAX_JUMPS + " compression pointers");
                }
                if (after < 0) {
                    after = pos + 2;
                }
                pos = target;
                continue;
            }
            if ((l & 0xc0) != 0) {
                throw new Malformed("label type " + (l >> 6) + " at " + pos);
            }
            need(len, pos, 1 + l);
            wire += 1 + l;
            if (wire > MAX_NAME) {
                throw new Malformed("name longer than " + MAX_NAME + " bytes");
            }
            if (!s.isEmpty()) {
                s.append('.');
            }
            for (int i = 0; i < l; i++) {
                int c = m[pos + 1 + i] & 0xff;
                if (c == '.' || c == '\\') {
                    s.append('\\').append((char) c);
                } else if (c > 0x20 && c < 0x7f) {
                    s.append((char) c);
                } else {
                    s.append('\\').append(String.format(Locale.ROOT, "%03d", c));
                }
            }
            pos += 1 + l;
        }
        p[0] = after >= 0 ? after : pos;
        return s.toString();
    }

    private static void need(int len, int pos, int n) throws Malformed {
        if (pos < 0 || n < 0 || pos + n > len) {
            throw new Malformed("truncated at byte " + pos + " (" + n + " more needed, message is " + len + ")");
        }
    }

    private static int u16(byte[] m, int p) {
        return (m[p] & 0xff) << 8 | (m[p + 1] & 0xff);
    }

    private static long u32(byte[] m, int p) {
        return (long) u16(m, p) << 16 | u16(m, p + 2);
    }
}
