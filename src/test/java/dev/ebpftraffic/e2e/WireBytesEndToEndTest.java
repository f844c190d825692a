package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.LinkStats;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.PacketSocket;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.Snapshot;
import dev.ebpftraffic.testing.Traffic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a packet's bytes are, on real veths: Ethernet padding is not counted (in either direction),
 * and a TCP transfer through a VXLAN tunnel counts the same wire bytes on the underlay whether the
 * vxlan device hands the underlay GSO skbs (tunnel GSO) or single segments.
 */
@KernelTest
@Timeout(180)
class WireBytesEndToEndTest {
    private static final Duration QUIET = Duration.ofMillis(1500);

    /**
     * Padded 60-byte frames (a 46-byte IPv4 UDP datagram and 14 bytes of padding), sent with packet
     * sockets into b's veth and out of it: the veth counts 60 bytes per frame, the exporter 46, on
     * ingress and on egress. The addresses are no one's, so nobody answers.
     */
    @Test
    void paddedShortFramesCountTheDatagramBothWays() {
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.85.0.1", "10.85.0.2", 24);
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "padding", "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
            exporter.awaitAttached(Duration.ofSeconds(30));
            LinkStats.awaitQuiet(net.b, net.ifB, QUIET, Duration.ofSeconds(20));
            Snapshot before = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));

            byte[] in = padded(Frames.ethernet().ipv4("10.85.0.77", "10.85.0.78").udp(7, 9).payload(4).build());
            byte[] out = padded(Frames.ethernet().ipv4("10.85.0.88", "10.85.0.89").udp(7, 9).payload(4).build());
            int n = 25;
            int m = 17;
            try (PacketSocket sa = PacketSocket.open(net.a, net.ifA); PacketSocket sb = PacketSocket.open(net.b, net.ifB)) {
                for (int i = 0; i < n; i++) {
                    sa.send(PacketSocket.withMacs(in, net.macB, net.macA));
                }
                for (int i = 0; i < m; i++) {
                    sb.send(PacketSocket.withMacs(out, net.macA, net.macB));
                }
            }
            LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(500), Duration.ofSeconds(20));
            Snapshot after = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));

            assertEquals(n, after.link().rxPackets() - before.link().rxPackets(), "frames b's veth received");
            assertEquals(60L * n, after.link().rxBytes() - before.link().rxBytes(), "the veth counts the padding");
            assertEquals(m, after.link().txPackets() - before.link().txPackets(), "frames b's veth sent");
            assertEquals(60L * m, after.link().txBytes() - before.link().txBytes(), "the veth counts the padding");
            String ctx = "\n" + after.metrics().text();
            assertEquals(n, pair(before, after, Traffic.PACKETS, "inbound", "10.85.0.77", "10.85.0.78"), ctx);
            assertEquals(46L * n, pair(before, after, Traffic.BYTES, "inbound", "10.85.0.77", "10.85.0.78"), ctx);
            assertEquals(m, pair(before, after, Traffic.PACKETS, "outbound", "10.85.0.88", "10.85.0.89"), ctx);
            assertEquals(46L * m, pair(before, after, Traffic.BYTES, "outbound", "10.85.0.88", "10.85.0.89"), ctx);
        }
    }

    private static byte[] padded(byte[] frame) {
        assertEquals(46, frame.length);
        return Arrays.copyOf(frame, 60);
    }

    // ---- VXLAN ------------------------------------------------------------------------------------

    private static final String UNDER_A = "10.86.0.1";
    private static final String UNDER_B = "10.86.0.2";
    private static final String OVER_A = "10.87.0.1";
    private static final String OVER_B = "10.87.0.2";
    /** Per wire segment of the transfer on the underlay: Ethernet, IPv4, UDP, VXLAN, inner Ethernet, IPv4, TCP with timestamps. */
    private static final int PER_SEGMENT = 14 + 20 + 8 + 8 + 14 + 20 + 32;

    /**
     * The same TCP transfer a -> b through VXLAN, watched by the exporter on b's underlay veth, with
     * TSO/GSO on the vxlan device in a (the underlay sees tunnel GSO skbs, segmented nowhere on the
     * way, as a veth takes them) and off (every segment encapsulated on its own). Both times the
     * exporter's totals on the underlay equal the kernel's own wire accounting, the qdisc statistics
     * on the sending veth (qdisc_pkt_len: gso_segs packets and the headers of every segment, inner
     * headers included), and, when nothing was retransmitted, the bytes from first principles:
     * payload + segments x {@value #PER_SEGMENT} + 8 (the SYN's longer options).
     */
    @Test
    void vxlanTransferCountsTheSameWireBytesWithAndWithoutTunnelGso() throws Exception {
        try (NetNs net = NetNs.pair()) {
            for (String ns : new String[] {net.a, net.b}) {
                NetNs.sysctls(ns, Map.of("net/ipv4/tcp_timestamps", "1", "net/ipv4/tcp_sack", "1",
                        "net/ipv4/tcp_window_scaling", "1", "net/ipv4/tcp_ecn", "0", "net/ipv4/tcp_early_retrans", "0"));
                String file = "/sys/class/net/" + (ns.equals(net.a) ? net.ifA : net.ifB) + "/queues/rx-0/rps_cpus";
                Cmd.run("ip", "netns", "exec", ns, "sh", "-c", "echo 1 > " + file).ok(); // one rx CPU: no reordering
            }
            net.addPair(UNDER_A, UNDER_B, 24);
            vxlan(net, net.a, net.ifA, UNDER_A, UNDER_B, OVER_A, "02:00:00:00:87:0b", OVER_B);
            vxlan(net, net.b, net.ifB, UNDER_B, UNDER_A, OVER_B, "02:00:00:00:87:0a", OVER_A);
            // Queues with statistics on both underlay ends: the kernel's wire accounting of what each sends.
            net.exec(net.a, "tc", "qdisc", "replace", "dev", net.ifA, "root", "pfifo", "limit", "10000").ok();
            net.exec(net.b, "tc", "qdisc", "replace", "dev", net.ifB, "root", "pfifo", "limit", "10000").ok();
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "vxlan", "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
            exporter.awaitAttached(Duration.ofSeconds(30));

            long[] withGso = transfer(net, exporter, true, 24 << 20);
            net.exec(net.a, "ethtool", "-K", "vx0", "tso", "off", "gso", "off").ok();
            long[] withoutGso = transfer(net, exporter, false, 24 << 20);
            System.out.printf("[vxlan] with tunnel GSO: %d packets, %d bytes (%.1f per packet); without: %d packets, %d bytes (%.1f per packet)%n",
                    withGso[0], withGso[1], (double) withGso[1] / withGso[0], withoutGso[0], withoutGso[1], (double) withoutGso[1] / withoutGso[0]);
        }
    }

    /** A vxlan device vx0 in ns over under, with its MAC set before the peer's overlay address is pinned (a MAC change flushes neighbours). */
    private static void vxlan(NetNs net, String ns, String under, String local, String remote, String overlay, String peerMac, String peerOverlay) {
        String mac = peerMac.substring(0, peerMac.length() - 1) + (peerMac.endsWith("b") ? "a" : "b");
        net.exec(ns, "ip", "link", "add", "vx0", "address", mac, "type", "vxlan", "id", "42", "local", local, "remote", remote,
                "dstport", "4789", "dev", under).ok();
        NetNs.sysctls(ns, Map.of("net/ipv6/conf/vx0/disable_ipv6", "1")); // no MLD through the tunnel
        net.exec(ns, "ip", "addr", "add", overlay + "/24", "dev", "vx0").ok();
        net.exec(ns, "ip", "link", "set", "vx0", "up").ok();
        // Pinned: no ARP through the tunnel, so every inbound packet on the underlay is a TCP segment.
        net.exec(ns, "ip", "neigh", "replace", peerOverlay, "lladdr", peerMac, "dev", "vx0", "nud", "permanent").ok();
    }

    /** Runs the transfer until one has no retransmission (at most 3 tries); returns {packets, bytes} inbound for the underlay pair. */
    private static long[] transfer(NetNs net, ExporterProcess exporter, boolean gso, int payload) throws Exception {
        for (int attempt = 1; ; attempt++) {
            long[] r = transferOnce(net, exporter, gso, payload, attempt == 3);
            if (r != null) {
                return r;
            }
            System.out.println("[vxlan] a retransmission on this loaded machine; running the transfer again");
        }
    }

    private static long[] transferOnce(NetNs net, ExporterProcess exporter, boolean gso, int payload, boolean last) throws Exception {
        LinkStats.awaitQuiet(net.b, net.ifB, QUIET, Duration.ofSeconds(20));
        Snapshot before = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
        long[] qa0 = qdisc(net.a, net.ifA);
        long[] qb0 = qdisc(net.b, net.ifB);
        Map<String, Long> a0 = LinkStats.protocolCounters(net.a);
        Map<String, Long> b0 = LinkStats.protocolCounters(net.b);

        assertEquals(payload, bulk(net, payload), "bytes the server in b received");

        LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(500), Duration.ofSeconds(20));
        Snapshot after = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
        long[] qa = qdisc(net.a, net.ifA);
        long[] qb = qdisc(net.b, net.ifB);
        Map<String, Long> a = LinkStats.changed(a0, LinkStats.protocolCounters(net.a));
        Map<String, Long> b = LinkStats.changed(b0, LinkStats.protocolCounters(net.b));
        long retrans = a.getOrDefault("Tcp.RetransSegs", 0L) + b.getOrDefault("Tcp.RetransSegs", 0L);

        long inPackets = after.sum(Traffic.PACKETS, net.ifB, "inbound") - before.sum(Traffic.PACKETS, net.ifB, "inbound");
        long inBytes = after.sum(Traffic.BYTES, net.ifB, "inbound") - before.sum(Traffic.BYTES, net.ifB, "inbound");
        long outPackets = after.sum(Traffic.PACKETS, net.ifB, "outbound") - before.sum(Traffic.PACKETS, net.ifB, "outbound");
        long outBytes = after.sum(Traffic.BYTES, net.ifB, "outbound") - before.sum(Traffic.BYTES, net.ifB, "outbound");
        long pairPackets = pair(before, after, Traffic.PACKETS, "inbound", UNDER_A, UNDER_B);
        long pairBytes = pair(before, after, Traffic.BYTES, "inbound", UNDER_A, UNDER_B);
        long skbs = after.link().rxPackets() - before.link().rxPackets();
        long vethBytes = after.link().rxBytes() - before.link().rxBytes();
        String mode = gso ? "tunnel GSO on" : "tunnel GSO off";
        System.out.printf("[vxlan] %s: a's qdisc %d packets / %d bytes, b's veth %d skbs / %d bytes; exporter inbound %d / %d"
                        + " (the pair %d / %d), outbound %d / %d, b's qdisc %d / %d; retransmissions %d%n",
                mode, qa[0] - qa0[0], qa[1] - qa0[1], skbs, vethBytes, inPackets, inBytes, pairPackets, pairBytes,
                outPackets, outBytes, qb[0] - qb0[0], qb[1] - qb0[1], retrans);
        String ctx = " (" + mode + ")\ncounters that changed in a: " + a + "\nin b: " + b + "\n" + after.metrics().text();

        // The kernel's accounting of what a sent is what the exporter counted arriving at b, and the other way.
        assertEquals(qa[0] - qa0[0], inPackets, "inbound packets == a's qdisc packets" + ctx);
        assertEquals(qa[1] - qa0[1], inBytes, "inbound bytes == a's qdisc bytes" + ctx);
        assertEquals(qb[0] - qb0[0], outPackets, "outbound packets == b's qdisc packets" + ctx);
        assertEquals(qb[1] - qb0[1], outBytes, "outbound bytes == b's qdisc bytes" + ctx);
        assertEquals(inPackets, pairPackets, "everything inbound was the tunnel's" + ctx);
        if (gso) {
            assertTrue(skbs * 4 < pairPackets, "expected tunnel GSO skbs: " + skbs + " skbs for " + pairPackets + " segments" + ctx);
        } else {
            assertEquals(pairPackets, skbs, "one skb per segment without tunnel GSO" + ctx);
            assertEquals(vethBytes, pairBytes, "the veth's bytes without GSO" + ctx);
        }
        if (retrans != 0 && !last) {
            return null;
        }
        assertEquals(0, retrans, "retransmissions" + ctx);
        assertEquals(payload + pairPackets * PER_SEGMENT + 8, pairBytes,
                "inbound bytes = payload + segments x " + PER_SEGMENT + " + 8" + ctx);
        return new long[] {pairPackets, pairBytes};
    }

    private static final Pattern QDISC = Pattern.compile("\"bytes\":(\\d+),\"packets\":(\\d+)");

    /** {packets, bytes} the root qdisc of dev has sent: gso_segs packets and qdisc_pkt_len bytes per skb. */
    private static long[] qdisc(String ns, String dev) {
        String json = Cmd.run("ip", "netns", "exec", ns, "tc", "-s", "-j", "qdisc", "show", "dev", dev, "root").ok().stdout();
        Matcher m = QDISC.matcher(json);
        assertTrue(m.find(), json);
        return new long[] {Long.parseLong(m.group(2)), Long.parseLong(m.group(1))};
    }

    private static long pair(Snapshot before, Snapshot after, String family, String dir, String src, String dst) {
        Predicate<Metrics.Sample> f = s -> dir.equals(s.label("direction")) && src.equals(s.label("src_ip")) && dst.equals(s.label("dst_ip"));
        return after.metrics().sum(family, f) - before.metrics().sum(family, f);
    }

    /** Sends payload bytes from OVER_A (in a) to a server on OVER_B (in b) over the tunnel; returns what the server read. */
    private static long bulk(NetNs net, int payload) throws Exception {
        InetSocketAddress target = new InetSocketAddress(NetNs.parse(OVER_B), 5201);
        try (ServerSocketChannel server = Setns.call(net.b, () -> ServerSocketChannel.open(StandardProtocolFamily.INET).bind(target))) {
            CompletableFuture<Long> sink = CompletableFuture.supplyAsync(() -> {
                try (SocketChannel c = server.accept()) {
                    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                    long n = 0;
                    for (int r; (r = c.read(buf.clear())) >= 0; ) {
                        n += r;
                    }
                    return n;
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try (SocketChannel c = Setns.call(net.a, () -> {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.INET);
                ch.bind(new InetSocketAddress(NetNs.parse(OVER_A), 0));
                return ch;
            })) {
                c.connect(target);
                ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                for (int left = payload; left > 0; ) {
                    chunk.clear().limit(Math.min(left, chunk.capacity()));
                    left -= c.write(chunk);
                }
                c.shutdownOutput();
                long got = sink.get(60, TimeUnit.SECONDS);
                assertEquals(-1, c.read(ByteBuffer.allocate(1)), "server sent nothing");
                return got;
            }
        }
    }
}
