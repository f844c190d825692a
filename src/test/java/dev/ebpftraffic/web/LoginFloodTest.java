package dev.ebpftraffic.web;

import dev.ebpftraffic.deploy.Htpasswd;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 200 requests with a wrong password (bcrypt cost 10) from one address on 127.0.0.1, 8 at a time,
 * while Prometheus scrapes with the right one. Only the failure budget runs bcrypt; the rest get
 * 429; the scrapes pass within a second. Prints the CPU the flood cost (README quotes it).
 */
class LoginFloodTest {
    static final int FLOOD = 200;

    @TempDir
    Path dir;

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aFloodOfBadPasswordsIsLimitedAndScrapesPass() throws Exception {
        String hash = Htpasswd.hash("prometheus", "s3cret", 10);
        Path yml = dir.resolve("web.yml");
        Files.writeString(yml, "basic_auth_users:\n  prometheus: " + hash + "\n");
        WebConfig web = WebConfig.load(yml);
        PrometheusRegistry registry = new PrometheusRegistry();
        Counter.builder().name("test_requests").help("Requests.").register(registry).inc();
        try (MetricsServer s = MetricsServer.start(new ListenAddress("127.0.0.1", 0), registry,
                new MetricsServer.Settings("/metrics", web, () -> true, "9.9.9"))) {
            URI metrics = URI.create("http://127.0.0.1:" + s.port() + "/metrics");
            HttpClient prometheus = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpRequest scrape = HttpRequest.newBuilder(metrics).header("Authorization", basic("prometheus", "s3cret"))
                    .timeout(Duration.ofSeconds(10)).build();
            assertEquals(200, prometheus.send(scrape, HttpResponse.BodyHandlers.ofString()).statusCode()); // now cached

            long comparisons0 = web.auth().comparisons();
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            long cpu0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            AtomicInteger denied = new AtomicInteger();
            AtomicInteger limited = new AtomicInteger();
            List<Future<?>> done = new ArrayList<>();
            try (ExecutorService flood = Executors.newFixedThreadPool(8)) {
                for (int i = 0; i < FLOOD; i++) {
                    int n = i;
                    done.add(flood.submit(() -> {
                        HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                        int code = c.send(HttpRequest.newBuilder(metrics).header("Authorization", basic("prometheus", "guess" + n))
                                .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                        (code == 401 ? denied : code == 429 ? limited : new AtomicInteger()).incrementAndGet();
                        return code;
                    }));
                }
                // Scrapes while the flood runs.
                long slowest = 0;
                for (int i = 0; i < 5; i++) {
                    long a = System.nanoTime();
                    assertEquals(200, HttpClient.newHttpClient().send(scrape, HttpResponse.BodyHandlers.ofString()).statusCode());
                    slowest = Math.max(slowest, (System.nanoTime() - a) / 1_000_000);
                    Thread.sleep(100);
                }
                for (Future<?> f : done) {
                    f.get();
                }
                assertTrue(slowest < 1000, "a scrape took " + slowest + " ms during the flood");
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            double cpu = (os.getProcessCpuTime() - cpu0) / 1e9;
            long runs = web.auth().comparisons() - comparisons0;
            System.out.printf("LoginFloodTest: %d bad passwords at cost 10 in %.1f s: %d bcrypt runs, %d answered 401, %d 429;"
                    + " CPU of the JVM (server and client) %.2f s%n", FLOOD, seconds, runs, denied.get(), limited.get(), cpu);
            assertEquals(FLOOD, denied.get() + limited.get(), "each bad request is 401 or 429");
            assertEquals(runs, denied.get(), "one bcrypt run per 401, none per 429");
            long budget = BasicAuth.FAILURE_BURST + (long) Math.ceil(seconds * 1000 / BasicAuth.FAILURE_REFILL_MILLIS);
            assertTrue(runs <= budget, runs + " bcrypt runs in " + seconds + " s; the budget allows " + budget);
            assertTrue(runs >= BasicAuth.FAILURE_BURST, "the burst is allowed: " + runs);
        }
    }
}
