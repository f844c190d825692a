package dev.ebpftraffic.dns;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The resolver's socket on loopback, with the test as the DNS server: only the answer from the
 * server asked, with the query's id, to the question asked, counts.
 */
class ReverseDnsTest {
    static ReverseDns.Settings settings(InetSocketAddress server, Duration timeout) {
        return new ReverseDns.Settings(List.of(server), 100, 20, timeout, Duration.ofSeconds(10), Duration.ofDays(1),
                Duration.ofMinutes(5), Duration.ofSeconds(30));
    }

    /** Waits for one query; returns {id, source} and checks it is the PTR query for qname. */
    static Object[] query(DatagramChannel server, String qname) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(512);
        server.configureBlocking(true);
        server.socket().setSoTimeout(5000);
        SocketAddress from = server.receive(b);
        assertNotNull(from);
        byte[] m = java.util.Arrays.copyOf(b.array(), b.position());
        int id = DnsMessage.id(m, m.length);
        assertEquals(java.util.HexFormat.of().formatHex(DnsMessage.query(id, qname)), java.util.HexFormat.of().formatHex(m));
        return new Object[] {id, from};
    }

    static byte[] answer(int id, String qname, String name) {
        DnsMessageTest.Msg m = new DnsMessageTest.Msg().header(id, 0x8180, 1, 1, 0, 0).question(qname, 12);
        return DnsMessageTest.rr(m, 12, 300, new DnsMessageTest.Msg().name(name)).bytes();
    }

    static String await(ReverseDns r, String ip, long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000;
        String n;
        while ((n = r.lookup(ip)) == null && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return n;
    }

    @Test
    void onlyTheRightAnswerFromTheServerAskedCounts() throws Exception {
        try (DatagramChannel server = DatagramChannel.open(); DatagramChannel spoofer = DatagramChannel.open()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            spoofer.bind(new InetSocketAddress("127.0.0.1", 0));
            try (ReverseDns r = ReverseDns.start(settings((InetSocketAddress) server.getLocalAddress(), Duration.ofSeconds(5)), m -> { })) {
                String qname = "1.0.77.10.in-addr.arpa";
                assertNull(r.lookup("10.77.0.1"));
                Object[] q = query(server, qname);
                int id = (int) q[0];
                SocketAddress client = (SocketAddress) q[1];
                spoofer.send(ByteBuffer.wrap(answer(id, qname, "spoofed.test")), client); // another source port
                server.send(ByteBuffer.wrap(answer(id ^ 1, qname, "wrong-id.test")), client);
                server.send(ByteBuffer.wrap(answer(id, "2.0.77.10.in-addr.arpa", "other-question.test")), client);
                server.send(ByteBuffer.wrap(new byte[] {(byte) (id >> 8), (byte) id, (byte) 0x81, (byte) 0x80, 0, 1, 0, 1}), client);
                byte[] bad = answer(id, qname, "truncated.test");
                server.send(ByteBuffer.wrap(java.util.Arrays.copyOf(bad, bad.length - 3)), client);
                Thread.sleep(300);
                assertNull(r.lookup("10.77.0.1"), "nothing above counts");
                assertEquals(0, r.stats().names());
                server.send(ByteBuffer.wrap(answer(id, qname, "alpha.test")), client);
                assertEquals("alpha.test", await(r, "10.77.0.1", 3000));
                ReverseDns.Stats s = r.stats();
                assertEquals(1, s.queries());
                assertEquals(1, s.names());
                assertEquals(0, s.timeouts());

                // SERVFAIL: an error, retried only after the failure TTL; an IPv6 query has its ip6.arpa name.
                assertNull(r.lookup("fd00:77::1"));
                String q6 = DnsMessage.ptrName(java.net.InetAddress.ofLiteral("fd00:77::1"));
                Object[] q2 = query(server, q6);
                byte[] fail = new DnsMessageTest.Msg().header((int) q2[0], 0x8182, 1, 0, 0, 0).question(q6, 12).bytes();
                server.send(ByteBuffer.wrap(fail), (SocketAddress) q2[1]);
                long deadline = System.nanoTime() + 3_000_000_000L;
                while (r.stats().errors() == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertEquals(1, r.stats().errors());
                assertNull(r.lookup("fd00:77::1"));
                assertEquals(2, r.stats().queries(), "not asked again within the failure TTL");
            }
        }
    }
}
