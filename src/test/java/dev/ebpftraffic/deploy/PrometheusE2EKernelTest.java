package dev.ebpftraffic.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Debian's real Prometheus scrapes the exporter every second inside the exporter's namespace,
 * while a steady, known UDP load crosses the veth both ways. Through Prometheus's HTTP API:
 * rate(network_traffic_bytes_total[10s]) for each pair is within 2% of the generated rate, and
 * sum by (direction) equals the exact totals sent. Run twice: plain HTTP, and with TLS (mutual),
 * basic auth and headers from a --web.config.file, Prometheus configured to match. The plain run
 * also loads deploy/prometheus/rules.yml and runs every query of the Grafana dashboard.
 */
@KernelTest
class PrometheusE2EKernelTest {
    static final int EXPORTER_PORT = 9466;
    static final String EXPORTER = "127.0.0.1:" + EXPORTER_PORT;
    static final String EXP_V4 = "10.77.0.1";
    static final String PEER_V4 = "10.77.0.2";
    static final String PROM = "127.0.0.1:9090";
    static final int PORT = 5001;
    // peer -> exp (inbound at the exporter): 250 datagrams/s of 1000 bytes = frames of 1042 bytes
    static final int IN_PPS = 250;
    static final int IN_PAYLOAD = 1000;
    // exp -> peer (outbound): 150 datagrams/s of 600 bytes = frames of 642 bytes
    static final int OUT_PPS = 150;
    static final int OUT_PAYLOAD = 600;
    static final int HEADERS = 14 + 20 + 8;
    static final int SECONDS = 16;

    @TempDir
    Path tmp;

    @Test
    void plainHttp() throws Exception {
        run(false);
    }

    @Test
    void tlsClientCertAndBasicAuth() throws Exception {
        run(true);
    }

    /** A background process with its output in a file; close() sends SIGTERM, then SIGKILL. */
    record Bg(Process p, Path log) implements AutoCloseable {
        static Bg start(List<String> cmd, Path log) throws IOException {
            return new Bg(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start(), log);
        }

        String output() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "";
            }
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

    void run(boolean secure) throws Exception {
        String prometheus = Cmd.require("prometheus", "prometheus");
        Cmd.require("curl", "curl");
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> exporterArgs = new ArrayList<>(List.of("--iface", "", "--web.listen-address", EXPORTER));
        String scrape = "";
        List<String> curlAuth = List.of();
        if (secure) {
            TestPki pki = TestPki.create(tmp, null);
            String hash = Htpasswd.hash("prometheus", "scrape-s3cret", 10);
            Files.writeString(tmp.resolve("web.yml"), """
                    tls_server_config:
                      cert_file: server.crt
                      key_file: server.key
                      client_auth_type: RequireAndVerifyClientCert
                      client_ca_file: ca.crt
                    basic_auth_users:
                      prometheus: %s
                    http_server_config:
                      headers:
                        X-Content-Type-Options: nosniff
                    """.formatted(hash));
            exporterArgs.addAll(List.of("--web.config.file", tmp.resolve("web.yml").toString()));
            scrape = """
                        scheme: https
                        tls_config:
                          ca_file: %s
                          cert_file: %s
                          key_file: %s
                        basic_auth:
                          username: prometheus
                          password: scrape-s3cret
                    """.formatted(pki.caCert(), pki.clientCert(), pki.clientKey());
            curlAuth = List.of("--cacert", pki.caCert().toString(), "--cert", pki.clientCert().toString(), "--key",
                    pki.clientKey().toString(), "-u", "prometheus:scrape-s3cret");
        }
        // The shipped rules, evaluated every second instead of every 30 s so that a short test sees them.
        String rules = Files.readString(ExporterProcess.projectRoot().resolve("deploy/prometheus/rules.yml"));
        assertTrue(rules.contains("    interval: 30s\n"), "rules.yml changed: adapt this test");
        Files.writeString(tmp.resolve("rules.yml"), rules.replace("    interval: 30s\n", "    interval: 1s\n"));
        Files.writeString(tmp.resolve("prometheus.yml"), """
                global:
                  scrape_interval: 1s
                  scrape_timeout: 900ms
                  evaluation_interval: 1s
                rule_files: [%s]
                scrape_configs:
                  - job_name: ebpf-traffic-exporter
                    static_configs:
                      - targets: ['%s']
                %s""".formatted(tmp.resolve("rules.yml"), EXPORTER, scrape));
        Path load = tmp.resolve("UdpLoad.java");
        try (var in = getClass().getResourceAsStream("/deploy/UdpLoad.java")) {
            Files.copy(in, load, StandardCopyOption.REPLACE_EXISTING);
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();

        // The exporter's side is a (ifA), the peer b; IPv4 only.
        try (NetNs net = NetNs.pair()) {
            noIpv6(net);
            net.addPair(EXP_V4, PEER_V4, 24);
            exporterArgs.set(1, net.ifA);
            try (ExporterProcess exp = ExporterProcess.start(net.a, EXPORTER_PORT, Map.of(),
                    "prometheus-e2e-" + (secure ? "tls" : "plain"), List.of(), exporterArgs.toArray(new String[0]));
                 Bg prom = Bg.start(NetNs.in(net.a, prometheus, "--config.file=" + tmp.resolve("prometheus.yml"),
                         "--storage.tsdb.path=" + tmp.resolve("data"), "--web.listen-address=" + PROM, "--log.level=warn"),
                         tmp.resolve("prometheus.log"))) {
                String scheme = secure ? "https" : "http";
                List<String> ready = new ArrayList<>(curlAuth);
                exp.awaitReady(scheme + "://" + EXPORTER + "/-/ready", Duration.ofSeconds(20), ready.toArray(new String[0]));
                awaitUp(net, prom);

                // The load: both directions at once, started together once both ends listen.
                Path go = tmp.resolve("go");
                long start;
                try (Bg toExp = Bg.start(NetNs.in(net.b, java, load.toString(), PEER_V4, "" + PORT, EXP_V4,
                        "" + IN_PPS, "" + IN_PAYLOAD, "" + SECONDS, go.toString()), tmp.resolve("load-in.log"));
                     Bg fromExp = Bg.start(NetNs.in(net.a, java, load.toString(), EXP_V4, "" + PORT, PEER_V4,
                             "" + OUT_PPS, "" + OUT_PAYLOAD, "" + SECONDS, go.toString()), tmp.resolve("load-out.log"))) {
                    long deadline = System.currentTimeMillis() + 30_000;
                    while (!(toExp.output().startsWith("bound") && fromExp.output().startsWith("bound"))) {
                        assertTrue(System.currentTimeMillis() < deadline && toExp.p().isAlive() && fromExp.p().isAlive(),
                                "load generators did not start: " + toExp.output() + fromExp.output());
                        Thread.sleep(20);
                    }
                    start = System.currentTimeMillis();
                    Files.writeString(go, "");
                    for (Bg b : List.of(toExp, fromExp)) {
                        assertTrue(b.p().waitFor(SECONDS + 30, TimeUnit.SECONDS), "load did not finish: " + b.output());
                        assertEquals(0, b.p().exitValue(), b.output());
                    }
                    assertTrue(toExp.output().startsWith("bound\nsent " + (IN_PPS * SECONDS) + " in "), toExp.output());
                    assertTrue(fromExp.output().startsWith("bound\nsent " + (OUT_PPS * SECONDS) + " in "), fromExp.output());
                    assertTrue(toExp.output().contains("received " + (OUT_PPS * SECONDS)), toExp.output());
                    assertTrue(fromExp.output().contains("received " + (IN_PPS * SECONDS)), fromExp.output());
                }
                Thread.sleep(3000); // a few scrapes after the last packet

                // 1. rate() over 10 s in the middle of the load, per pair, within 2% of the generated rate.
                double at = (start + (SECONDS - 3) * 1000L) / 1000.0;
                String inSel = "direction=\"inbound\",src_ip=\"10.77.0.2\",dst_ip=\"10.77.0.1\",iface=\"" + net.ifA + "\"";
                String outSel = "direction=\"outbound\",src_ip=\"10.77.0.1\",dst_ip=\"10.77.0.2\",iface=\"" + net.ifA + "\"";
                double inRate = scalar(net, "rate(network_traffic_bytes_total{" + inSel + "}[10s])", at);
                double outRate = scalar(net, "rate(network_traffic_bytes_total{" + outSel + "}[10s])", at);
                double inExpected = IN_PPS * (double) (IN_PAYLOAD + HEADERS);
                double outExpected = OUT_PPS * (double) (OUT_PAYLOAD + HEADERS);
                System.out.printf("Prometheus e2e (%s): inbound %.0f B/s (generated %.0f, %+.2f%%), outbound %.0f B/s (generated %.0f, %+.2f%%)%n",
                        secure ? "TLS + basic auth" : "plain", inRate, inExpected, 100 * (inRate / inExpected - 1),
                        outRate, outExpected, 100 * (outRate / outExpected - 1));
                assertTrue(Math.abs(inRate / inExpected - 1) < 0.02, "inbound rate " + inRate + " B/s, generated " + inExpected);
                assertTrue(Math.abs(outRate / outExpected - 1) < 0.02, "outbound rate " + outRate + " B/s, generated " + outExpected);
                double inPps = scalar(net, "rate(network_traffic_packets_total{" + inSel + "}[10s])", at);
                assertTrue(Math.abs(inPps / IN_PPS - 1) < 0.02, "inbound " + inPps + " packets/s, generated " + IN_PPS);

                // 2. sum by (direction): exactly what was sent, and what the exporter itself says now.
                Map<String, Double> bytes = byDirection(net, "sum by (direction) (network_traffic_bytes_total)");
                Map<String, Double> packets = byDirection(net, "sum by (direction) (network_traffic_packets_total)");
                assertEquals(Map.of("inbound", (double) IN_PPS * SECONDS * (IN_PAYLOAD + HEADERS),
                        "outbound", (double) OUT_PPS * SECONDS * (OUT_PAYLOAD + HEADERS)), bytes);
                assertEquals(Map.of("inbound", (double) IN_PPS * SECONDS, "outbound", (double) OUT_PPS * SECONDS), packets);
                List<String> curl = new ArrayList<>(List.of("curl", "-sS", "--fail"));
                curl.addAll(curlAuth);
                curl.add(scheme + "://" + EXPORTER + "/metrics");
                String direct = net.exec(net.a, curl.toArray(new String[0])).ok().stdout();
                assertEquals(bytes, sumByDirection(direct, "network_traffic_bytes_total"));
                assertEquals(packets, sumByDirection(direct, "network_traffic_packets_total"));

                if (!secure) {
                    checkRulesAndDashboard(net, net.ifA);
                } else {
                    // The scrape went through TLS with a client certificate and basic auth: without them, nothing.
                    Cmd.Result noAuth = net.exec(net.a, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            curlAuth.get(1), "--cert", curlAuth.get(3), "--key", curlAuth.get(5), scheme + "://" + EXPORTER + "/metrics");
                    assertEquals("401", noAuth.stdout());
                    assertTrue(net.exec(net.a, "curl", "-s", "--cacert", curlAuth.get(1), scheme + "://" + EXPORTER + "/metrics").exitCode() != 0);
                }
                assertEquals(1.0, scalar(net, "up{job=\"ebpf-traffic-exporter\"}", System.currentTimeMillis() / 1000.0),
                        prom.output());
            }
        }
    }

    /**
     * IPv6 off on both ends of the veth, before any address: not a single IPv6 frame (MLD, NDP)
     * crosses it, so the sums by direction below are exactly the generated load.
     */
    static void noIpv6(NetNs net) {
        NetNs.sysctls(net.a, Map.of("net/ipv6/conf/" + net.ifA + "/disable_ipv6", "1"));
        NetNs.sysctls(net.b, Map.of("net/ipv6/conf/" + net.ifB + "/disable_ipv6", "1"));
    }

    /** Waits until Prometheus has scraped the exporter successfully. */
    static void awaitUp(NetNs net, Bg prom) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            if (!prom.p().isAlive()) {
                throw new AssertionError("prometheus exited: " + prom.output());
            }
            try {
                JsonNode r = query(net, "up{job=\"ebpf-traffic-exporter\"}", System.currentTimeMillis() / 1000.0);
                if (r.size() == 1 && r.get(0).path("value").get(1).asText().equals("1")) {
                    return;
                }
            } catch (AssertionError e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new AssertionError("Prometheus never scraped the exporter successfully:\n" + prom.output()
                + "\ntargets: " + net.exec(net.a, "curl", "-s", "http://" + PROM + "/api/v1/targets").stdout());
    }

    /** The result vector of an instant query. */
    static JsonNode query(NetNs net, String promql, double time) {
        return query(net.a, PROM, promql, time);
    }

    /** The result vector of an instant query to the Prometheus at prom, asked from namespace ns. */
    static JsonNode query(String ns, String prom, String promql, double time) {
        Cmd.Result r = Cmd.run(NetNs.in(ns, "curl", "-sS", "--fail", "--get", "--data-urlencode", "query=" + promql,
                "--data-urlencode", "time=" + time, "http://" + prom + "/api/v1/query"));
        if (r.exitCode() != 0) {
            throw new AssertionError("query failed: " + promql + ": " + r.stderr() + r.stdout());
        }
        try {
            JsonNode j = K8sObjects.JSON.readTree(r.stdout());
            assertEquals("success", j.path("status").asText(), r.stdout());
            return j.path("data").path("result");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static double scalar(NetNs net, String promql, double time) {
        return scalar(query(net, promql, time), promql);
    }

    /** The one sample's value of an instant query's result. */
    static double scalar(JsonNode r, String promql) {
        assertEquals(1, r.size(), promql + " -> " + r);
        return Double.parseDouble(r.get(0).path("value").get(1).asText());
    }

    static Map<String, Double> byDirection(NetNs net, String promql) {
        Map<String, Double> out = new HashMap<>();
        for (JsonNode s : query(net, promql, System.currentTimeMillis() / 1000.0)) {
            out.put(s.path("metric").path("direction").asText(), Double.parseDouble(s.path("value").get(1).asText()));
        }
        return out;
    }

    static Map<String, Double> sumByDirection(String exposition, String family) {
        Map<String, Double> out = new HashMap<>();
        for (String line : exposition.lines().toList()) {
            if (line.startsWith(family + "{")) {
                String dir = line.replaceAll(".*direction=\"([a-z]+)\".*", "$1");
                out.merge(dir, Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)), Double::sum);
            }
        }
        return out;
    }

    /** deploy/prometheus/rules.yml evaluated by this Prometheus, and every Grafana query answered. */
    static void checkRulesAndDashboard(NetNs net, String iface) throws IOException {
        double now = System.currentTimeMillis() / 1000.0;
        JsonNode rec = query(net, "iface_direction_ip_type:network_traffic_bytes:rate5m", now);
        assertEquals(2, rec.size(), rec.toString());
        for (JsonNode s : rec) {
            assertEquals(iface, s.path("metric").path("iface").asText());
            assertEquals("private", s.path("metric").path("ip_type").asText());
            assertTrue(Double.parseDouble(s.path("value").get(1).asText()) > 0, s.toString());
        }
        assertEquals(1, query(net, "src_ip:network_traffic_bytes:rate5m{src_ip=\"10.77.0.2\"}", now).size());
        assertEquals(1, query(net, "dst_ip:network_traffic_bytes:rate5m{dst_ip=\"10.77.0.2\"}", now).size());
        // One fill ratio per kernel flows map: the IPv4 one holds the test's pairs.
        JsonNode fill = query(net, "instance:ebpf_traffic_exporter_flow_map:fill_ratio", now);
        assertEquals(List.of("ipv4", "ipv6"), java.util.stream.StreamSupport.stream(fill.spliterator(), false)
                .map(s -> s.path("metric").path("family").asText()).sorted().toList(), fill.toString());
        for (JsonNode s : fill) {
            double ratio = Double.parseDouble(s.path("value").get(1).asText());
            assertTrue(s.path("metric").path("family").asText().equals("ipv4") ? ratio > 0 && ratio < 1 : ratio < 1, s.toString());
        }
        // No alert fires for a healthy exporter with modest traffic.
        assertEquals(0, query(net, "ALERTS{alertstate=\"firing\"}", now).size());

        JsonNode dash = K8sObjects.JSON.readTree(ExporterProcess.projectRoot().resolve("deploy/grafana/ebpf-traffic-exporter.json").toFile());
        int nonEmpty = 0;
        List<String> empty = new ArrayList<>();
        for (String expr : DeployArtifactsTest.dashboardExprs(dash)) {
            String q = expr.replace("$__rate_interval", "10s").replace("$__range", "1m").replace("$instance", ".*")
                    .replace("$iface", ".*").replace("$job", ".*");
            JsonNode r = query(net, q, now - 4);
            if (r.isEmpty()) {
                empty.add(q);
            } else {
                nonEmpty++;
            }
        }
        // Empty by nature here: overflow, skipped frames and read errors (none happened).
        assertEquals(List.of(), empty.stream().filter(q -> !q.contains("overflow") && !q.contains("skipped") && !q.contains("read_errors")).toList());
        assertTrue(nonEmpty >= 14, "non-empty dashboard queries: " + nonEmpty);
    }
}
