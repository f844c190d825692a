package dev.ebpftraffic.dns;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class DnsMessageTest {
    static final String Q4 = "1.0.77.10.in-addr.arpa";

    /** A DNS message written byte by byte, as a server would. */
    static final class Msg {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Msg u8(int v) {
            out.write(v);
            return this;
        }

        Msg u16(int v) {
            return u8(v >> 8 & 0xff).u8(v & 0xff);
        }

        Msg u32(long v) {
            return u16((int) (v >> 16) & 0xffff).u16((int) v & 0xffff);
        }

        Msg name(String dotted) {
            for (String l : dotted.split("\\.")) {
                byte[] b = l.getBytes(StandardCharsets.ISO_8859_1);
                u8(b.length);
                out.writeBytes(b);
            }
            return u8(0);
        }

        /** Labels, then a compression pointer to offset. */
        Msg nameThen(String labels, int offset) {
            for (String l : labels.split("\\.")) {
                byte[] b = l.getBytes(StandardCharsets.ISO_8859_1);
                u8(b.length);
                out.writeBytes(b);
            }
            return pointer(offset);
        }

        Msg pointer(int offset) {
            return u16(0xc000 | offset);
        }

        Msg header(int id, int flags, int qd, int an, int ns, int ar) {
            return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
        }

        Msg question(String qname, int type) {
            return name(qname).u16(type).u16(1);
        }

        int size() {
            return out.size();
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    static DnsMessage.Answer parse(byte[] m, String qname) throws DnsMessage.Malformed {
        return DnsMessage.parse(m, m.length, qname);
    }

    @Test
    void ptrNamesForIpv4AndIpv6() throws Exception {
        assertEquals(Q4, DnsMessage.ptrName(InetAddress.ofLiteral("10.77.0.1")));
        assertEquals("255.2.0.192.in-addr.arpa", DnsMessage.ptrName(InetAddress.ofLiteral("192.0.2.255")));
        assertEquals("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.7.0.0.0.0.d.f.ip6.arpa",
                DnsMessage.ptrName(InetAddress.ofLiteral("fd00:77::1")));
        assertEquals("7.6.5.4.3.2.1.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.0.8.b.d.0.1.0.0.2.ip6.arpa",
                DnsMessage.ptrName(InetAddress.ofLiteral("2001:db8:123:4567:89ab:cdef:123:4567")));
    }

    @Test
    void queryIsOneRecursivePtrQuestion() {
        byte[] q = DnsMessage.query(0xbeef, Q4);
        byte[] want = new Msg().header(0xbeef, 0x0100, 1, 0, 0, 0).question(Q4, 12).bytes();
        assertArrayEquals(want, q);
    }

    /** A resource record of class IN whose owner is a pointer to offset 12 (the question's name). */
    static Msg rr(Msg m, int type, long ttl, Msg rdata) {
        m.pointer(12).u16(type).u16(1).u32(ttl).u16(rdata.size()).out.writeBytes(rdata.bytes());
        return m;
    }

    @Test
    void answerWithCompressionPointers() throws Exception {
        // Offsets: the question's name at 12 ("1" 12, "0" 14, "77" 16, "10" 19, "in-addr" 22, "arpa" 30),
        // the first answer's rdata at 52 ("alpha" 52, "test" 58), the second's at 76.
        Msg m = new Msg().header(7, 0x8180, 1, 3, 0, 0).question(Q4, 12);
        assertEquals(40, m.size());
        rr(m, 12, 3600, new Msg().name("alpha.test"));
        assertEquals(64, m.size());
        rr(m, 12, 60, new Msg().nameThen("beta", 58));
        rr(m, 12, 60, new Msg().pointer(76));
        assertEquals(new DnsMessage.Answer(7, 0, "alpha.test", 3600), parse(m.bytes(), Q4), "the first PTR is taken");

        // A name that ends in a pointer; one that is a pointer to a name that ends in a pointer.
        Msg a = new Msg().header(9, 0x8180, 1, 1, 0, 0).question(Q4, 12);
        rr(a, 12, 5, new Msg().nameThen("gw", 16));
        assertEquals(new DnsMessage.Answer(9, 0, "gw.77.10.in-addr.arpa", 5), parse(a.bytes(), Q4));
        int betaAt = 40 + "x.arpa".length() + 2 + 10;
        Msg c = new Msg().header(11, 0x8180, 1, 2, 0, 0).question(Q4, 12);
        c.name("x.arpa").u16(12).u16(1).u32(9).u16(1 + 4 + 2).nameThen("beta", 30); // "beta.arpa", not ours
        rr(c, 12, 7, new Msg().pointer(betaAt));
        assertEquals(new DnsMessage.Answer(11, 0, "beta.arpa", 7), parse(c.bytes(), Q4.toUpperCase(java.util.Locale.ROOT)),
                "two jumps; names compare case-insensitively");
    }

    @Test
    void cnameOfClasslessDelegationIsFollowed() throws Exception {
        Msg m = new Msg().header(1, 0x8180, 1, 2, 0, 0).question(Q4, 12);
        String target = "1.0/25.0.77.10.in-addr.arpa";
        m.name(Q4).u16(5).u16(1).u32(300).u16(target.length() + 2).name(target);
        m.name(target).u16(12).u16(1).u32(900).u16("host.test".length() + 2).name("host.test");
        DnsMessage.Answer a = parse(m.bytes(), Q4);
        assertEquals("host.test", a.name());
        assertEquals(300, a.ttlSeconds(), "the smallest TTL of the chain");
    }

    @Test
    void nxdomainTakesTheNegativeTtlFromTheSoa() throws Exception {
        Msg m = new Msg().header(2, 0x8183, 1, 0, 1, 0).question(Q4, 12);
        Msg soa = new Msg().name("ns.test").name("admin.test").u32(1).u32(3600).u32(600).u32(86400).u32(120);
        m.name("10.in-addr.arpa").u16(6).u16(1).u32(900).u16(soa.size()).out.writeBytes(soa.bytes());
        DnsMessage.Answer a = parse(m.bytes(), Q4);
        assertEquals(new DnsMessage.Answer(2, DnsMessage.RCODE_NXDOMAIN, null, 120), a);
        // TTL of the SOA record itself smaller than MINIMUM: that one
        Msg m2 = new Msg().header(3, 0x8180, 1, 0, 1, 0).question(Q4, 12);
        m2.name("10.in-addr.arpa").u16(6).u16(1).u32(30).u16(soa.size()).out.writeBytes(soa.bytes());
        assertEquals(new DnsMessage.Answer(3, 0, null, 30), parse(m2.bytes(), Q4));
        // no SOA: unknown
        byte[] bare = new Msg().header(4, 0x8183, 1, 0, 0, 0).question(Q4, 12).bytes();
        assertEquals(new DnsMessage.Answer(4, 3, null, -1), parse(bare, Q4));
    }

    @Test
    void oddBytesInNamesAreEscapedNeverPassedOn() throws Exception {
        Msg m = new Msg().header(5, 0x8180, 1, 1, 0, 0).question(Q4, 12);
        rr(m, 12, 60, new Msg().name("a\u001b]b.c\\d.test"));
        String name = parse(m.bytes(), Q4).name();
        assertEquals("a\\027]b.c\\\\d.test", name);
        assertTrue(name.chars().allMatch(c -> c > 0x20 && c < 0x7f), name);
    }

    @Test
    void aRecordForAnotherNameOrTypeIsNotTaken() throws Exception {
        Msg m = new Msg().header(6, 0x8180, 1, 2, 0, 0).question(Q4, 12);
        m.name("2.0.77.10.in-addr.arpa").u16(12).u16(1).u32(60).u16(8).name("x.test"); // another owner
        m.name(Q4).u16(16).u16(1).u32(60).u16(3).u8(2).u8('h').u8('i'); // TXT
        assertNull(parse(m.bytes(), Q4).name());
    }

    @Test
    void malformedAnswersAreRefused() {
        byte[] ok = new Msg().header(7, 0x8180, 1, 1, 0, 0).question(Q4, 12)
                .name(Q4).u16(12).u16(1).u32(60).u16(8).name("x.test").bytes();
        // the good one parses
        try {
            assertEquals("x.test", parse(ok, Q4).name());
        } catch (DnsMessage.Malformed e) {
            fail(e);
        }
        // every truncation is refused
        for (int len = 0; len < ok.length; len++) {
            int n = len;
            assertThrows(DnsMessage.Malformed.class, () -> DnsMessage.parse(ok, n, Q4), "truncated to " + n);
        }
        // a pointer to itself, a pointer forward, a pointer loop
        Msg self = new Msg().header(7, 0x8180, 1, 1, 0, 0).question(Q4, 12);
        self.pointer(self.size()).u16(12).u16(1).u32(60).u16(2).pointer(12);
        assertThrows(DnsMessage.Malformed.class, () -> parse(self.bytes(), Q4));
        Msg fwd = new Msg().header(7, 0x8180, 1, 1, 0, 0).question(Q4, 12);
        fwd.name(Q4).u16(12).u16(1).u32(60).u16(2).pointer(fwd.size() + 8);
        assertThrows(DnsMessage.Malformed.class, () -> parse(fwd.bytes(), Q4));
        // the wrong question, a query instead of a response, two questions, a bad label type
        assertThrows(DnsMessage.Malformed.class, () -> parse(ok, "2.0.77.10.in-addr.arpa"));
        byte[] query = ok.clone();
        query[2] &= 0x7f;
        assertThrows(DnsMessage.Malformed.class, () -> parse(query, Q4));
        byte[] two = ok.clone();
        two[5] = 2;
        assertThrows(DnsMessage.Malformed.class, () -> parse(two, Q4));
        byte[] label = ok.clone();
        label[12] = 0x41; // label type 01
        assertThrows(DnsMessage.Malformed.class, () -> parse(label, Q4));
        // rdata length that disagrees with the name in it
        byte[] rdlen = ok.clone();
        rdlen[ok.length - 8 - 1] = 9;
        assertThrows(DnsMessage.Malformed.class, () -> parse(rdlen, Q4));
        // a name longer than 255 bytes
        Msg big = new Msg().header(7, 0x8180, 1, 1, 0, 0).question(Q4, 12);
        String longName = ("a".repeat(63) + ".").repeat(4) + "x";
        big.name(Q4).u16(12).u16(1).u32(60).u16(longName.length() + 2).name(longName);
        assertThrows(DnsMessage.Malformed.class, () -> parse(big.bytes(), Q4));
    }

    @Test
    void randomBytesNeverThrowAnythingButMalformed() {
        byte[] ok = new Msg().header(7, 0x8180, 1, 1, 1, 0).question(Q4, 12)
                .name(Q4).u16(12).u16(1).u32(60).u16(8).name("x.test")
                .name("10.in-addr.arpa").u16(6).u16(1).u32(30).u16(2 + 2 + 20).u8(0).u8(0).u32(1).u32(2).u32(3).u32(4).u32(5)
                .bytes();
        Random r = new Random(42);
        int parsed = 0;
        for (int i = 0; i < 200_000; i++) {
            byte[] m = ok.clone();
            for (int k = 1 + r.nextInt(4); k > 0; k--) {
                m[r.nextInt(m.length)] = (byte) r.nextInt(256);
            }
            int len = r.nextInt(8) == 0 ? r.nextInt(m.length + 1) : m.length;
            try {
                DnsMessage.parse(m, len, Q4);
                parsed++;
            } catch (DnsMessage.Malformed e) {
                // refused: fine
            } catch (RuntimeException e) {
                fail("message " + java.util.HexFormat.of().formatHex(m, 0, len) + " threw " + e, e);
            }
        }
        assertTrue(parsed > 0, "some mutations still parse");
    }
}
