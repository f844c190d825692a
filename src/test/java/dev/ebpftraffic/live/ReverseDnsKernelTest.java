package dev.ebpftraffic.live;

import dev.ebpftraffic.testing.Chromium;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.HttpGet;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.Udp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Host names in the live view from a real DNS server: dnsmasq (Debian's dnsmasq-base) in namespace
 * a serves PTR records for the test addresses; the exporter in b asks it. And a server that never
 * answers: the API and the scrapes stay as fast as with reverse DNS off.
 */
@KernelTest
@Timeout(180)
class ReverseDnsKernelTest {
    static final String DNS_A = "10.53.0.1";
    static final String DNS_B = "10.53.0.2";
    /** address -> its PTR; the 192.0.2 pair has none (NXDOMAIN). */
    static final Map<String, String> NAMES = Map.of(
            "10.77.0.1", "alpha.test", "10.77.0.2", "beta.test",
            "fd00:77::1", "gamma.test", "fd00:77::2", "delta.test");
    static final List<String> NAMELESS = List.of("192.0.2.1", "192.0.2.2");

    @TempDir
    Path tmp;

    /** dnsmasq in the foreground, its log (every query) in a file; close() stops it. */
    record Dnsmasq(Process p, Path log) implements AutoCloseable {
        static Dnsmasq start(String ns, String listen, Path log, Map<String, String> ptrs) throws Exception {
            String bin = Cmd.require("dnsmasq", "dnsmasq-base");
            List<String> cmd = new ArrayList<>(NetNs.in(ns, bin, "--keep-in-foreground", "--conf-file=/dev/null",
                    "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=" + listen,
                    "--port=53", "--user=root", "--pid-file", "--log-queries", "--log-facility=-", "--local-ttl=600",
                    "--local=/in-addr.arpa/", "--local=/ip6.arpa/"));
            ptrs.forEach((ip, name) -> cmd.add("--ptr-record=" + dev.ebpftraffic.dns.DnsMessage.ptrName(NetNs.parse(ip)) + "," + name));
            Dnsmasq d = new Dnsmasq(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start(), log);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!d.output().contains("started, version")) {
                if (!d.p.isAlive() || System.nanoTime() > deadline) {
                    d.close();
                    throw new AssertionError("dnsmasq did not start:\n" + d.output());
                }
                Thread.sleep(50);
            }
            return d;
        }

        String output() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "";
            }
        }

        /** PTR queries for qname from the exporter. */
        int queries(String qname) {
            return (int) output().lines().filter(l -> l.contains("query[PTR] " + qname + " from " + DNS_B)).count();
        }

        int allQueries() {
            return (int) output().lines().filter(l -> l.contains("query[PTR] ") && l.endsWith(" from " + DNS_B)).count();
        }

        @Override
        public void close() throws InterruptedException {
            if (p.isAlive()) {
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            }
        }
    }

    static Snapshot top(String ns, int port, String query) {
        HttpGet.Response r = HttpGet.get(ns, "127.0.0.1", port, "/api/v1/top?" + query);
        assertEquals(200, r.status(), r.body());
        return LiveJson.read(r.body());
    }

    static Snapshot.Row row(Snapshot s, String src, String dst) {
        return s.rows().stream().filter(r -> r.src().equals(src) && r.dst().equals(dst)).findFirst()
                .orElseThrow(() -> new AssertionError("no row " + src + " -> " + dst + " in " + LiveJson.write(s)));
    }

    static double metric(Metrics m, String name, String result) {
        return m.samples(name).stream().filter(x -> result == null || result.equals(x.label("result")))
                .mapToDouble(Metrics.Sample::value).sum();
    }

    @Test
    void namesFromARealDnsServerInTheApiAndNotInTheMetrics() throws Exception {
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            net.addPair("fd00:77::1", "fd00:77::2", 64);
            net.addPair("192.0.2.1", "192.0.2.2", 24);
            net.addPair(DNS_A, DNS_B, 24);
            Dnsmasq dns = net.own(Dnsmasq.start(net.a, DNS_A, tmp.resolve("dnsmasq.log"), NAMES));
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "rdns",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN, "--live.dns-server", DNS_A));
            exporter.awaitAttached(Duration.ofSeconds(30));
            Udp.send(net.a, "10.77.0.1", net.b, "10.77.0.2", 40100, 5, 100);
            Udp.send(net.a, "fd00:77::1", net.b, "fd00:77::2", 40101, 6, 100);
            Udp.send(net.a, "192.0.2.1", net.b, "192.0.2.2", 40102, 7, 100);

            // The first answer has no names yet: it does not wait for the lookups it starts. Then they come.
            Snapshot s = top(net.b, ExporterProcess.PORT, "n=100&direction=inbound");
            row(s, "10.77.0.1", "10.77.0.2");
            row(s, "fd00:77::1", "fd00:77::2");
            row(s, "192.0.2.1", "192.0.2.2");
            for (Snapshot.Row r : s.rows()) {
                assertNull(r.srcName(), "the first answer has no names: " + LiveJson.write(s));
                assertNull(r.dstName(), "the first answer has no names: " + LiveJson.write(s));
            }
            long deadline = System.nanoTime() + 15_000_000_000L;
            while (!(NAMES.get("10.77.0.1").equals(row(s, "10.77.0.1", "10.77.0.2").srcName())
                    && NAMES.get("fd00:77::2").equals(row(s, "fd00:77::1", "fd00:77::2").dstName()))) {
                assertTrue(System.nanoTime() < deadline, "names did not come: " + LiveJson.write(s) + "\n" + dns.output());
                Thread.sleep(200);
                s = top(net.b, ExporterProcess.PORT, "n=100&direction=inbound");
            }
            Snapshot.Row v4 = row(s, "10.77.0.1", "10.77.0.2");
            assertEquals("alpha.test", v4.srcName());
            assertEquals("beta.test", v4.dstName());
            assertEquals(5, v4.packets(), "the counts are untouched");
            Snapshot.Row v6 = row(s, "fd00:77::1", "fd00:77::2");
            assertEquals("gamma.test", v6.srcName());
            assertEquals("delta.test", v6.dstName());
            assertEquals(6, v6.packets());
            Snapshot.Row none = row(s, "192.0.2.1", "192.0.2.2");
            assertNull(none.srcName(), "NXDOMAIN: no name");
            assertNull(none.dstName());
            assertEquals(7, none.packets());
            // The JSON as the README shows it.
            String json = HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT, "/api/v1/top?n=100&ip=10.77.0").body();
            assertTrue(json.contains("\"src_ip\":\"10.77.0.1\",\"dst_ip\":\"10.77.0.2\",\"src_name\":\"alpha.test\","
                    + "\"dst_name\":\"beta.test\""), json);

            // The page: the name under the address, none where there is none.
            Chromium c = net.own(Chromium.start(net.b, 1400, 500));
            c.openPage(Map.of());
            c.navigate("http://127.0.0.1:" + ExporterProcess.PORT + "/");
            c.await("(() => { const rows = [...document.querySelectorAll('#rows tr')];"
                    + " const host = (tr, side) => { const h = tr.querySelector('td.' + side + ' .host'); return h ? h.textContent : null; };"
                    + " return rows.some(tr => tr.dataset.src === '10.77.0.1' && host(tr, 'src') === 'alpha.test' && host(tr, 'dst') === 'beta.test')"
                    + " && rows.some(tr => tr.dataset.src === 'fd00:77::1' && host(tr, 'src') === 'gamma.test' && host(tr, 'dst') === 'delta.test')"
                    + " && rows.some(tr => tr.dataset.src === '192.0.2.1' && host(tr, 'src') === null && host(tr, 'dst') === null); })()",
                    15_000, "host names on the page");
            assertEquals("10.77.0.1alpha.test", c.eval("[...document.querySelectorAll('#rows tr')]"
                    + ".find(tr => tr.dataset.src === '10.77.0.1').querySelector('td.src').textContent"));
            assertEquals(List.of(), c.pageErrors());
            Path out = ExporterProcess.projectRoot().resolve("target/live-view");
            Files.createDirectories(out);
            Files.write(out.resolve("live-view-names.png"), c.screenshot());

            // top --from in a terminal (tmux): the name next to the address.
            String screen = topFrom(net, "http://127.0.0.1:" + ExporterProcess.PORT + "/");
            assertTrue(screen.lines().anyMatch(l -> l.startsWith("10.77.0.1 alpha.test ") && l.contains(" 10.77.0.2 beta.test ")),
                    screen);
            assertTrue(screen.lines().anyMatch(l -> l.startsWith("fd00:77::1 gamma.test ") && l.contains(" fd00:77::2 delta.test ")),
                    screen);
            assertTrue(screen.lines().anyMatch(l -> l.matches("192\\.0\\.2\\.1 +192\\.0\\.2\\.2 .*")), screen);
            Files.writeString(out.resolve("top-names.txt"), screen);

            // Cached: more requests, no more queries; each address was asked once.
            for (int i = 0; i < 10; i++) {
                top(net.b, ExporterProcess.PORT, "n=100");
                Thread.sleep(100);
            }
            for (String ip : NAMES.keySet()) {
                assertEquals(1, dns.queries(dev.ebpftraffic.dns.DnsMessage.ptrName(NetNs.parse(ip))), "queries for " + ip);
            }
            for (String ip : NAMELESS) {
                assertEquals(1, dns.queries(dev.ebpftraffic.dns.DnsMessage.ptrName(NetNs.parse(ip))),
                        "queries for " + ip + " (no name is cached too)");
            }

            // Self-metrics agree with the server's log, exactly; names never become labels.
            Metrics m = exporter.scrapeOnce();
            long until = System.nanoTime() + 5_000_000_000L;
            while (metric(m, "ebpf_traffic_exporter_reverse_dns_queries_total", null) != dns.allQueries()
                    && System.nanoTime() < until) {
                Thread.sleep(200);
                m = exporter.scrapeOnce();
            }
            assertEquals(dns.allQueries(), metric(m, "ebpf_traffic_exporter_reverse_dns_queries_total", null), dns.output());
            assertEquals(4, metric(m, "ebpf_traffic_exporter_reverse_dns_results_total", "name"), m.text());
            assertEquals(0, metric(m, "ebpf_traffic_exporter_reverse_dns_results_total", "timeout"), m.text());
            assertTrue(metric(m, "ebpf_traffic_exporter_reverse_dns_cache_entries", null) >= 6, m.text());
            assertFalse(m.text().contains(".test"), "host names are not in the metrics");
            Files.writeString(out.resolve("api-top-names.json"), json);
        }
    }

    /** Runs `top --from url` in a tmux pane of its own (200x30) until its screen shows host names; returns that screen. */
    static String topFrom(NetNs net, String url) throws Exception {
        Chromium.require("/usr/bin/tmux", "tmux");
        String socket = "ete-rdns-" + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong() >>> 16);
        net.own(() -> {
            String path = Cmd.run("tmux", "-L", socket, "display-message", "-p", "#{socket_path}").stdout().strip();
            Cmd.run("tmux", "-L", socket, "kill-server");
            if (path.endsWith(socket)) {
                Files.deleteIfExists(Path.of(path));
            }
        });
        Cmd.run(List.of("env", "LANG=C.UTF-8", "tmux", "-u", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
                "-x", "200", "-y", "30", "ip netns exec " + net.b + " " + ExporterProcess.launcher() + " top --from " + url
                        + "; sleep 30")).ok();
        long deadline = System.nanoTime() + 20_000_000_000L;
        String screen = "";
        while (System.nanoTime() < deadline) {
            screen = Cmd.run("tmux", "-u", "-L", socket, "capture-pane", "-p", "-t", "t").stdout();
            if (screen.contains("alpha.test") && screen.contains("gamma.test")) {
                Thread.sleep(1200); // one more redraw: every row has its names
                screen = Cmd.run("tmux", "-u", "-L", socket, "capture-pane", "-p", "-t", "t").stdout();
                Cmd.run("tmux", "-L", socket, "send-keys", "-t", "t", "q");
                return screen;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("top --from showed no host names:\n" + screen);
    }

    /**
     * Request latency in ms, alternating between two exporters so both see the same machine load,
     * each first every other time.
     */
    static double[][] latencies(String ns, int portOff, int portDead, String path, int n) {
        double[][] t = new double[2][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 2; j++) {
                int k = (i + j) % 2;
                int port = k == 0 ? portOff : portDead;
                long start = System.nanoTime();
                HttpGet.Response r = HttpGet.get(ns, "127.0.0.1", port, path);
                t[k][i] = (System.nanoTime() - start) / 1e6;
                assertEquals(200, r.status(), r.body());
            }
        }
        return t;
    }

    static double quantile(double[] v, double q) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.round(q * (s.length - 1)))];
    }

    @Test
    void aResolverThatNeverAnswersDoesNotSlowTheApiOrTheScrapes() throws Exception {
        int hosts = 60;
        try (NetNs net = NetNs.pair()) {
            net.addPair(DNS_A, DNS_B, 24);
            net.addPair("10.79.0.254", "10.79.1.254", 16); // a: many sources; b: the one destination
            Path batch = tmp.resolve("addrs");
            StringBuilder b = new StringBuilder();
            for (int i = 1; i <= hosts; i++) {
                b.append("addr add 10.79.0.").append(i).append("/16 dev ").append(net.ifA).append('\n');
            }
            Files.writeString(batch, b);
            Cmd.run("ip", "-n", net.a, "-batch", batch.toString()).ok();
            // A UDP socket that never reads: queries to it are dropped silently (no ICMP).
            DatagramChannel dead = net.own(Udp.sink(net.a, DNS_A, 53, false));
            int portOff = ExporterProcess.PORT;
            int portDead = ExporterProcess.PORT + 1;
            ExporterProcess off = net.own(ExporterProcess.start(net.b, portOff, Map.of(), "rdns-off", List.of(),
                    "--iface", net.ifB, "--addr", "127.0.0.1:" + portOff, "--live.reverse-dns=false"));
            ExporterProcess slow = net.own(ExporterProcess.start(net.b, portDead, Map.of(), "rdns-dead", List.of(),
                    "--iface", net.ifB, "--addr", "127.0.0.1:" + portDead, "--live.dns-server", DNS_A + ":53"));
            off.awaitAttached(Duration.ofSeconds(30));
            slow.awaitAttached(Duration.ofSeconds(30));
            try (DatagramChannel sink = Udp.sink(net.b, "10.79.1.254", 40200, false)) {
                Setns.run(net.a, () -> {
                    for (int i = 1; i <= hosts; i++) {
                        try (DatagramChannel c = DatagramChannel.open(java.net.StandardProtocolFamily.INET)) {
                            c.bind(new InetSocketAddress(NetNs.parse("10.79.0." + i), 0));
                            c.send(ByteBuffer.allocate(64), new InetSocketAddress(NetNs.parse("10.79.1.254"), 40200));
                        }
                    }
                });
                int got = 0;
                long until = System.currentTimeMillis() + 5000;
                while (got < hosts && System.currentTimeMillis() < until) {
                    got += Udp.drain(sink, 50);
                }
                assertEquals(hosts, got);
            }
            top(net.b, portOff, "n=1");
            top(net.b, portDead, "n=1"); // both samplers running before the measurement
            Thread.sleep(1500);

            int n = 40;
            double[][] api = latencies(net.b, portOff, portDead, "/api/v1/top?n=100", n);
            double[][] scrape = latencies(net.b, portOff, portDead, "/metrics", n);
            Metrics m = slow.scrapeOnce();
            double queries = metric(m, "ebpf_traffic_exporter_reverse_dns_queries_total", null);
            Thread.sleep(2500); // every query still out has timed out (2 s)
            m = slow.scrapeOnce();
            double timeouts = metric(m, "ebpf_traffic_exporter_reverse_dns_results_total", "timeout");

            String report = String.format(java.util.Locale.ROOT,
                    "%d requests each, alternating; ms p50 / p90 / max%n"
                            + "/api/v1/top?n=100  reverse DNS off: %.1f / %.1f / %.1f   server never answers: %.1f / %.1f / %.1f%n"
                            + "/metrics           reverse DNS off: %.1f / %.1f / %.1f   server never answers: %.1f / %.1f / %.1f%n"
                            + "queries sent to the dead server during the run: %.0f, timed out: %.0f, rate-limited lookups: %.0f%n",
                    n, quantile(api[0], .5), quantile(api[0], .9), quantile(api[0], 1), quantile(api[1], .5),
                    quantile(api[1], .9), quantile(api[1], 1), quantile(scrape[0], .5), quantile(scrape[0], .9),
                    quantile(scrape[0], 1), quantile(scrape[1], .5), quantile(scrape[1], .9), quantile(scrape[1], 1),
                    queries, timeouts, metric(m, "ebpf_traffic_exporter_reverse_dns_rate_limited_total", null));
            System.out.println(report);
            Path out = ExporterProcess.projectRoot().resolve("target/live-view");
            Files.createDirectories(out);
            Files.writeString(out.resolve("reverse-dns-latency.txt"), report);

            // The dead server was really asked, within the rate, and nothing came back.
            assertTrue(queries >= 20, "lookups happened during the measurement: " + report);
            assertTrue(queries <= 20 + 20 * 10, "at most 20/s (a burst of 20, then 20 per second): " + report);
            assertEquals(queries, timeouts, report);
            assertEquals(0, metric(m, "ebpf_traffic_exporter_reverse_dns_results_total", "name"));
            assertEquals((int) metric(m, "ebpf_traffic_exporter_reverse_dns_queries_total", null), Udp.drain(dead, 100),
                    "every query counted reached the dead server");
            // Generous fixed bounds: a lookup that blocked would cost its 2 s timeout.
            for (int k = 0; k < 2; k++) {
                double[] a = k == 0 ? api[1] : scrape[1];
                double[] base = k == 0 ? api[0] : scrape[0];
                String what = k == 0 ? "/api/v1/top" : "/metrics";
                assertTrue(quantile(a, 1) < 1000, what + " with a dead resolver: " + report);
                assertTrue(quantile(a, .5) < quantile(base, .5) + 100, what + ": median within 100 ms of reverse DNS off: " + report);
            }
            for (Snapshot.Row r : top(net.b, portDead, "n=100").rows()) {
                assertNull(r.srcName(), "no names from a dead server");
            }
        }
    }
}
