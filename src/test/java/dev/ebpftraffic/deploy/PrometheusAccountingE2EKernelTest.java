package dev.ebpftraffic.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Lab;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Udp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.ebpftraffic.testing.Lab.addr;
import static dev.ebpftraffic.testing.Lab.ip;
import static dev.ebpftraffic.testing.Lab.neigh;
import static dev.ebpftraffic.testing.Lab.veth;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Prometheus' own arithmetic, end to end: Debian's Prometheus scrapes the exporter every second
 * while, under a small budget (--max-series 6) and TTL (--series-ttl 3s), eight pairs whose ranking
 * changes every second are folded and unfolded, a heavy pair goes idle and expires, and interfaces
 * appear, carry a pair and are deleted. Every datagram is known (the receiver got it), so the bytes
 * on the wire are known exactly.
 *
 * <ol>
 *   <li>Exact: the raw samples of {@code network_traffic_bytes_total[W]} (and packets), as
 *       Prometheus stored them, summed the way increase() sums them without extrapolation (per
 *       series: last - first, plus the value before each reset), equal what was sent.</li>
 *   <li>{@code sum(increase(network_traffic_bytes_total[W]))} lies within what extrapolation allows,
 *       computed from the same samples (see {@link #extrapolated}).</li>
 * </ol>
 */
@KernelTest
class PrometheusAccountingE2EKernelTest {
    static final int EXPORTER_PORT = 9467;
    static final String PROM = "127.0.0.1:9091";
    static final int PAYLOAD = 200;
    static final int FRAME = 14 + 20 + 8 + PAYLOAD; // Ethernet + IPv4 + UDP + payload
    static final double SCRAPE_SECONDS = 1.0;

    @TempDir
    Path tmp;

    final AtomicInteger port = new AtomicInteger(42000);
    long sentPackets;
    long sentBytes;

    @Test
    void sumOfIncreaseIsExactThroughFoldsExpiryAndInterfaceChurn() throws Exception {
        String prometheus = Cmd.require("prometheus", "prometheus");
        Cmd.require("curl", "curl");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(tmp.resolve("prometheus.yml"), """
                global:
                  scrape_interval: 1s
                  scrape_timeout: 900ms
                scrape_configs:
                  - job_name: ebpf-traffic-exporter
                    static_configs:
                      - targets: ['127.0.0.1:%d']
                """.formatted(EXPORTER_PORT));
        try (Lab lab = Lab.create()) {
            String host = lab.ns("host");
            String peer = lab.ns("peer");
            for (String ns : List.of(host, peer)) { // no IPv6 at all: not a single stray frame
                NetNs.sysctls(ns, Map.of("net/ipv6/conf/all/disable_ipv6", "1", "net/ipv6/conf/default/disable_ipv6", "1"));
            }
            String s = lab.suffix();
            String macH = "02:" + s.substring(0, 2) + ":" + s.substring(2, 4) + ":" + s.substring(4, 6) + ":00:";
            veth(peer, "eth0", macH + "01", host, "tx0", macH + "02");
            addr(host, "tx0", "10.66.0.1/24");
            for (int i = 10; i <= 18; i++) {
                addr(peer, "eth0", "10.66.0." + i + "/24");
            }
            neigh(peer, "eth0", "10.66.0.1", macH + "02");
            for (int i = 10; i <= 18; i++) {
                neigh(host, "tx0", "10.66.0." + i, macH + "01");
            }

            ExporterProcess exp = lab.own(ExporterProcess.start(host, EXPORTER_PORT, Map.of(), "prom-accounting", List.of(),
                    "--iface", "tx*", "--max-series", "6", "--series-ttl", "3s", "--addr", "127.0.0.1:" + EXPORTER_PORT));
            exp.awaitAttached(Duration.ofSeconds(30));
            PrometheusE2EKernelTest.Bg prom = lab.own(PrometheusE2EKernelTest.Bg.start(NetNs.in(host, prometheus,
                    "--config.file=" + tmp.resolve("prometheus.yml"), "--storage.tsdb.path=" + tmp.resolve("data"),
                    "--web.listen-address=" + PROM, "--log.level=warn"), tmp.resolve("prometheus.log")));
            awaitUp(host, prom);
            double begin = now() - 1;

            int churned = 0;
            for (int t = 0; t < 24; t++) {
                long second = System.nanoTime();
                if (t < 3) { // a heavy pair, then idle: it is folded or expires
                    send(peer, "10.66.0.10", host, "10.66.0.1", 40);
                }
                for (int k = 0; k < 8; k++) { // eight pairs whose ranking rotates every second
                    send(peer, "10.66.0." + (11 + k), host, "10.66.0.1", 1 + ((k + t) % 8) * 2);
                }
                if (t % 4 == 1 && churned < 5) { // an interface appears, carries a pair, is deleted
                    String n = "tx" + (++churned);
                    String c = lab.ns("c" + churned);
                    NetNs.sysctls(c, Map.of("net/ipv6/conf/all/disable_ipv6", "1", "net/ipv6/conf/default/disable_ipv6", "1"));
                    String peerMac = macH + String.format("%02x", 0x10 + churned);
                    String hostMac = macH + String.format("%02x", 0x20 + churned);
                    NetNs.sysctls(host, Map.of("net/ipv6/conf/default/disable_ipv6", "1"));
                    veth(c, "eth0", peerMac, host, n, hostMac);
                    addr(c, "eth0", "10.66." + churned + ".2/24");
                    addr(host, n, "10.66." + churned + ".1/24");
                    neigh(c, "eth0", "10.66." + churned + ".1", hostMac);
                    awaitHook(exp, n);
                    send(c, "10.66." + churned + ".2", host, "10.66." + churned + ".1", 5);
                    Thread.sleep(1500); // scraped a time or two
                    ip(host, "link", "del", n); // takes its peer with it
                }
                long rest = 1_000_000_000L - (System.nanoTime() - second);
                if (rest > 0) {
                    Thread.sleep(rest / 1_000_000);
                }
            }
            Thread.sleep(8000); // the TTL passes for everything idle; a few scrapes after the last packet
            double end = now();
            int window = (int) Math.ceil(end - begin) + 2;
            assertEquals(1.0, scalar(host, "min_over_time(up[" + window + "s])", end),
                    "a scrape failed: the exactness below assumes Prometheus stored every scrape");

            for (String family : List.of("bytes", "packets")) {
                long want = family.equals("bytes") ? sentBytes : sentPackets;
                JsonNode matrix = query(host, "network_traffic_" + family + "_total[" + window + "s]", end);
                double raw = 0;
                double low = 0;
                double high = 0;
                double expected = 0;
                int series = 0;
                for (JsonNode ser : matrix) {
                    List<double[]> pts = new ArrayList<>();
                    for (JsonNode v : ser.path("values")) {
                        pts.add(new double[]{v.get(0).asDouble(), Double.parseDouble(v.get(1).asText())});
                    }
                    double[] x = extrapolated(pts, end - window, end);
                    raw += x[0];
                    expected += x[1];
                    low += x[0];
                    high += x[2];
                    series++;
                }
                System.out.printf("Prometheus accounting (%s): %d series, raw increase %.0f, sent %d%n", family, series, raw, want);
                // 1. Exact, from the samples Prometheus stored.
                assertEquals((double) want, raw, family + ": raw increase over " + series + " series vs sent");
                // 2. sum(increase()) with Prometheus' extrapolation, within the computed allowance.
                double inc = scalar(host, "sum(increase(network_traffic_" + family + "_total[" + window + "s]))", end);
                System.out.printf("  sum(increase()) %.1f, allowed [%.1f, %.1f], extrapolation rules give %.1f%n", inc, low, high, expected);
                assertTrue(inc >= low - 1e-6 && inc <= high + 1e-6, family + ": sum(increase()) " + inc + " outside [" + low + ", " + high + "]");
                assertEquals(expected, inc, 1e-6 * Math.max(1, expected), family + ": sum(increase()) vs the extrapolation rules");
            }
            assertTrue(churned == 5, "interfaces churned: " + churned);
            assertTrue(exp.stderr().contains("tx3 is gone"), exp.stderr());
        }
    }

    /**
     * For one series' samples in [start, end] ({time, value}): {raw, extrapolated, upper bound}.
     *
     * <p>Raw: increase() without extrapolation: last - first, plus the value before each drop (a
     * counter reset; a series that went stale and came back at 0 is one too).
     *
     * <p>Extrapolated, as Prometheus 2.x's extrapolatedRate does for increase(): with fewer than 2
     * samples there is no result. Otherwise the raw increase is scaled by
     * (sampled + toStart + toEnd) / sampled, where sampled is the time between the first and last
     * sample, avg = sampled / (n - 1), toStart and toEnd are the gaps from the window's edges to the
     * first and last sample. For a counter, toStart is cut to where the counter would reach zero,
     * sampled × first / raw (0 for a series that starts at 0, as every series of this exporter does).
     * A gap of 1.1 × avg or more is not extrapolated over: it counts as avg / 2 instead.
     *
     * <p>Bound: each of toStart and toEnd adds at most 1.1 × avg, so the result lies between raw and
     * raw × (1 + 2.2 × avg / sampled). Summed over the series this is the allowance for
     * sum(increase()) around the exact total.
     */
    static double[] extrapolated(List<double[]> pts, double start, double end) {
        double raw = pts.getLast()[1] - pts.getFirst()[1];
        double last = 0;
        for (double[] p : pts) {
            if (p[1] < last) {
                raw += last;
            }
            last = p[1];
        }
        if (pts.size() < 2) {
            return new double[]{raw, 0, 0};
        }
        double sampled = pts.getLast()[0] - pts.getFirst()[0];
        double avg = sampled / (pts.size() - 1);
        double toStart = pts.getFirst()[0] - start;
        double toEnd = end - pts.getLast()[0];
        if (raw > 0 && pts.getFirst()[1] >= 0) {
            toStart = Math.min(toStart, sampled * (pts.getFirst()[1] / raw));
        }
        double threshold = avg * 1.1;
        double interval = sampled + (toStart < threshold ? toStart : avg / 2) + (toEnd < threshold ? toEnd : avg / 2);
        return new double[]{raw, raw * (interval / sampled), raw * (1 + 2 * threshold / sampled)};
    }

    /** Sends count datagrams of PAYLOAD bytes and asserts they arrived; counts their wire bytes. */
    void send(String srcNs, String src, String dstNs, String dst, int count) {
        Udp.send(srcNs, src, dstNs, dst, port.getAndIncrement(), count, PAYLOAD);
        sentPackets += count;
        sentBytes += (long) count * FRAME;
    }

    static void awaitHook(ExporterProcess exp, String iface) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!exp.stderr().contains("attached to " + iface + " (")) {
            assertTrue(System.nanoTime() < deadline, iface + " not attached within 5 s:\n" + exp.stderr());
            Thread.sleep(10);
        }
    }

    static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    static void awaitUp(String ns, PrometheusE2EKernelTest.Bg prom) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            assertTrue(prom.p().isAlive(), () -> "prometheus exited: " + prom.output());
            try {
                JsonNode r = query(ns, "up", now());
                if (r.size() == 1 && r.get(0).path("value").get(1).asText().equals("1")) {
                    return;
                }
            } catch (AssertionError e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new AssertionError("Prometheus never scraped the exporter:\n" + prom.output());
    }

    static JsonNode query(String ns, String promql, double time) {
        return PrometheusE2EKernelTest.query(ns, PROM, promql, time);
    }

    static double scalar(String ns, String promql, double time) {
        return PrometheusE2EKernelTest.scalar(query(ns, promql, time), promql);
    }
}
