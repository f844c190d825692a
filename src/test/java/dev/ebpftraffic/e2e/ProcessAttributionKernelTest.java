package dev.ebpftraffic.e2e;

import dev.ebpftraffic.live.ProcessJson;
import dev.ebpftraffic.live.ProcessSnapshot;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.HttpGet;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.SocketPeer;
import dev.ebpftraffic.testing.TestCgroups;
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
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-process attribution end to end (--workloads auto): three peer processes with their own command
 * names (SocketPeer) sit in one test cgroup named like a systemd service, in namespace a; this JVM
 * answers them from namespace b, where the exporter runs. One peer made its socket before the exporter
 * started. GET /api/v1/processes must give each peer's exact UDP packets and bytes per direction, the
 * accept()ed TCP socket must count under the process that listens, and the rows of the cgroup must
 * add up exactly to its network_workload_traffic_* series. ICMP: a ping run under its own name. The
 * page's Processes tab in headless Chromium. Cgroups, namespaces and peers go in tearDown, whatever failed.
 */
@KernelTest
@Timeout(240)
class ProcessAttributionKernelTest {
    static final String WB = "network_workload_traffic_bytes_total";
    static final String WP = "network_workload_traffic_packets_total";
    static final String A4 = "10.82.0.1";
    static final String B4 = "10.82.0.2";
    static final String A6 = "fd00:82::1";
    static final String B6 = "fd00:82::2";
    static final int REPLY = 33;

    NetNs net;
    TestCgroups cgroups;
    ExporterProcess exporter;
    Path root;
    Path service;
    String serviceName;
    String rnd;
    final List<SocketPeer> peers = new ArrayList<>();
    SocketPeer old;
    final List<AutoCloseable> servers = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        Cgroup2Mount m = Cgroup2Mount.find();
        root = assertInstanceOf(Cgroup2Mount.Found.class, m, "cgroup v2: " + m).mountPoint();
        byte[] r = new byte[3];
        new SecureRandom().nextBytes(r);
        rnd = HexFormat.of().formatHex(r);
        serviceName = "ete-" + rnd + ".service";
        net = NetNs.pair();
        cgroups = TestCgroups.under(root);
        service = cgroups.create("system.slice/" + serviceName);
        net.addPair(A4, B4, 24);
        net.addPair(A6, B6, 64);
        for (String[] n : List.of(new String[] {net.a, B4, net.macB, net.ifA}, new String[] {net.a, B6, net.macB, net.ifA},
                new String[] {net.b, A4, net.macA, net.ifB}, new String[] {net.b, A6, net.macA, net.ifB})) {
            Cmd.run("ip", "-n", n[0], "neigh", "replace", n[1], "lladdr", n[2], "dev", n[3], "nud", "permanent").ok();
        }
        // A socket from before the exporter's start: only the start-up scan can find its process.
        old = peer("ete-o-" + rnd);
        old.command("hold " + A4);
        exporter = net.own(ExporterProcess.startSeeingCgroups(net.b, "processes", "--iface", net.ifB,
                "--addr", ExporterProcess.LISTEN, "--workloads", "auto", "--max-series", "0"));
        exporter.awaitAttached(Duration.ofSeconds(30));
        String attached = Cmd.run("bpftool", "cgroup", "show", root.toString()).ok().stdout();
        assertTrue(attached.contains("cgroup_proc_") && attached.contains("proc_sock_create"), attached);
    }

    /** A peer in namespace a, moved into the service's cgroup before it makes any socket. */
    private SocketPeer peer(String comm) throws IOException {
        SocketPeer p = SocketPeer.start(net.a, comm);
        peers.add(p);
        TestCgroups.move(p.pid(), service);
        return p;
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            for (AutoCloseable s : servers) {
                s.close();
            }
            peers.forEach(SocketPeer::close);
            if (exporter != null) {
                exporter.stop();
            }
            String left = Cmd.run("bpftool", "cgroup", "show", root.toString()).ok().stdout();
            assertFalse(left.contains("cgroup_proc_") || left.contains("proc_sock_create"), "still attached:\n" + left);
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

    /** A UDP socket of this JVM in b that answers each datagram with REPLY bytes; its port. */
    private int echo(String addr) throws IOException {
        StandardProtocolFamily fam = addr.contains(":") ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET;
        DatagramChannel c = Setns.call(net.b, () -> DatagramChannel.open(fam).bind(new InetSocketAddress(NetNs.parse(addr), 0)));
        servers.add(c);
        Thread t = new Thread(() -> {
            ByteBuffer b = ByteBuffer.allocate(65536);
            try {
                while (true) {
                    var from = c.receive(b.clear());
                    c.send(ByteBuffer.allocate(REPLY), from);
                }
            } catch (IOException e) {
                // closed
            }
        }, "echo-" + addr);
        t.setDaemon(true);
        t.start();
        return ((InetSocketAddress) c.getLocalAddress()).getPort();
    }

    private ProcessSnapshot api(String query) {
        HttpGet.Response r = HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT, "/api/v1/processes?" + query);
        assertEquals(200, r.status(), r.body());
        return ProcessJson.read(r.body());
    }

    /** The service's rows, polled until done says they are complete (or 20 s), then read once more after 2.5 s. */
    private List<ProcessSnapshot.Row> rows(Predicate<List<ProcessSnapshot.Row>> done) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!done.test(api("n=10000&filter=" + serviceName).rows()) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        Thread.sleep(2500); // more than two samples: anything counted twice or late shows now
        return api("n=10000&filter=" + serviceName).rows();
    }

    /** pid, direction, packets and bytes of each row, sorted: what two reads must agree on. */
    private static List<String> counts(List<ProcessSnapshot.Row> rows) {
        return rows.stream().map(r -> r.pid() + " " + r.direction() + " " + r.packets() + " " + r.bytes()).sorted().toList();
    }

    private static long[] of(List<ProcessSnapshot.Row> rows, long pid, String direction) {
        long[] v = new long[2];
        for (ProcessSnapshot.Row r : rows) {
            if (r.pid() == pid && r.direction().equals(direction)) {
                v[0] += r.packets();
                v[1] += r.bytes();
            }
        }
        return v;
    }

    @Test
    void exactUdpPerProcessTcpAcceptedUnderTheListenerAndSumsEqualTheWorkload() throws Exception {
        SocketPeer p1 = peer("ete-1-" + rnd);
        SocketPeer p2 = peer("ete-2-" + rnd);
        int port4 = echo(B4);
        int port6 = echo(B6);
        // {packets, bytes} expected per peer: outbound, inbound. IP header 20 or 40, UDP 8.
        p1.command("udp " + A4 + " " + B4 + " " + port4 + " 5 300 " + REPLY);
        p1.command("udp " + A6 + " " + B6 + " " + port6 + " 4 200 " + REPLY);
        p2.command("udp " + A4 + " " + B4 + " " + port4 + " 7 1000 " + REPLY);
        old.command("held " + B4 + " " + port4 + " 3 100 " + REPLY);
        Map<SocketPeer, long[]> expect = Map.of(
                p1, new long[] {9, 5 * (28 + 300) + 4 * (48 + 200), 9, 5 * (28 + REPLY) + 4 * (48 + REPLY)},
                p2, new long[] {7, 7 * (28 + 1000), 7, 7 * (28 + REPLY)},
                old, new long[] {3, 3 * (28 + 100), 3, 3 * (28 + REPLY)});
        List<ProcessSnapshot.Row> rows = rows(rs -> expect.entrySet().stream().allMatch(e ->
                of(rs, e.getKey().pid(), "outbound")[0] >= e.getValue()[0] && of(rs, e.getKey().pid(), "inbound")[0] >= e.getValue()[0]));
        String ctx = "\n" + counts(rows);
        for (Map.Entry<SocketPeer, long[]> e : expect.entrySet()) {
            long pid = e.getKey().pid();
            long[] x = e.getValue();
            assertEquals(x[0], of(rows, pid, "outbound")[0], "outbound packets of " + pid + ctx);
            assertEquals(x[1], of(rows, pid, "outbound")[1], "outbound bytes of " + pid + ctx);
            assertEquals(x[2], of(rows, pid, "inbound")[0], "inbound packets of " + pid + ctx);
            assertEquals(x[3], of(rows, pid, "inbound")[1], "inbound bytes of " + pid + ctx);
        }
        for (ProcessSnapshot.Row r : rows) {
            assertEquals(serviceName, r.workload(), ctx);
            assertEquals("systemd", r.kind(), ctx);
            String comm = r.pid() == p1.pid() ? "ete-1-" + rnd : r.pid() == p2.pid() ? "ete-2-" + rnd
                    : r.pid() == old.pid() ? "ete-o-" + rnd : null;
            assertEquals(comm, r.comm(), "each row is one of the peers, with its command name" + ctx);
        }

        // TCP: p2 listens and accepts (the accepted socket is the kernel's clone of the listener), p1 connects.
        int listen = Integer.parseInt(p2.command("listen " + A4));
        CompletableFuture<String> accepted = CompletableFuture.supplyAsync(() -> {
            try {
                return p2.command("accept");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Setns.run(net.b, () -> {
            try (SocketChannel c = SocketChannel.open(new InetSocketAddress(NetNs.parse(A4), listen))) {
                ByteBuffer b = ByteBuffer.allocate(200_000);
                while (b.hasRemaining()) {
                    c.write(b);
                }
            }
        });
        assertEquals("ok 200000", accepted.get(30, TimeUnit.SECONDS));
        ServerSocketChannel server = Setns.call(net.b, () -> ServerSocketChannel.open().bind(new InetSocketAddress(NetNs.parse(B4), 0)));
        servers.add(server);
        CompletableFuture<Long> read = CompletableFuture.supplyAsync(() -> {
            long n = 0;
            try (SocketChannel c = server.accept()) {
                ByteBuffer b = ByteBuffer.allocate(65536);
                int k;
                while ((k = c.read(b.clear())) >= 0) {
                    n += k;
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return n;
        });
        p1.command("connect " + B4 + " " + ((InetSocketAddress) server.getLocalAddress()).getPort() + " 100000");
        assertEquals(100_000L, read.get(30, TimeUnit.SECONDS));

        // Settled: the API's rows of the service and its workload series agree exactly, both directions.
        List<ProcessSnapshot.Row> tcp = null;
        Metrics metrics = null;
        for (int attempt = 0; attempt < 10; attempt++) {
            tcp = rows(rs -> of(rs, p2.pid(), "inbound")[1] > 200_000 && of(rs, p1.pid(), "outbound")[1] > 100_000);
            metrics = exporter.scrape();
            List<ProcessSnapshot.Row> again = api("n=10000&filter=" + serviceName).rows();
            if (counts(again).equals(counts(tcp))) {
                break; // quiet: the FINs and last ACKs are in both
            }
        }
        ctx = "\n" + counts(tcp) + "\n" + metrics.text();
        Set<Long> pids = Set.of(p1.pid(), p2.pid(), old.pid());
        for (ProcessSnapshot.Row r : tcp) {
            assertTrue(pids.contains((long) r.pid()), "every socket of the service has its process (none unknown)" + ctx);
        }
        assertTrue(of(tcp, p2.pid(), "inbound")[1] - expect.get(p2)[3] > 200_000, "the accepted connection counts under the listener's process" + ctx);
        assertTrue(of(tcp, p1.pid(), "outbound")[1] - expect.get(p1)[1] > 100_000, ctx);
        for (String dir : List.of("inbound", "outbound")) {
            long packets = 0;
            long bytes = 0;
            for (ProcessSnapshot.Row r : tcp) {
                if (r.direction().equals(dir)) {
                    packets += r.packets();
                    bytes += r.bytes();
                }
            }
            Metrics mm = metrics;
            assertEquals(mm.sum(WP, x -> serviceName.equals(x.label("workload")) && dir.equals(x.label("direction"))), packets,
                    dir + " packets: processes = workload" + ctx);
            assertEquals(mm.sum(WB, x -> serviceName.equals(x.label("workload")) && dir.equals(x.label("direction"))), bytes,
                    dir + " bytes: processes = workload" + ctx);
        }
    }

    /** The page's Processes tab shows the same exact rows, filters them, and hands back to the pairs view. */
    @Test
    void processesTabInTheBrowser() throws Exception {
        SocketPeer p1 = peer("ete-1-" + rnd);
        p1.command("udp " + A4 + " " + B4 + " " + echo(B4) + " 5 300 " + REPLY);
        dev.ebpftraffic.testing.Chromium c = net.own(dev.ebpftraffic.testing.Chromium.start(net.b, 1400, 600));
        c.openPage(Map.of());
        c.navigate("http://127.0.0.1:" + ExporterProcess.PORT + "/");
        c.await("!!document.body && document.body.dataset.updated !== undefined", 10_000, "the pairs view first");
        assertEquals(Boolean.TRUE, c.eval("document.getElementById('view-processes').hidden"));
        c.eval("document.querySelector('#views [data-view=\"processes\"]').click(), true");
        // Every local socket of the machine is counted (other tests' too): narrow to the test's workload,
        // or the peer's rows, idle now, may fall below the top 50.
        c.eval("(() => { const e = document.getElementById('p-filter'); e.value = '" + serviceName + "';"
                + " e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()");
        String mine = "[...document.querySelectorAll('#p-rows tr')].filter(t => t.dataset.pid === '" + p1.pid() + "')";
        c.await("(() => { const r = " + mine + "; return r.length === 2"
                + " && r.some(t => t.dataset.direction === 'outbound' && t.dataset.packets === '5' && t.dataset.bytes === '" + 5 * 328 + "')"
                + " && r.some(t => t.dataset.direction === 'inbound' && t.dataset.packets === '5' && t.dataset.bytes === '" + 5 * 61 + "')"
                + " && r.every(t => t.dataset.comm === 'ete-1-" + rnd + "' && t.dataset.workload === '" + serviceName + "'); })()",
                20_000, "the peer's two rows, exact");
        // offsetParent is null for an element that is not rendered (its section hidden, or display: none)
        assertEquals(Boolean.TRUE, c.eval("document.getElementById('top').offsetParent === null"
                + " && document.getElementById('workloads').offsetParent === null"
                + " && document.getElementById('filters').offsetParent === null"
                + " && document.getElementById('processes').offsetParent !== null"), "only the Processes view is shown");
        assertEquals(Boolean.TRUE, c.eval("document.getElementById('api-link').pathname.endsWith('/api/v1/processes')"));
        c.eval("(() => { const e = document.getElementById('p-filter'); e.value = '" + p1.pid() + "';"
                + " e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()");
        c.await("new URLSearchParams(document.getElementById('api-link').search).get('filter') === '" + p1.pid() + "'"
                + " && [...document.querySelectorAll('#p-rows tr')].every(t => t.dataset.pid === '" + p1.pid() + "')", 5000, "pid filter");
        c.await("!document.getElementById('p-status').className", 3000, "no error shown");
        byte[] png = c.screenshot("processes-view.png", false);
        assertTrue(png.length > 10_000, "a real picture");
        // The processes' sort is its own: it leaves the pairs view's sort as it was.
        c.eval("document.querySelector('th[data-psort=\"bytes\"]').click(), true");
        c.await("new URLSearchParams(document.getElementById('api-link').search).get('sort') === 'bytes'"
                + " && document.querySelector('#processes th.sorted').dataset.psort === 'bytes'", 5000, "processes sorted by bytes");
        c.eval("document.querySelector('#views [data-view=\"pairs\"]').click(), true");
        c.await("document.getElementById('api-link').pathname.endsWith('/api/v1/top') && document.getElementById('top').offsetParent !== null"
                + " && document.getElementById('view-processes').hidden", 5000, "back to the pairs view");
        c.await("new URLSearchParams(document.getElementById('api-link').search).get('sort') === 'bits_10s'"
                + " && document.querySelector('#top th.sorted').dataset.sort === 'bits_10s'"
                + " && document.body.dataset.updated > " + System.currentTimeMillis()
                + " && !document.getElementById('status').className", 5000, "the pairs view, still sorted by bits_10s, no error");
        assertEquals(List.of(), c.pageErrors(), "no JavaScript or console errors");
    }

    /**
     * ICMP: iputils ping, run under its own command name, in the service's cgroup (a shell moves itself
     * there, then executes ping): its 3 echo requests out and 3 replies in, 84 IP bytes each, count
     * under its pid; the kernel's echo replies in b belong to the root cgroup, not the service.
     */
    @Test
    void icmpEchoUnderThePingProcess() throws Exception {
        Path dir = java.nio.file.Files.createTempDirectory("ete-ping-");
        // iputils picks the address family from the last character of its name ("ping6"): end in 4
        Path link = dir.resolve("ete-p-" + rnd + "4");
        java.nio.file.Files.createSymbolicLink(link, Path.of("/usr/bin/ping"));
        try {
            Process ping = new ProcessBuilder("nsenter", "--net=/var/run/netns/" + net.a, "sh", "-c",
                    "echo $$ > " + service.resolve("cgroup.procs") + " && exec " + link + " -n -c 3 -i 0.2 -s 56 -W 5 " + B4)
                    .redirectErrorStream(true).start();
            String out = new String(ping.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(0, ping.waitFor(), out);
            assertTrue(out.contains("3 received"), out);
            long pid = ping.pid(); // nsenter and sh exec: the same process throughout
            List<ProcessSnapshot.Row> rows = rows(rs -> of(rs, pid, "inbound")[0] >= 3);
            String ctx = "\n" + counts(rows) + "\n" + out;
            assertEquals(3, of(rows, pid, "outbound")[0], ctx);
            assertEquals(3 * 84, of(rows, pid, "outbound")[1], ctx);
            assertEquals(3, of(rows, pid, "inbound")[0], ctx);
            assertEquals(3 * 84, of(rows, pid, "inbound")[1], ctx);
            assertTrue(rows.stream().filter(r -> r.pid() == pid).allMatch(r -> r.comm().equals(link.getFileName().toString())), ctx);
        } finally {
            java.nio.file.Files.deleteIfExists(link);
            java.nio.file.Files.deleteIfExists(dir);
        }
    }
}
