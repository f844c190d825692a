package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.LinkStats;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.TestCgroups;
import dev.ebpftraffic.testing.Traffic;
import dev.ebpftraffic.workload.Cgroup2Mount;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-workload attribution end to end: the exporter (started with nsenter, so it sees the host's cgroup2
 * mount) attaches its cgroup_skb programs to the cgroup v2 root; sockets made by this JVM while it sits in
 * test cgroups named like a systemd service, a Docker container and a Kubernetes pod's container send and
 * receive known traffic across a veth pair between two test namespaces. Exact packets and bytes per
 * workload and direction, the workload names as exported, and conservation against the per-IP family on
 * b's veth (all traffic between the two test addresses is local to those sockets: the neighbours are
 * static, so no ARP or ND uses the addresses): packets equal, bytes equal less 14 (Ethernet) per packet.
 */
@KernelTest
@Timeout(180)
class WorkloadAttributionKernelTest {
    static final String WB = "network_workload_traffic_bytes_total";
    static final String WP = "network_workload_traffic_packets_total";
    static final String A4 = "10.81.0.1";
    static final String B4 = "10.81.0.2";
    static final String A6 = "fd00:81::1";
    static final String B6 = "fd00:81::2";

    NetNs net;
    TestCgroups cgroups;
    ExporterProcess exporter;
    Path root;
    Path origin;
    Path service;
    Path docker;
    Path pod;
    String serviceName;
    String dockerName;
    String podName;

    @BeforeEach
    void setUp() throws IOException {
        Cgroup2Mount m = Cgroup2Mount.find();
        root = assertInstanceOf(Cgroup2Mount.Found.class, m, "cgroup v2: " + m).mountPoint();
        origin = ownGroup(root);
        byte[] r = new byte[4];
        new SecureRandom().nextBytes(r);
        String rnd = HexFormat.of().formatHex(r);
        String ctr = rnd.repeat(8);
        String ctr2 = ("cafe" + rnd).repeat(5).substring(0, 40) + rnd.repeat(3);
        String uid = rnd + "-0000-4000-8000-" + rnd + "0000";
        serviceName = "ete-" + rnd + ".service";
        dockerName = ctr.substring(0, 12);
        podName = uid + "/" + ctr2.substring(0, 12);
        net = NetNs.pair();
        cgroups = TestCgroups.under(root);
        service = cgroups.create("system.slice/" + serviceName);
        docker = cgroups.create("system.slice/docker-" + ctr + ".scope");
        pod = cgroups.create("kubepods.slice/kubepods-pod" + uid.replace('-', '_') + ".slice/cri-containerd-" + ctr2 + ".scope");
        net.addPair(A4, B4, 24);
        net.addPair(A6, B6, 64);
        // Static neighbours: no ARP or ND between the test addresses, so every packet between them is a socket's.
        for (String[] n : List.of(new String[] {net.a, B4, net.macB, net.ifA}, new String[] {net.a, B6, net.macB, net.ifA},
                new String[] {net.b, A4, net.macA, net.ifB}, new String[] {net.b, A6, net.macA, net.ifB})) {
            Cmd.run("ip", "-n", n[0], "neigh", "replace", n[1], "lladdr", n[2], "dev", n[3], "nud", "permanent").ok();
        }
        exporter = net.own(ExporterProcess.startSeeingCgroups(net.b, "workloads", "--iface", net.ifB,
                "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup", "--max-series", "0"));
        exporter.awaitAttached(Duration.ofSeconds(30));
        assertTrue(bpftoolCgroup().contains("cgroup_wl_"), "attached to the cgroup v2 root:\n" + bpftoolCgroup());
    }

    @AfterEach
    void tearDown() throws IOException {
        try {
            move(origin);
            if (exporter != null) {
                exporter.stop();
            }
            // Nothing of ours stays on the cgroup root once the exporter is gone.
            String left = bpftoolCgroup();
            assertFalse(left.contains("cgroup_wl_"), "still attached to " + root + ":\n" + left);
        } finally {
            try {
                if (net != null) {
                    net.close();
                }
            } finally {
                if (cgroups != null) {
                    cgroups.close();
                }
            }
        }
    }

    private String bpftoolCgroup() {
        return Cmd.run("bpftool", "cgroup", "show", root.toString()).ok().stdout();
    }

    private static Path ownGroup(Path mount) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return mount.resolve(line.substring(4));
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
    }

    private static void move(Path group) throws IOException {
        TestCgroups.move(ProcessHandle.current().pid(), group);
    }

    /** Creates a socket in ns while this JVM is in group: the socket belongs to that cgroup for its life. */
    private <T> T inGroup(Path group, String ns, Callable<T> make) throws IOException {
        move(group);
        try {
            return Setns.call(ns, make);
        } finally {
            move(origin);
        }
    }

    /** Sum over ip_type of one workload's counter in one direction. */
    private static long w(Metrics m, String family, String workload, String kind, String direction) {
        List<Metrics.Sample> s = m.samples(x -> x.name().equals(family) && workload.equals(x.label("workload"))
                && direction.equals(x.label("direction")));
        s.forEach(x -> assertEquals(kind, x.label("kind"), x.toString()));
        return m.sum(family, x -> workload.equals(x.label("workload")) && direction.equals(x.label("direction")));
    }

    /** The per-IP family on b's veth for one pair and direction. */
    private long pair(Metrics m, String family, String direction, String src, String dst) {
        return m.sum(family, x -> net.ifB.equals(x.label("iface")) && direction.equals(x.label("direction"))
                && src.equals(x.label("src_ip")) && dst.equals(x.label("dst_ip")));
    }

    /** packets, bytes of one workload and direction, grown between two settled scrapes. */
    private static long[] grown(Metrics before, Metrics after, String workload, String kind, String direction) {
        return new long[] {w(after, WP, workload, kind, direction) - w(before, WP, workload, kind, direction),
                w(after, WB, workload, kind, direction) - w(before, WB, workload, kind, direction)};
    }

    private long[] pairGrown(Metrics before, Metrics after, String direction, String src, String dst) {
        return new long[] {pair(after, Traffic.PACKETS, direction, src, dst) - pair(before, Traffic.PACKETS, direction, src, dst),
                pair(after, Traffic.BYTES, direction, src, dst) - pair(before, Traffic.BYTES, direction, src, dst)};
    }

    /**
     * UDP over IPv4 and IPv6, both ways: the service (in b) and the Docker container (in a). Exact
     * packets and IP bytes (UDP 8 + IP header 20 or 40 + payload) per workload and direction.
     */
    @Test
    void udpBothWaysIpv4AndIpv6() throws Exception {
        int[] aToB = {1, 10, 100, 1000, 1400};
        int[] bToA = {50, 500, 1200};
        Metrics before = exporter.scrape();
        long[] expect = new long[4]; // svc in packets, bytes; svc out packets, bytes
        for (String[] p : List.of(new String[] {A4, B4, "20"}, new String[] {A6, B6, "40"})) {
            StandardProtocolFamily fam = p[2].equals("20") ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
            int ipHeader = Integer.parseInt(p[2]);
            try (DatagramChannel sb = inGroup(service, net.b, () -> DatagramChannel.open(fam).bind(new InetSocketAddress(NetNs.parse(p[1]), 0)));
                 DatagramChannel sa = inGroup(docker, net.a, () -> DatagramChannel.open(fam).bind(new InetSocketAddress(NetNs.parse(p[0]), 0)))) {
                sa.connect(sb.getLocalAddress());
                sb.connect(sa.getLocalAddress());
                for (int n : aToB) {
                    for (int i = 0; i < 3; i++) {
                        sa.write(ByteBuffer.allocate(n));
                        ByteBuffer got = ByteBuffer.allocate(2000);
                        sb.receive(got);
                        assertEquals(n, got.position());
                        expect[0]++;
                        expect[1] += ipHeader + 8 + n;
                    }
                }
                for (int n : bToA) {
                    for (int i = 0; i < 2; i++) {
                        sb.write(ByteBuffer.allocate(n));
                        ByteBuffer got = ByteBuffer.allocate(2000);
                        sa.receive(got);
                        assertEquals(n, got.position());
                        expect[2]++;
                        expect[3] += ipHeader + 8 + n;
                    }
                }
            }
        }
        Metrics after = exporter.scrape();
        String ctx = "\n" + after.text();
        long[] svcIn = grown(before, after, serviceName, "systemd", "inbound");
        long[] svcOut = grown(before, after, serviceName, "systemd", "outbound");
        long[] ctrIn = grown(before, after, dockerName, "container", "inbound");
        long[] ctrOut = grown(before, after, dockerName, "container", "outbound");
        assertEquals(expect[0], svcIn[0], "service inbound packets" + ctx);
        assertEquals(expect[1], svcIn[1], "service inbound bytes" + ctx);
        assertEquals(expect[2], svcOut[0], "service outbound packets" + ctx);
        assertEquals(expect[3], svcOut[1], "service outbound bytes" + ctx);
        assertEquals(expect[0], ctrOut[0], "container outbound packets" + ctx);
        assertEquals(expect[1], ctrOut[1], "container outbound bytes" + ctx);
        assertEquals(expect[2], ctrIn[0], "container inbound packets" + ctx);
        assertEquals(expect[3], ctrIn[1], "container inbound bytes" + ctx);
        // All private remotes: nothing public.
        assertEquals(0, after.sum(WP, x -> serviceName.equals(x.label("workload")) && "public".equals(x.label("ip_type"))), ctx);
        assertConserved(before, after, ctx);
    }

    /**
     * A bulk TCP transfer a -> b with TSO/GSO on (64 KB skbs on the veth): the pod's container sends,
     * the service receives. Both families count the same wire segments; the per-IP family is the
     * reference (ConservationTest checks it against TCP's own segment counters).
     */
    @Test
    void tcpBulkTransferWithTso() throws Exception {
        String k = Cmd.run("ip", "netns", "exec", net.a, "ethtool", "-k", net.ifA).ok().stdout();
        assertTrue(k.contains("tcp-segmentation-offload: on"), k);
        tcpBulk(true);
    }

    /**
     * The same with GRO instead: a sends MSS-sized skbs (TSO and GSO off), b's veth merges them (GRO on)
     * before its TC hook and before the receiving socket, which both see the merged skbs.
     */
    @Test
    void tcpBulkTransferWithGro() throws Exception {
        Cmd.run("ip", "netns", "exec", net.a, "ethtool", "-K", net.ifA, "tso", "off", "gso", "off").ok();
        Cmd.run("ip", "netns", "exec", net.b, "ethtool", "-K", net.ifB, "gro", "on").ok();
        // As ConservationTest: with GRO on, b's veth has a 256-frame NAPI ring; a qdisc on a's end pushes back instead of dropping.
        Cmd.run("ip", "netns", "exec", net.a, "tc", "qdisc", "replace", "dev", net.ifA, "root", "pfifo", "limit", "1000").ok();
        tcpBulk(false);
    }

    private void tcpBulk(boolean tso) throws Exception {
        Metrics before = exporter.scrape();
        LinkStats l0 = LinkStats.read(net.b, net.ifB);
        java.util.Map<String, Long> tcp0 = LinkStats.protocolCounters(net.b);
        int payload = 16 << 20;
        InetSocketAddress target = new InetSocketAddress(NetNs.parse(B4), 5201);
        try (ServerSocketChannel server = inGroup(service, net.b, () -> ServerSocketChannel.open(StandardProtocolFamily.INET).bind(target))) {
            CompletableFuture<Long> sink = CompletableFuture.supplyAsync(() -> {
                try (SocketChannel c = server.accept()) {
                    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                    long n = 0;
                    for (int r; (r = c.read(buf.clear())) >= 0; ) {
                        n += r;
                    }
                    return n;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try (SocketChannel c = inGroup(pod, net.a, () -> {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.INET);
                ch.bind(new InetSocketAddress(NetNs.parse(A4), 0));
                return ch;
            })) {
                c.connect(target);
                ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
                for (int left = payload; left > 0; ) {
                    chunk.clear().limit(Math.min(left, chunk.capacity()));
                    left -= c.write(chunk);
                }
                c.shutdownOutput();
                assertEquals(payload, sink.get(60, TimeUnit.SECONDS));
                // Wait for the server's FIN before closing: every segment of the connection goes through full sockets.
                assertEquals(-1, c.read(ByteBuffer.allocate(1)));
            }
        }
        Thread.sleep(300);
        Metrics after = exporter.scrape();
        long skbs = LinkStats.read(net.b, net.ifB).rxPackets() - l0.rxPackets();
        String ctx = "\n" + after.text();
        long[] podOut = grown(before, after, podName, "kubernetes", "outbound");
        long[] podIn = grown(before, after, podName, "kubernetes", "inbound");
        long[] svcIn = grown(before, after, serviceName, "systemd", "inbound");
        long[] svcOut = grown(before, after, serviceName, "systemd", "outbound");
        long[] in = pairGrown(before, after, "inbound", A4, B4);
        long[] out = pairGrown(before, after, "outbound", B4, A4);
        System.out.printf("[workloads tcp " + (tso ? "tso" : "gro") + "] %d skbs, per-IP in %d/%d out %d/%d; pod out %d/%d in %d/%d; service in %d/%d out %d/%d%n",
                skbs, in[0], in[1], out[0], out[1], podOut[0], podOut[1], podIn[0], podIn[1], svcIn[0], svcIn[1], svcOut[0], svcOut[1]);
        if (tso) {
            assertTrue(skbs * 4 < in[0], "GSO skbs crossed the veth: " + skbs + " skbs, " + in[0] + " segments");
        } else {
            // The veth counts frames before GRO: one per segment. GRO merged them: b's TCP saw far fewer skbs.
            // Every frame the veth received is in some inbound series of it (an IPv6 MLD report of the
            // new interface can arrive in the window too), so compare with all of them.
            java.util.function.Predicate<Metrics.Sample> inB = x -> net.ifB.equals(x.label("iface"))
                    && "inbound".equals(x.label("direction"));
            long allIn = after.sum(Traffic.PACKETS, inB) - before.sum(Traffic.PACKETS, inB);
            assertEquals(allIn, skbs, "veth rx frames (before GRO) == wire segments of every inbound series" + ctx);
            long inSegs = LinkStats.changed(tcp0, LinkStats.protocolCounters(net.b)).getOrDefault("Tcp.InSegs", 0L);
            assertTrue(inSegs * 4 < in[0], "GRO skbs: b's InSegs (one per skb on this kernel) " + inSegs + " for " + in[0] + " segments");
        }
        assertTrue(in[1] > payload, ctx);
        assertEquals(in[0], svcIn[0], "service inbound packets == per-IP inbound" + ctx);
        assertEquals(in[1] - 14 * in[0], svcIn[1], "service inbound bytes == per-IP less Ethernet" + ctx);
        assertEquals(out[0], svcOut[0], "service outbound packets" + ctx);
        assertEquals(out[1] - 14 * out[0], svcOut[1], "service outbound bytes" + ctx);
        assertEquals(in[0], podOut[0], "pod outbound packets == what reached b" + ctx);
        assertEquals(in[1] - 14 * in[0], podOut[1], "pod outbound bytes" + ctx);
        assertEquals(out[0], podIn[0], "pod inbound packets" + ctx);
        assertEquals(out[1] - 14 * out[0], podIn[1], "pod inbound bytes" + ctx);
    }

    /** Between the test addresses on b's veth, the per-IP family and the service's (b's only workload there) agree. */
    private void assertConserved(Metrics before, Metrics after, String ctx) {
        long[] in = new long[2];
        long[] out = new long[2];
        for (String[] p : List.of(new String[] {A4, B4}, new String[] {A6, B6})) {
            long[] i = pairGrown(before, after, "inbound", p[0], p[1]);
            long[] o = pairGrown(before, after, "outbound", p[1], p[0]);
            in[0] += i[0];
            in[1] += i[1];
            out[0] += o[0];
            out[1] += o[1];
        }
        long[] svcIn = grown(before, after, serviceName, "systemd", "inbound");
        long[] svcOut = grown(before, after, serviceName, "systemd", "outbound");
        assertTrue(in[0] > 0 && out[0] > 0, ctx);
        assertEquals(in[0], svcIn[0], "conservation, inbound packets" + ctx);
        assertEquals(in[1] - 14 * in[0], svcIn[1], "conservation, inbound bytes" + ctx);
        assertEquals(out[0], svcOut[0], "conservation, outbound packets" + ctx);
        assertEquals(out[1] - 14 * out[0], svcOut[1], "conservation, outbound bytes" + ctx);
    }
}
