package dev.ebpftraffic.web;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * close() returns only when no request runs any more: the exporter closes the collector and the
 * maps right after it, and a scrape still running would read them.
 */
@Timeout(60)
class MetricsServerCloseTest {
    @Test
    void closeWaitsForAScrapeThatRuns() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        AtomicBoolean finished = new AtomicBoolean();
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new MultiCollector() {
            @Override
            public MetricSnapshots collect() {
                entered.countDown();
                long until = System.nanoTime() + 500_000_000L; // a slow scrape; deaf to interrupts, as a map read is
                while (System.nanoTime() - until < 0) {
                    Thread.onSpinWait();
                }
                finished.set(true);
                return MetricSnapshots.of();
            }

            @Override
            public List<String> getPrometheusNames() {
                return List.of();
            }
        });
        MetricsServer server = MetricsServer.start(new ListenAddress("127.0.0.1", 0), registry);
        HttpClient client = HttpClient.newHttpClient();
        client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics")).build(),
                HttpResponse.BodyHandlers.discarding());
        assertTrue(entered.await(10, TimeUnit.SECONDS), "the scrape did not start");
        server.close();
        assertTrue(finished.get(), "close() returned while a scrape still ran");
    }
}
