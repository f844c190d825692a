package dev.ebpftraffic.web;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.web.ListenAddress;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.FakeFlowReader;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.expositionformats.generated.com_google_protobuf_4_36_2.Metrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * /metrics with the traffic families streamed by the server (the exporter's wiring) and the rest
 * rendered by the client: every negotiated format says the same, with one # EOF for OpenMetrics.
 */
class StreamingMetricsServerTest {
    static final String PAIR = "{direction=\"inbound\",dst_ip=\"192.168.1.5\",iface=\"eth0\",ip_type=\"private\",src_ip=\"1.1.1.1\"}";
    static final String PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
            + "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"; // what Prometheus 2.x sends

    static MetricsServer server;
    static String base;
    static final HttpClient CLIENT = HttpClient.newHttpClient();

    @BeforeAll
    static void start() {
        PrometheusRegistry registry = new PrometheusRegistry();
        FakeFlowReader oneFlow = new FakeFlowReader(16);
        oneFlow.flow(2, Direction.INBOUND, "1.1.1.1", "192.168.1.5", 10, 1234);
        TrafficCollector collector = new TrafficCollector(oneFlow,
                new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4, Long.MAX_VALUE / 4, Integer.MAX_VALUE),
                        Labeler.plain()),
                i -> "eth0", List::of, new BuildInfo("1.2.3", "25"), e -> { });
        registry.register(collector);
        try { // a series shows 0 in its first scrape; the tests read the ones after
            collector.writeTrafficText(java.io.OutputStream.nullOutputStream(), false);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        StreamingFamilies traffic = StreamingFamilies.of(TrafficCollector::isTrafficName, collector::writeTrafficText);
        server = MetricsServer.start(new ListenAddress("127.0.0.1", 0), registry,
                new MetricsServer.Settings("/metrics", WebConfig.none(), () -> true, "1.2.3", traffic));
        base = "http://127.0.0.1:" + server.port();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static HttpResponse<byte[]> get(String pathAndQuery, String method, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + pathAndQuery)).timeout(Duration.ofSeconds(10))
                .method(method, HttpRequest.BodyPublishers.noBody());
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static String text(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    @Test
    void plainTextStreamsTrafficWithExactIntegersThenTheRest() throws Exception {
        HttpResponse<byte[]> r = get("/metrics", "GET");
        assertEquals(200, r.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("Content-Type").orElseThrow());
        String body = text(r);
        assertTrue(body.startsWith("# HELP network_traffic_bytes_total "), body);
        assertTrue(body.contains("\nnetwork_traffic_bytes_total" + PAIR + " 1234\n"), body);
        assertTrue(body.contains("\nnetwork_traffic_packets_total" + PAIR + " 10\n"), body);
        assertTrue(body.contains("\nebpf_traffic_exporter_build_info{java_version=\"25\",version=\"1.2.3\"} 1.0\n"), body);
        assertEquals(1, count(body, "# TYPE network_traffic_bytes_total counter"), "the family once: " + body);
    }

    @Test
    void prometheusDefaultAcceptGetsOpenMetricsWithOneEof() throws Exception {
        HttpResponse<byte[]> r = get("/metrics", "GET", "Accept", PROMETHEUS_ACCEPT);
        assertEquals("application/openmetrics-text; version=1.0.0; charset=utf-8", r.headers().firstValue("Content-Type").orElseThrow());
        String body = text(r);
        assertTrue(body.startsWith("# TYPE network_traffic_bytes counter\n# UNIT network_traffic_bytes bytes\n# HELP network_traffic_bytes "), body);
        assertTrue(body.contains("\nnetwork_traffic_bytes_total" + PAIR + " 1234\n"), body);
        assertTrue(body.endsWith("# EOF\n"), body);
        assertEquals(1, count(body, "# EOF"));
        assertEquals(1, count(body, "# TYPE network_traffic_packets counter"));
    }

    @Test
    void gzipIsHonouredOnTheStreamedPath() throws Exception {
        HttpResponse<byte[]> r = get("/metrics", "GET", "Accept-Encoding", "gzip");
        assertEquals("gzip", r.headers().firstValue("Content-Encoding").orElseThrow());
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(r.body()))) {
            String body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(body.contains("\nnetwork_traffic_bytes_total" + PAIR + " 1234\n"), body);
        }
    }

    @Test
    void protobufAndNameFiltersGoThroughTheClientLibrary() throws Exception {
        HttpResponse<byte[]> pb = get("/metrics", "GET", "Accept",
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited");
        assertTrue(pb.headers().firstValue("Content-Type").orElseThrow().startsWith("application/vnd.google.protobuf"));
        List<String> names = new ArrayList<>();
        double bytes = -1;
        try (InputStream in = new ByteArrayInputStream(pb.body())) {
            Metrics.MetricFamily f;
            while ((f = Metrics.MetricFamily.parseDelimitedFrom(in)) != null) {
                names.add(f.getName());
                if (f.getName().equals("network_traffic_bytes_total")) {
                    bytes = f.getMetric(0).getCounter().getValue();
                }
            }
        }
        assertEquals(1, names.stream().filter("network_traffic_bytes_total"::equals).count(), names.toString());
        assertEquals(1234.0, bytes);

        String filtered = text(get("/metrics?name[]=network_traffic_packets_total", "GET"));
        assertTrue(filtered.contains("network_traffic_packets_total" + PAIR + " 10.0\n"), filtered);
        assertFalse(filtered.contains("network_traffic_bytes_total"), filtered);
        assertFalse(filtered.contains("ebpf_traffic_exporter_build_info"), filtered);
    }

    @Test
    void headHasNoBody() throws Exception {
        HttpResponse<byte[]> r = get("/metrics", "HEAD");
        assertEquals(200, r.statusCode());
        assertEquals(0, r.body().length);
    }

    /**
     * Each Accept header gets the format the client library chooses for it (its own findWriter),
     * and the traffic families once in that format: streamed (exact integers) for the text
     * formats, from the client library for protobuf.
     */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "application/openmetrics-text;version=1.0.0                                       | application/openmetrics-text; version=1.0.0; charset=utf-8",
            "text/plain;version=0.0.4                                                         | text/plain; version=0.0.4; charset=utf-8",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited | application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            "application/vnd.google.protobuf                                                  | text/plain; version=0.0.4; charset=utf-8",
            "garbage;;;q=x, ,                                                                 | text/plain; version=0.0.4; charset=utf-8",
            "*/*                                                                              | text/plain; version=0.0.4; charset=utf-8",
    })
    void acceptGetsTheFormatTheClientLibraryChooses(String accept, String contentType) throws Exception {
        assertEquals(contentType, ExpositionFormats.init().findWriter(accept).getContentType(), "the client library's choice");
        HttpResponse<byte[]> r = get("/metrics", "GET", "Accept", accept);
        assertEquals(200, r.statusCode());
        assertEquals(contentType, r.headers().firstValue("Content-Type").orElseThrow());
        if (contentType.startsWith("application/vnd.google.protobuf")) {
            List<String> names = new ArrayList<>();
            try (InputStream in = new ByteArrayInputStream(r.body())) {
                Metrics.MetricFamily f;
                while ((f = Metrics.MetricFamily.parseDelimitedFrom(in)) != null) {
                    names.add(f.getName());
                }
            }
            assertEquals(1, names.stream().filter("network_traffic_bytes_total"::equals).count(), names.toString());
            return;
        }
        String body = text(r);
        assertTrue(body.contains("\nnetwork_traffic_bytes_total" + PAIR + " 1234\n"), body);
        assertTrue(body.contains("\nebpf_traffic_exporter_build_info{java_version=\"25\",version=\"1.2.3\"} 1"), body);
        boolean openMetrics = contentType.startsWith("application/openmetrics-text");
        assertEquals(openMetrics ? 1 : 0, count(body, "# EOF"), body);
        assertEquals(1, count(body, openMetrics ? "# TYPE network_traffic_bytes counter" : "# TYPE network_traffic_bytes_total counter"), body);
    }

    static int count(String s, String needle) {
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }
}
