package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.web.ListenAddress;
import dev.ebpftraffic.web.MetricsServer;
import dev.ebpftraffic.web.StreamingFamilies;
import dev.ebpftraffic.web.WebConfig;
import dev.ebpftraffic.workload.WorkloadAggregator;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With per-workload traffic on, a scrape of /metrics writes the state at most once: the server
 * streams the per-IP families and the client library renders the workload families after them, and
 * both come from one read, saved by one write before the response. That write holds every value
 * the response shows (what makes a crash after it lose or repeat nothing).
 */
class StateWritesPerScrapeTest {
    static final long NGINX = 101;

    /** The sum of a family's samples in a text or OpenMetrics response. */
    static long sum(String body, String family) {
        return body.lines().filter(l -> l.startsWith(family + "{"))
                .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"})
    void aScrapeWritesTheStateAtMostOnceAndItHoldsWhatTheScrapeShows(String accept) throws Exception {
        FakeFlowReader reader = new FakeFlowReader(16);
        List<String> errors = new ArrayList<>();
        TrafficCollector collector = new TrafficCollector(reader,
                new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4, Long.MAX_VALUE / 4, Integer.MAX_VALUE),
                        Labeler.plain()), i -> "eth0", List::of, new BuildInfo("v", "j"), errors::add);
        collector.setWorkloads(new WorkloadAggregator(0, Long.MAX_VALUE / 4,
                id -> Optional.of(id == NGINX ? "/system.slice/nginx.service" : "/")));
        List<CollectorState> writes = new java.util.concurrent.CopyOnWriteArrayList<>(); // saved on the server's thread
        collector.stateSink(writes::add);
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(collector);
        FlowKey pair = FakeFlowReader.key(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2");
        reader.flow(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 5, 500);
        reader.workload(NGINX, Direction.INBOUND, true, 3, 300);
        StreamingFamilies traffic = StreamingFamilies.of(TrafficCollector::isTrafficName, collector::writeTrafficText);
        MetricsServer server = MetricsServer.start(new ListenAddress("127.0.0.1", 0), registry,
                new MetricsServer.Settings("/metrics", WebConfig.none(), () -> true, "v", traffic));
        HttpClient client = HttpClient.newHttpClient();
        try {
            long sentPackets = 5;
            long sentWorkload = 3;
            for (int scrape = 1; scrape <= 6; scrape++) {
                boolean counts = scrape <= 4; // then two scrapes over a kernel that counted nothing new
                if (counts && scrape > 1) {
                    reader.send(pair, 2, 200);
                    reader.workload(NGINX, Direction.INBOUND, true, 4, 400);
                    sentPackets += 2;
                    sentWorkload += 4;
                }
                int before = writes.size();
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                        .header("Accept", accept).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
                long shownPairs = sum(r.body(), "network_traffic_packets_total");
                long shownWorkload = sum(r.body(), "network_workload_traffic_packets_total");
                // A new series shows 0 first; every later scrape shows all that was sent.
                assertEquals(scrape == 1 ? 0 : sentPackets, shownPairs, "scrape " + scrape + ":\n" + r.body());
                assertEquals(scrape == 1 ? 0 : sentWorkload, shownWorkload, "scrape " + scrape + ":\n" + r.body());
                // Each of the first four shows new values of both families: one write; then nothing changes: none.
                assertEquals(counts ? 1 : 0, writes.size() - before, "state writes in scrape " + scrape);
                CollectorState saved = writes.getLast();
                assertEquals(shownPairs, saved.flows().series().stream().mapToLong(s -> s.shownPackets()).sum(),
                        "the state file holds the per-IP values scrape " + scrape + " showed");
                assertEquals(shownWorkload, saved.workloads().series().stream().mapToLong(s -> s.shownPackets()).sum(),
                        "the state file holds the workload values scrape " + scrape + " showed");
                assertTrue(saved.workloads().series().stream().allMatch(s -> s.shown()), "scrape " + scrape);
            }
        } finally {
            server.close();
        }
        assertEquals(List.of(), errors);
    }
}
