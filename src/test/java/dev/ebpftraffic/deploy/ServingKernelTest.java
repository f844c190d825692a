package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real exporter, started through the launcher on a veth in a namespace, served with the
 * exporter-toolkit style flags: custom telemetry path, JSON logs, content negotiation on a real
 * scrape, and `promtool check metrics` on that scrape.
 */
@KernelTest
class ServingKernelTest {
    static final int PORT = 9464;
    static final String ADDR = "127.0.0.1:" + PORT;

    @Test
    void realScrapeNegotiationAndPromtool() throws IOException {
        String promtool = Cmd.require("promtool", "prometheus");
        Cmd.require("curl", "curl");
        // The exporter's side is a (ifA, 10.77.0.1 and fd00:77::1), the peer b (10.77.0.2, fd00:77::2).
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            net.addPair("fd00:77::1", "fd00:77::2", 64);
            ExporterProcess exp = net.own(ExporterProcess.start(net.a, PORT, Map.of(), "serving", List.of(),
                    "--iface", net.ifA, "--web.listen-address", ADDR, "--web.telemetry-path", "/probe/metrics",
                    "--log.format", "json"));
            String base = "http://" + ADDR;
            exp.awaitReady(base + "/-/ready", Duration.ofSeconds(20));

            // Known traffic: 3 IPv4 and 3 IPv6 echo requests and their replies.
            net.exec(net.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2").ok();
            net.exec(net.a, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00:77::2").ok();

            String landing = net.exec(net.a, "curl", "-sS", base + "/").ok().stdout();
            assertTrue(landing.contains("<a href=\"./probe/metrics\">Metrics</a>"), landing);
            assertEquals("404", net.exec(net.a, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/metrics").stdout());
            assertEquals("Healthy\n", net.exec(net.a, "curl", "-sS", base + "/-/healthy").ok().stdout());
            assertEquals("Ready\n", net.exec(net.a, "curl", "-sS", base + "/-/ready").ok().stdout());

            // Prometheus text (the default), with exact counts for the pings, from the second scrape on:
            // the first one that exports a series shows it at 0.
            assertTrue(net.exec(net.a, "curl", "-sS", base + "/probe/metrics").ok().stdout().contains("network_traffic_packets_total{"));
            Cmd.Result text = net.exec(net.a, "curl", "-sS", "-D", "/dev/stderr", base + "/probe/metrics").ok();
            assertTrue(text.stderr().contains("Content-type: text/plain; version=0.0.4; charset=utf-8"), text.stderr());
            String scrape = text.stdout();
            String v4out = "{direction=\"outbound\",dst_ip=\"10.77.0.2\",iface=\"" + net.ifA + "\",ip_type=\"private\",src_ip=\"10.77.0.1\"}";
            String v6in = "{direction=\"inbound\",dst_ip=\"fd00:77::1\",iface=\"" + net.ifA + "\",ip_type=\"private\",src_ip=\"fd00:77::2\"}";
            assertTrue(scrape.contains("network_traffic_packets_total" + v4out + " 3\n"), scrape);
            assertTrue(scrape.contains("network_traffic_bytes_total" + v4out + " 294\n"), scrape); // 3 x (14 + 20 + 8 + 56)
            assertTrue(scrape.contains("network_traffic_packets_total" + v6in + " 3\n"), scrape);
            assertTrue(scrape.contains("network_traffic_bytes_total" + v6in + " 354\n"), scrape); // 3 x (14 + 40 + 8 + 56)

            // promtool lints the real scrape: no output, exit 0.
            Path file = Files.createTempFile("scrape", ".prom");
            try {
                Files.writeString(file, scrape);
                Cmd.Result lint = Cmd.run(List.of("sh", "-c", promtool + " check metrics < " + file));
                assertEquals(0, lint.exitCode(), lint.stdout() + lint.stderr());
                assertEquals("", lint.stdout() + lint.stderr());
            } finally {
                Files.deleteIfExists(file);
            }

            // OpenMetrics
            Cmd.Result om = net.exec(net.a, "curl", "-sS", "-D", "/dev/stderr", "-H",
                    "Accept: application/openmetrics-text; version=1.0.0", base + "/probe/metrics").ok();
            assertTrue(om.stderr().contains("Content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"), om.stderr());
            assertTrue(om.stdout().endsWith("# EOF\n"), om.stdout());
            assertTrue(om.stdout().contains("network_traffic_packets_total" + v4out + " 3\n"), om.stdout());

            // Protobuf, as Prometheus 2.x asks first
            Cmd.Result pb = net.exec(net.a, "curl", "-sS", "-o", "/dev/null", "-D", "/dev/stdout", "-H",
                    "Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
                    base + "/probe/metrics").ok();
            assertTrue(pb.stdout().contains("Content-type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
                    pb.stdout());

            // gzip: the compressed body decompresses to the text format
            Path gz = Files.createTempFile("scrape", ".gz");
            try {
                Cmd.Result g = net.exec(net.a, "curl", "-sS", "-o", gz.toString(), "-D", "/dev/stdout", "-H", "Accept-Encoding: gzip",
                        base + "/probe/metrics").ok();
                assertTrue(g.stdout().contains("Content-encoding: gzip"), g.stdout());
                try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(Files.readAllBytes(gz)))) {
                    String plain = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                    assertTrue(plain.contains("network_traffic_packets_total" + v6in + " 3\n"), plain);
                }
            } finally {
                Files.deleteIfExists(gz);
            }

            // --log.format json: every line is one JSON object with time, level and msg (all on stderr).
            assertEquals("", exp.stdout());
            String log = exp.stderr();
            List<String> lines = log.lines().toList();
            assertTrue(lines.size() >= 2, log);
            for (String line : lines) {
                assertTrue(line.matches("\\{\"time\":\"\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\",\"level\":\"(debug|info|warn|error)\",\"msg\":\"([^\"\\\\]|\\\\.)*\"}"),
                        line);
            }
            assertTrue(log.contains("{\"level\":\"info\",\"msg\":\"listening on 127.0.0.1:9464 (http, metrics at /probe/metrics)\"}"
                    .substring(1)), log);
        }
    }
}
