package dev.ebpftraffic.testing;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** UDP between namespaces, with a sink bound first so that nothing answers with ICMP. */
public final class Udp {
    private Udp() {
    }

    /** A bound, non-blocking UDP socket in ns (wildcard address when bind is null). */
    public static DatagramChannel sink(String ns, String bind, int port, boolean v6) {
        return Setns.call(ns, () -> {
            ProtocolFamily fam = v6 ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET;
            DatagramChannel c = DatagramChannel.open(fam);
            c.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 22);
            c.bind(bind == null ? new InetSocketAddress(port) : new InetSocketAddress(NetNs.parse(bind), port));
            c.configureBlocking(false);
            return c;
        });
    }

    /** Datagrams waiting in sink (reads them all, waiting up to waitMillis for the first one). */
    public static int drain(DatagramChannel sink, long waitMillis) {
        try {
            ByteBuffer buf = ByteBuffer.allocate(65536);
            int n = 0;
            long deadline = System.currentTimeMillis() + waitMillis;
            while (true) {
                buf.clear();
                SocketAddress from = sink.receive(buf);
                if (from != null) {
                    n++;
                    continue;
                }
                if (System.currentTimeMillis() >= deadline) {
                    return n;
                }
                Thread.sleep(5);
            }
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Sends count datagrams with payload bytes from src (in srcNs) to dst:port (in dstNs) and asserts
     * that all of them arrived.
     */
    public static void send(String srcNs, String src, String dstNs, String dst, int port, int count, int payload) {
        InetAddress d = NetNs.parse(dst);
        boolean v6 = !(d instanceof Inet4Address);
        try (DatagramChannel sink = sink(dstNs, dst, port, v6)) {
            Setns.run(srcNs, () -> {
                try (DatagramChannel c = DatagramChannel.open(v6 ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET)) {
                    c.bind(new InetSocketAddress(NetNs.parse(src), 0));
                    for (int i = 0; i < count; i++) {
                        assertEquals(payload, c.send(ByteBuffer.allocate(payload), new InetSocketAddress(d, port)));
                    }
                }
            });
            int got = 0;
            long deadline = System.currentTimeMillis() + 5000;
            while (got < count && System.currentTimeMillis() < deadline) {
                got += drain(sink, 50);
            }
            assertEquals(count, got, "datagrams " + src + " -> " + dst + ":" + port + " that arrived");
            assertEquals(0, drain(sink, 20), "an extra datagram arrived at " + dst);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
