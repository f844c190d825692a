package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
    static final String ADDR = "127.0.0.1:9464";

    @Test
    void realScrapeNegotiationAndPromtool() throws IOException {
        String promtool = Cmd.require("promtool", "prometheus");
        Cmd.require("curl", "curl");
        try (VethLab lab = new VethLab("srv");
             ExporterProcess exp = ExporterProcess.start(lab.exp, List.of(), ExporterProcess.launcher(),
                     "--iface", lab.ifExp, "--web.listen-address", ADDR, "--web.telemetry-path", "/probe/metrics",
                     "--log.format", "json")) {
            String base = "http://" + ADDR;
            exp.awaitReady(base + "/-/ready", 20_000);

            // Known traffic: 3 IPv4 and 3 IPv6 echo requests and their replies.
            lab.run(lab.exp, "ping", "-c", "3", "-i", "0.2", "-W", "2", VethLab.PEER_V4).ok();
            lab.run(lab.exp, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", VethLab.PEER_V6).ok();

            String landing = lab.run(lab.exp, "curl", "-sS", base + "/").ok().out();
            assertTrue(landing.contains("<a href=\"./probe/metrics\">Metrics</a>"), landing);
            assertEquals("404", lab.run(lab.exp, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/metrics").out());
            assertEquals("Healthy\n", lab.run(lab.exp, "curl", "-sS", base + "/-/healthy").ok().out());
            assertEquals("Ready\n", lab.run(lab.exp, "curl", "-sS", base + "/-/ready").ok().out());

            // Prometheus text (the default), with exact counts for the pings.
            Cmd.Result text = lab.run(lab.exp, "curl", "-sS", "-D", "/dev/stderr", base + "/probe/metrics").ok();
            assertTrue(text.err().contains("Content-type: text/plain; version=0.0.4; charset=utf-8"), text.err());
            String scrape = text.out();
            String v4out = "{direction=\"outbound\",dst_ip=\"10.77.0.2\",iface=\"" + lab.ifExp + "\",ip_type=\"private\",src_ip=\"10.77.0.1\"}";
            String v6in = "{direction=\"inbound\",dst_ip=\"fd00:77::1\",iface=\"" + lab.ifExp + "\",ip_type=\"private\",src_ip=\"fd00:77::2\"}";
            assertTrue(scrape.contains("network_traffic_packets_total" + v4out + " 3\n"), scrape);
            assertTrue(scrape.contains("network_traffic_bytes_total" + v4out + " 294\n"), scrape); // 3 x (14 + 20 + 8 + 56)
            assertTrue(scrape.contains("network_traffic_packets_total" + v6in + " 3\n"), scrape);
            assertTrue(scrape.contains("network_traffic_bytes_total" + v6in + " 354\n"), scrape); // 3 x (14 + 40 + 8 + 56)

            // promtool lints the real scrape: no output, exit 0.
            Path file = Files.createTempFile("scrape", ".prom");
            try {
                Files.writeString(file, scrape);
                Cmd.Result lint = Cmd.run(null, List.of("sh", "-c", promtool + " check metrics < " + file));
                assertEquals(0, lint.exit(), lint.out() + lint.err());
                assertEquals("", lint.out() + lint.err());
            } finally {
                Files.deleteIfExists(file);
            }

            // OpenMetrics
            Cmd.Result om = lab.run(lab.exp, "curl", "-sS", "-D", "/dev/stderr", "-H",
                    "Accept: application/openmetrics-text; version=1.0.0", base + "/probe/metrics").ok();
            assertTrue(om.err().contains("Content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"), om.err());
            assertTrue(om.out().endsWith("# EOF\n"), om.out());
            assertTrue(om.out().contains("network_traffic_packets_total" + v4out + " 3\n"), om.out());

            // Protobuf, as Prometheus 2.x asks first
            Cmd.Result pb = lab.run(lab.exp, "curl", "-sS", "-o", "/dev/null", "-D", "/dev/stdout", "-H",
                    "Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
                    base + "/probe/metrics").ok();
            assertTrue(pb.out().contains("Content-type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
                    pb.out());

            // gzip: the compressed body decompresses to the text format
            Path gz = Files.createTempFile("scrape", ".gz");
            try {
                Cmd.Result g = lab.run(lab.exp, "curl", "-sS", "-o", gz.toString(), "-D", "/dev/stdout", "-H", "Accept-Encoding: gzip",
                        base + "/probe/metrics").ok();
                assertTrue(g.out().contains("Content-encoding: gzip"), g.out());
                try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(Files.readAllBytes(gz)))) {
                    String plain = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                    assertTrue(plain.contains("network_traffic_packets_total" + v6in + " 3\n"), plain);
                }
            } finally {
                Files.deleteIfExists(gz);
            }

            // --log.format json: every line is one JSON object with time, level and msg.
            String log = exp.logText();
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
