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
import dev.ebpftraffic.testing.Traffic.Ping;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conservation: what the exporter reports adds up to what the kernel says the interface carried.
 *
 * <ul>
 *   <li>Against the interface counters: on b's veth end, for each direction, the growth of
 *       network_traffic_*_total over ALL series ("other" included) plus
 *       ebpf_traffic_exporter_skipped_*_total equals the growth of rx (inbound) or tx (outbound)
 *       packets and bytes. A veth counts one packet per skb and skb->len bytes (Ethernet header
 *       included), exactly what the hook counts for a non-GSO skb, so this holds frame for frame.</li>
 *   <li>Against TCP's segment counters, for bulk transfers with TSO/GSO (multi-segment skbs made by
 *       the sender) and with GRO (made by the receiving veth's NAPI): wire segments, not skbs, and
 *       bytes as the segments carry them on the wire.</li>
 * </ul>
 */
@KernelTest
@Timeout(120)
class ConservationTest {
    private static final Duration QUIET = Duration.ofMillis(1500);
    private static final String INBOUND = "inbound";
    private static final String OUTBOUND = "outbound";
    private static final String SKIPPED_PACKETS = "ebpf_traffic_exporter_skipped_packets_total";
    private static final String SKIPPED_BYTES = "ebpf_traffic_exporter_skipped_bytes_total";

    /** a side, b side, prefix length: private and documentation ranges, IPv4 and IPv6. */
    private static final List<String[]> PAIRS = List.of(
            new String[] {"10.79.0.1", "10.79.0.2", "24"},
            new String[] {"172.16.79.1", "172.16.79.2", "24"},
            new String[] {"192.168.79.1", "192.168.79.2", "24"},
            new String[] {"192.0.2.1", "192.0.2.2", "24"},
            new String[] {"203.0.113.1", "203.0.113.2", "24"},
            new String[] {"fd00:79::1", "fd00:79::2", "64"},
            new String[] {"2001:db8:79::1", "2001:db8:79::2", "64"});

    @Test
    void interfaceCountersEqualExportedTotalsPlusSkipped() {
        try (NetNs net = NetNs.pair()) {
            for (String[] p : PAIRS) {
                net.addPair(p[0], p[1], Integer.parseInt(p[2]));
            }
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "conservation",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
            exporter.awaitAttached(Duration.ofSeconds(30));
            LinkStats.awaitQuiet(net.b, net.ifB, QUIET, Duration.ofSeconds(20));
            Snapshot before = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));

            // IP traffic: UDP of many sizes (those above the MTU leave as IP fragments), both ways, and pings.
            Traffic traffic = new Traffic(net);
            int port = 41000;
            for (String[] p : PAIRS) {
                traffic.udp(true, p[0], p[1], port++, Map.of(0, 2, 1, 3, 18, 2, 100, 4, 512, 3, 1000, 2,
                        1452, 2, 1472, 1, 4000, 2, 9000, 1));
                traffic.udp(false, p[1], p[0], port++, Map.of(0, 1, 60, 3, 777, 2, 1200, 2, 3000, 1));
            }
            traffic.ping(PAIRS.stream().flatMap(p -> Stream.of(new Ping(true, p[0], p[1], 2), new Ping(false, p[1], p[0], 2)))
                    .toArray(Ping[]::new));

            // Frames the hook must not attribute to an IP pair, sent as they are with packet sockets.
            // No VLAN-tagged frames here: the stack strips an in-frame tag on receive (skb_vlan_untag)
            // before the TC ingress hook, so the hook's skb->len is 4 bytes short of the veth's rx count
            // per tagged inbound frame (README: an offloaded tag is not counted).
            RawFrames fromA = RawFrames.of(net.macB, net.macA, "10.79.0.1", "10.79.0.2", "fd00:79::1", "fd00:79::2");
            RawFrames fromB = RawFrames.of(net.macA, net.macB, "10.79.0.2", "10.79.0.1", "fd00:79::2", "fd00:79::1");
            try (PacketSocket sa = PacketSocket.open(net.a, net.ifA); PacketSocket sb = PacketSocket.open(net.b, net.ifB)) {
                fromA.all().forEach(sa::send);
                fromB.all().forEach(sb::send);
                // An ARP request for b's own address: b answers, and that reply is traffic like any other.
                sa.send(PacketSocket.withMacs(Frames.ethernet().arp("10.79.0.1", "10.79.0.2").build(), "ff:ff:ff:ff:ff:ff", net.macA));
            }

            LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(500), Duration.ofSeconds(20));
            Snapshot after = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
            // rx_dropped grows by the frames b's stack had no handler for (LLDP, unknown ethertypes): they were
            // received and seen by the hook first. A tx drop would be a frame the hook saw that never left.
            assertEquals(before.link().txDropped(), after.link().txDropped(), "tx drops on " + net.ifB);

            String iface = net.ifB;
            long[] in = check(before, after, iface, INBOUND, after.link().rxPackets() - before.link().rxPackets(),
                    after.link().rxBytes() - before.link().rxBytes());
            long[] out = check(before, after, iface, OUTBOUND, after.link().txPackets() - before.link().txPackets(),
                    after.link().txBytes() - before.link().txBytes());
            System.out.printf("[conservation] %s inbound: %d packets / %d bytes, outbound: %d packets / %d bytes"
                            + " (rx_dropped by b's stack after the hook: %d)%n",
                    iface, in[0], in[1], out[0], out[1], after.link().rxDropped() - before.link().rxDropped());

            // The skipped frames are attributed exactly: what a sent is all b saw that was not IP or malformed.
            assertSkipped(before, after, iface, INBOUND, "malformed", fromA.malformed());
            assertSkipped(before, after, iface, INBOUND, "non_ip", concat(fromA.nonIp(), List.of(
                    Frames.ethernet().arp("10.79.0.1", "10.79.0.2").build())));
            assertSkipped(before, after, iface, OUTBOUND, "malformed", fromB.malformed());
            long arpReply = 14 + 28; // b's answer to the ARP request, unpadded on a veth
            assertEquals(fromB.nonIp().size() + 1, delta(before, after, SKIPPED_PACKETS, iface, OUTBOUND, "non_ip"),
                    "outbound non-IP frames: ours and b's ARP reply");
            assertEquals(bytes(fromB.nonIp()) + arpReply, delta(before, after, SKIPPED_BYTES, iface, OUTBOUND, "non_ip"));

            // The test moved real volume in both directions: a conservation over nothing proves nothing.
            assertTrue(in[0] > 200 && out[0] > 100, "inbound " + in[0] + ", outbound " + out[0] + " packets");
        }
    }

    /**
     * A bulk TCP transfer a -> b with TSO/GSO on, over IPv4 and IPv6. The sender hands the veth
     * skbs of up to 64 KB (gso_segs segments each), which reach b's ingress hook as they are.
     * The exporter must count wire segments, which TCP counts too: per transmitted skb it adds
     * tcp_skb_pcount (= gso_segs) to OutSegs, or to RetransSegs for a retransmission. So inbound
     * packets for (a, b) == growth of a's OutSegs + RetransSegs, outbound for (b, a) == b's.
     * (b's InSegs is no oracle here: on this kernel tcp_v4_rcv/tcp_v6_rcv add one per received skb,
     * whatever its gso_segs, as measured: 34,770 segments in 788 skbs gave InSegs 788; it must
     * equal the skbs the veth delivered.)
     *
     * <p>Bytes, per wire segment: 14 (Ethernet) + 20 or 40 (IPv4 / IPv6) + 32 (TCP header with the
     * 12-byte timestamp option, on every segment once negotiated) + payload; the SYN and SYN-ACK
     * carry MSS, SACK-permitted, timestamp and window-scale options: a 40-byte TCP header, 8 more.
     * With no retransmission, inbound bytes = payload + segments x (14 + L3 + 32) + 8 and outbound
     * bytes = segments x (14 + L3 + 32) + 8 (b sends no data, and its ACKs carry no SACK blocks when
     * nothing arrived out of order). The header sizes are checked against the kernel's own veth byte
     * counter, which counts skbs: rx bytes = payload + skbs x (14 + L3 + 32) + 8. Independently of
     * retransmissions: exporter bytes = veth bytes + (segments - skbs) x (14 + L3 + 32), the headers
     * the extra segments of each GSO skb repeat.
     *
     * <p>Both veth ends steer receive processing to CPU 0 (RPS): without that, skbs sent from two
     * CPUs land in two per-CPU backlogs and arrive reordered, TCP retransmits spuriously (DSACK),
     * and the payload on the wire is no longer just what was sent.
     */
    @Test
    void tcpBulkTransferCountsWireSegmentsWithGso() throws Exception {
        try (NetNs net = tcpPair()) {
            String offloads = offloads(net.a, net.ifA) + offloads(net.b, net.ifB);
            System.out.print("[gso] offloads:\n" + offloads);
            assertTrue(offloads.contains(net.ifA + " tcp-segmentation-offload: on"), offloads);
            assertTrue(offloads.contains(net.ifA + " generic-segmentation-offload: on"), offloads);
            ExporterProcess exporter = tcpExporter(net);
            transfer(net, exporter, Offload.TSO, "10.80.0.1", "10.80.0.2", 20, 48 << 20);
            transfer(net, exporter, Offload.TSO, "fd00:80::1", "fd00:80::2", 40, 24 << 20);
        }
    }

    /**
     * The same with GRO instead: a sends MSS-sized skbs (TSO and GSO off on its veth), b's veth
     * has GRO on, so its NAPI merges them before the ingress hook, which sees skbs with gso_segs
     * built by GRO. The veth counts the frames before GRO: one per wire segment, with their bytes,
     * so here the exporter's inbound packets must equal the veth's rx packets, and its bytes the veth's rx
     * bytes plus 14 per frame (in NAPI mode the veth counts rx bytes after the Ethernet header was pulled).
     */
    @Test
    void tcpBulkTransferCountsWireSegmentsWithGro() throws Exception {
        try (NetNs net = tcpPair()) {
            net.exec(net.a, "ethtool", "-K", net.ifA, "tso", "off", "gso", "off").ok();
            net.exec(net.b, "ethtool", "-K", net.ifB, "gro", "on").ok();
            // With GRO on, b's veth queues frames in a 256-entry ring for its NAPI; behind noqueue, a full ring
            // drops them (seen: hundreds per transfer). A qdisc on a's end lets the veth push back instead.
            Cmd.run("ip", "netns", "exec", net.a, "tc", "qdisc", "replace", "dev", net.ifA, "root", "pfifo", "limit", "1000").ok();
            String offloads = offloads(net.a, net.ifA) + offloads(net.b, net.ifB);
            System.out.print("[gro] offloads:\n" + offloads);
            assertTrue(offloads.contains(net.ifA + " tcp-segmentation-offload: off"), offloads);
            assertTrue(offloads.contains(net.ifB + " generic-receive-offload: on"), offloads);
            ExporterProcess exporter = tcpExporter(net);
            transfer(net, exporter, Offload.GRO, "10.80.0.1", "10.80.0.2", 20, 32 << 20);
            transfer(net, exporter, Offload.GRO, "fd00:80::1", "fd00:80::2", 40, 16 << 20);
        }
    }

    /** Where the multi-segment skbs come from. */
    private enum Offload { TSO, GRO }

    /** A namespace pair for the TCP tests: fixed TCP options, no TLP, receive steered to one CPU, two address pairs. */
    private static NetNs tcpPair() {
        NetNs net = NetNs.pair();
        try {
            for (String ns : List.of(net.a, net.b)) {
                // Set explicitly: the header sizes in the byte formula depend on these options. No tail loss
                // probes (tcp_early_retrans 0): an ACK delayed by a busy CPU would otherwise trigger a
                // retransmission of the last segment, and the wire would carry more than the payload sent.
                NetNs.sysctls(ns, Map.of("net/ipv4/tcp_timestamps", "1", "net/ipv4/tcp_sack", "1",
                        "net/ipv4/tcp_window_scaling", "1", "net/ipv4/tcp_ecn", "0", "net/ipv4/tcp_early_retrans", "0"));
            }
            steerReceiveToCpu0(net.a, net.ifA);
            steerReceiveToCpu0(net.b, net.ifB);
            net.addPair("10.80.0.1", "10.80.0.2", 24);
            net.addPair("fd00:80::1", "fd00:80::2", 64);
            return net;
        } catch (RuntimeException | Error e) {
            net.close();
            throw e;
        }
    }

    private static ExporterProcess tcpExporter(NetNs net) {
        ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "tcp",
                "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
        exporter.awaitAttached(Duration.ofSeconds(30));
        return exporter;
    }

    /** RPS on the veth's only rx queue, to CPU 0: one backlog, so frames arrive in the order they were sent. */
    private static void steerReceiveToCpu0(String ns, String dev) {
        // ip netns exec mounts the namespace's own /sys, where dev is visible.
        String file = "/sys/class/net/" + dev + "/queues/rx-0/rps_cpus";
        Cmd.run("ip", "netns", "exec", ns, "sh", "-c", "echo 1 > " + file).ok();
        String mask = Cmd.run("ip", "netns", "exec", ns, "cat", file).ok().stdout().trim();
        assertTrue(mask.matches("0*[,0]*1"), file + " = " + mask);
    }

    private static String offloads(String ns, String dev) {
        Cmd.Result r = Cmd.run("ip", "netns", "exec", ns, "ethtool", "-k", dev).ok();
        StringBuilder out = new StringBuilder();
        r.stdout().lines().map(String::trim)
                .filter(l -> l.matches("(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|rx-gro-hw|large-receive-offload):.*"))
                .forEach(l -> out.append(dev).append(' ').append(l).append('\n'));
        return out.toString();
    }

    /**
     * Runs transferOnce until a run has no retransmission or drop (at most 3 times): every run checks
     * the exporter against the kernel's counters; the payload formula needs a clean run.
     */
    private static void transfer(NetNs net, ExporterProcess exporter, Offload mode, String addrA, String addrB, int l3,
                                 int payload) throws Exception {
        for (int attempt = 1; !transferOnce(net, exporter, mode, addrA, addrB, l3, payload, attempt == 3); attempt++) {
            System.out.println("[" + mode + "] a retransmission or drop on this loaded machine; running the transfer again");
        }
    }

    /** Returns false, after the counter checks, when TCP retransmitted or the veth dropped and this is not the last try. */
    private static boolean transferOnce(NetNs net, ExporterProcess exporter, Offload mode, String addrA, String addrB, int l3,
                                        int payload, boolean lastAttempt) throws Exception {
        LinkStats.awaitQuiet(net.b, net.ifB, QUIET, Duration.ofSeconds(20));
        Snapshot before = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
        Thread.sleep(300); // the scrape's own TCP on b's loopback is over before the segment counters are read
        Map<String, Long> a0 = LinkStats.protocolCounters(net.a);
        Map<String, Long> b0 = LinkStats.protocolCounters(net.b);
        LinkStats linkA0 = LinkStats.read(net.a, net.ifA);

        long received = bulk(net, addrA, addrB, payload);
        assertEquals(payload, received, "bytes the server in b received");

        Thread.sleep(300); // the last ACK is through
        Map<String, Long> a = LinkStats.changed(a0, LinkStats.protocolCounters(net.a));
        Map<String, Long> b = LinkStats.changed(b0, LinkStats.protocolCounters(net.b));
        // Segments a's veth dropped (a full NAPI ring at b) were counted by TCP but never reached b's hook.
        long dropsA = LinkStats.read(net.a, net.ifA).txDropped() - linkA0.txDropped();
        LinkStats link = LinkStats.read(net.b, net.ifB);
        Snapshot after = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
        assertEquals(link, after.link(), "nothing crossed the veth between the TCP counters and the scrape");

        long outSegsA = a.getOrDefault("Tcp.OutSegs", 0L);
        long retransA = a.getOrDefault("Tcp.RetransSegs", 0L);
        long outSegsB = b.getOrDefault("Tcp.OutSegs", 0L);
        long retransB = b.getOrDefault("Tcp.RetransSegs", 0L);
        long inSegsB = b.getOrDefault("Tcp.InSegs", 0L);
        long inSegsA = a.getOrDefault("Tcp.InSegs", 0L);
        long skbsIn = after.link().rxPackets() - before.link().rxPackets();
        long skbsOut = after.link().txPackets() - before.link().txPackets();
        long rxBytes = after.link().rxBytes() - before.link().rxBytes();
        long txBytes = after.link().txBytes() - before.link().txBytes();

        Metrics m = after.metrics();
        long inPackets = pair(before, after, Traffic.PACKETS, INBOUND, addrA, addrB);
        long inBytes = pair(before, after, Traffic.BYTES, INBOUND, addrA, addrB);
        long outPackets = pair(before, after, Traffic.PACKETS, OUTBOUND, addrB, addrA);
        long outBytes = pair(before, after, Traffic.BYTES, OUTBOUND, addrB, addrA);
        long perSegment = 14 + l3 + 32;
        // Bytes the veth counts per skb besides payload: in NAPI mode (GRO on) it counts rx bytes after
        // eth_type_trans pulled the Ethernet header, so 14 less than skb->len at the hook.
        long vethPerSkb = mode == Offload.TSO ? perSegment : perSegment - 14;
        System.out.printf("[%s] %s -> %s, %d payload bytes: a OutSegs %d + RetransSegs %d (a's veth dropped %d), b InSegs %d,"
                        + " veth skbs in %d (%.1f segments/skb, %d bytes); exporter inbound %d packets / %d bytes;"
                        + " b OutSegs %d + RetransSegs %d, a InSegs %d, veth skbs out %d (%d bytes); exporter outbound %d packets / %d bytes%n",
                mode.name().toLowerCase(java.util.Locale.ROOT), addrA, addrB, payload, outSegsA, retransA, dropsA, inSegsB,
                skbsIn, (double) inPackets / skbsIn, rxBytes, inPackets, inBytes, outSegsB, retransB, inSegsA, skbsOut, txBytes,
                outPackets, outBytes);
        String ctx = "\ncounters that changed in a: " + a + "\nin b: " + b + "\nscrape:\n" + m.text();

        // Packets: wire segments, as TCP counted them when sending (less what a's veth dropped).
        assertEquals(outSegsA + retransA - dropsA, inPackets,
                "inbound packets " + addrA + " -> " + addrB + " == a's OutSegs + RetransSegs - a's veth drops" + ctx);
        assertEquals(outSegsB + retransB, outPackets, "outbound packets " + addrB + " -> " + addrA + " == b's OutSegs + RetransSegs" + ctx);
        if (mode == Offload.TSO) {
            // GSO really happened: far fewer skbs than segments crossed the hook, and b received every skb.
            assertTrue(skbsIn * 4 < inPackets, "expected GSO skbs: " + skbsIn + " skbs for " + inPackets + " segments");
            assertTrue(inSegsB == skbsIn || inSegsB == inPackets,
                    "b's InSegs " + inSegsB + " is neither the skbs (" + skbsIn + ") nor the segments (" + inPackets + ")" + ctx);
        } else {
            // The veth counted the frames before GRO, one per segment; GRO really merged them: b's TCP
            // received far fewer skbs (InSegs counts skbs on this kernel) than there were segments.
            assertEquals(inPackets, skbsIn, "veth rx frames (before GRO) == wire segments" + ctx);
            assertTrue(inSegsB * 4 < inPackets, "expected GRO skbs: b's InSegs " + inSegsB + " for " + inPackets + " segments" + ctx);
        }
        // b sends only SYN-ACK, ACKs and FIN: one skb each, so the veth's tx count and a's InSegs are its segments.
        assertEquals(skbsOut, outPackets, "outbound packets == veth tx (b's segments are not GSO)" + ctx);
        assertEquals(inSegsA, outPackets, "a's InSegs" + ctx);

        // Bytes against the veth's own counter: what it counted per skb, plus the headers each extra segment repeats.
        assertEquals(rxBytes + skbsIn * (perSegment - vethPerSkb) + (inPackets - skbsIn) * perSegment, inBytes,
                "inbound bytes == veth rx bytes + extra segments' headers" + ctx);
        assertEquals(txBytes, outBytes, "outbound bytes == veth tx bytes (no GSO)" + ctx);

        // Bytes from first principles: nothing was lost or retransmitted, so the payload on the wire is what was sent.
        if (retransA + retransB + dropsA != 0 && !lastAttempt) {
            return false;
        }
        assertEquals(0, retransA + retransB + dropsA, "retransmissions and drops (one rx CPU, no TLP, a qdisc for GRO should prevent them)" + ctx);
        assertEquals(payload + skbsIn * vethPerSkb + 8, rxBytes, "veth rx bytes = payload + skbs x headers + 8 (SYN options)" + ctx);
        assertEquals(payload + inPackets * perSegment + 8, inBytes, "inbound bytes = payload + segments x headers + 8" + ctx);
        // Segments that reached b out of order make b's ACKs carry SACK blocks, whose bytes no counter
        // records: then the veth's tx bytes above are the exact check for b's side, and this one is retried.
        long ofoB = b.getOrDefault("TcpExt.TCPOFOQueue", 0L);
        if (ofoB != 0 && !lastAttempt) {
            return false;
        }
        if (ofoB == 0) {
            assertEquals(outPackets * perSegment + 8, outBytes, "outbound bytes = segments x headers + 8 (SYN-ACK options)" + ctx);
        }
        return true;
    }

    private static long pair(Snapshot before, Snapshot after, String family, String dir, String src, String dst) {
        java.util.function.Predicate<Metrics.Sample> f = s -> dir.equals(s.label("direction"))
                && src.equals(s.label("src_ip")) && dst.equals(s.label("dst_ip"));
        return after.metrics().sum(family, f) - before.metrics().sum(family, f);
    }

    /** Sends payload bytes from addrA (in a) to a server on addrB (in b); returns what the server read. */
    private static long bulk(NetNs net, String addrA, String addrB, int payload) throws Exception {
        StandardProtocolFamily fam = Traffic.isV4(addrA) ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
        InetSocketAddress target = new InetSocketAddress(NetNs.parse(addrB), 5201);
        try (ServerSocketChannel server = Setns.call(net.b, () -> ServerSocketChannel.open(fam).bind(target))) {
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
                SocketChannel ch = SocketChannel.open(fam);
                ch.bind(new InetSocketAddress(NetNs.parse(addrA), 0));
                return ch;
            })) {
                c.connect(target);
                ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                for (int left = payload; left > 0; ) {
                    chunk.clear().limit(Math.min(left, chunk.capacity()));
                    left -= c.write(chunk);
                }
                c.shutdownOutput();
                long got = sink.get(60, java.util.concurrent.TimeUnit.SECONDS);
                // The server closed after reading everything: wait for its FIN before closing.
                assertEquals(-1, c.read(ByteBuffer.allocate(1)), "server sent nothing");
                return got;
            }
        }
    }

    /** Asserts Δ(traffic over all series) + Δ(skipped) == Δ(interface counter) for packets and bytes. */
    private static long[] check(Snapshot before, Snapshot after, String iface, String dir, long linkPackets, long linkBytes) {
        long packets = diff(before, after, Traffic.PACKETS, iface, dir) + diff(before, after, SKIPPED_PACKETS, iface, dir);
        long bytes = diff(before, after, Traffic.BYTES, iface, dir) + diff(before, after, SKIPPED_BYTES, iface, dir);
        String ctx = dir + " on " + iface + ": sum over all network_traffic series + skipped vs the interface's "
                + (dir.equals(INBOUND) ? "rx" : "tx") + " counter; scrape after:\n" + after.metrics().text();
        assertEquals(linkPackets, packets, "packets " + ctx);
        assertEquals(linkBytes, bytes, "bytes " + ctx);
        return new long[] {packets, bytes};
    }

    private static long diff(Snapshot before, Snapshot after, String family, String iface, String dir) {
        return after.sum(family, iface, dir) - before.sum(family, iface, dir);
    }

    private static long delta(Snapshot before, Snapshot after, String family, String iface, String dir, String reason) {
        java.util.function.Predicate<Metrics.Sample> f = s -> iface.equals(s.label("iface"))
                && dir.equals(s.label("direction")) && reason.equals(s.label("reason"));
        return after.metrics().sum(family, f) - before.metrics().sum(family, f);
    }

    private static void assertSkipped(Snapshot before, Snapshot after, String iface, String dir, String reason, List<byte[]> frames) {
        assertEquals(frames.size(), delta(before, after, SKIPPED_PACKETS, iface, dir, reason), dir + " " + reason + " packets");
        assertEquals(bytes(frames), delta(before, after, SKIPPED_BYTES, iface, dir, reason), dir + " " + reason + " bytes");
    }

    private static long bytes(List<byte[]> frames) {
        return frames.stream().mapToLong(f -> f.length).sum();
    }

    private static List<byte[]> concat(List<byte[]> a, List<byte[]> b) {
        List<byte[]> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    /** Non-IP and malformed frames between two MACs, with addresses of a configured pair. */
    private record RawFrames(List<byte[]> nonIp, List<byte[]> malformed) {
        static RawFrames of(String dstMac, String srcMac, String src4, String dst4, String src6, String dst6) {
            List<byte[]> nonIp = List.of(
                    // An ARP request for an address nobody has: no answer.
                    PacketSocket.withMacs(Frames.ethernet().arp(src4, "10.79.0.200").build(), "ff:ff:ff:ff:ff:ff", srcMac),
                    PacketSocket.withMacs(Frames.ethernet().lldp().build(), "01:80:c2:00:00:0e", srcMac),
                    PacketSocket.withMacs(Frames.ethernet().etherType(0x88B5, new byte[46]).build(), dstMac, srcMac),
                    PacketSocket.withMacs(Frames.ethernet().etherType(0x88B6, new byte[300]).build(), dstMac, srcMac),
                    // 802.3 (a length, not an ethertype) with an LLC header.
                    PacketSocket.withMacs(Frames.ethernet().etherType(48, new byte[] {(byte) 0xaa, (byte) 0xaa, 3, 0, 0, 0, 0, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).build(),
                            dstMac, srcMac));
            byte[] udp4 = Frames.ethernet().ipv4(src4, dst4).udp(5000, 5001).payload(64).build();
            byte[] udp6 = Frames.ethernet().ipv6(src6, dst6).udp(5000, 5001).payload(64).build();
            List<byte[]> malformed = List.of(
                    PacketSocket.withMacs(Frames.truncate(udp4, 14 + 10), dstMac, srcMac),          // IPv4 header cut short
                    PacketSocket.withMacs(Frames.truncate(udp6, 14 + 30), dstMac, srcMac),          // IPv6 header cut short
                    PacketSocket.withMacs(Frames.ethernet().ipv4(src4, dst4).udp(1, 2).payload(10).ihl(4).build(), dstMac, srcMac),
                    PacketSocket.withMacs(Frames.ethernet().ipv4(src4, dst4).udp(1, 2).payload(10).ihl(15).build(), dstMac, srcMac), // IHL past the end
                    PacketSocket.withMacs(Frames.ethernet().ipv4(src4, dst4).udp(1, 2).payload(30).ipVersion(6).build(), dstMac, srcMac),
                    PacketSocket.withMacs(Frames.ethernet().ipv6(src6, dst6).udp(1, 2).payload(30).ipVersion(4).build(), dstMac, srcMac));
            return new RawFrames(nonIp, malformed);
        }

        List<byte[]> all() {
            return concat(nonIp, malformed);
        }
    }
}
