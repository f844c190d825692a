package dev.ebpftraffic.web;

import dev.ebpftraffic.web.ListenAddress;
import dev.ebpftraffic.deploy.Htpasswd;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static dev.ebpftraffic.web.MetricsServerTest.basic;
import static dev.ebpftraffic.web.MetricsServerTest.body;
import static dev.ebpftraffic.web.MetricsServerTest.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The live view's page, assets and API path on the HTTP server, behind the same auth and headers. */
class LiveWebTest {
    @TempDir
    Path dir;

    /** Records what the server passes on; answers a fixed body. */
    static final class FakeApi implements LiveApi {
        final List<String> calls = new ArrayList<>();
        String json = "{\"ok\":true}\n";

        @Override
        public Response get(String path, String rawQuery) {
            calls.add(path + "?" + rawQuery);
            return rawQuery != null && rawQuery.contains("bad") ? new Response(400, "{\"error\":\"bad\"}\n")
                    : new Response(200, json);
        }
    }

    static MetricsServer start(WebConfig web, LiveApi api) {
        return MetricsServer.start(new ListenAddress("127.0.0.1", 0), new PrometheusRegistry(),
                new MetricsServer.Settings("/metrics", web, () -> true, "9.9.9", null, api));
    }

    @Test
    void pageAssetsAndApi() throws Exception {
        FakeApi api = new FakeApi();
        try (MetricsServer s = start(WebConfig.none(), api)) {
            HttpClient c = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + s.port();
            String page = body(get(c, base + "/"));
            assertTrue(page.contains("<a href=\"./metrics\">Metrics</a>"), page);
            assertTrue(page.contains("<script src=\"./static/live.js\" defer></script>"), page);
            assertTrue(page.contains("<link rel=\"stylesheet\" href=\"./static/live.css\">"), page);
            assertFalse(page.contains("<script>") || page.contains("style=\"") || page.contains("http://")
                    || page.contains("https://"), "no inline code (CSP) and nothing from elsewhere");

            HttpResponse<byte[]> js = get(c, base + "/static/live.js");
            assertEquals(200, js.statusCode());
            assertEquals("text/javascript; charset=utf-8", js.headers().firstValue("Content-Type").orElseThrow());
            assertTrue(body(js).contains("./api/v1/top?"), "the script reads the API by a relative path");
            assertTrue(body(js).contains("./api/v1/workloads?"), "and the Workloads view's");
            assertFalse(body(js).contains("http://") && !body(js).contains("http://www.w3.org/2000/svg"));
            HttpResponse<byte[]> css = get(c, base + "/static/live.css");
            assertEquals("text/css; charset=utf-8", css.headers().firstValue("Content-Type").orElseThrow());
            assertEquals(404, get(c, base + "/static/").statusCode());
            assertEquals(404, get(c, base + "/static/../index.html").statusCode());

            HttpResponse<byte[]> top = get(c, base + "/api/v1/top?n=5&ip=10.0%2E");
            assertEquals(200, top.statusCode());
            assertEquals("application/json; charset=utf-8", top.headers().firstValue("Content-Type").orElseThrow());
            assertEquals("no-store", top.headers().firstValue("Cache-Control").orElseThrow());
            assertEquals("{\"ok\":true}\n", body(top));
            assertEquals(List.of("/api/v1/top?n=5&ip=10.0%2E"), api.calls, "the raw query is passed on");
            HttpResponse<byte[]> bad = get(c, base + "/api/v1/top?bad");
            assertEquals(400, bad.statusCode());
            assertEquals("{\"error\":\"bad\"}\n", body(bad));

            api.json = "{\"rows\":\"" + "x".repeat(5000) + "\"}\n";
            HttpResponse<byte[]> gz = get(c, base + "/api/v1/top", "Accept-Encoding", "gzip");
            assertEquals("gzip", gz.headers().firstValue("Content-Encoding").orElseThrow());
            try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(gz.body()))) {
                assertEquals(api.json, new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
            HttpResponse<byte[]> post = c.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(base + "/api/v1/top"))
                    .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(405, post.statusCode());
        }
        try (MetricsServer s = start(WebConfig.none(), null)) {
            HttpResponse<byte[]> r = get(HttpClient.newHttpClient(), "http://127.0.0.1:" + s.port() + "/api/v1/top");
            assertEquals(404, r.statusCode());
            assertEquals("{\"error\":\"the live view is not enabled\"}\n", body(r));
        }
    }

    @Test
    void basicAuthAndHeadersCoverThePageAssetsAndApi() throws Exception {
        Path p = dir.resolve("web.yml");
        Files.writeString(p, """
                basic_auth_users:
                  viewer: %s
                http_server_config:
                  headers:
                    Content-Security-Policy: default-src 'self'
                """.formatted(Htpasswd.hash("viewer", "pw", 5)));
        FakeApi api = new FakeApi();
        try (MetricsServer s = start(WebConfig.load(p), api)) {
            HttpClient c = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + s.port();
            for (String path : List.of("/", "/static/live.js", "/static/live.css", "/api/v1/top")) {
                HttpResponse<byte[]> no = get(c, base + path);
                assertEquals(401, no.statusCode(), path);
                HttpResponse<byte[]> yes = get(c, base + path, "Authorization", basic("viewer", "pw"));
                assertEquals(200, yes.statusCode(), path);
                assertEquals("default-src 'self'", yes.headers().firstValue("Content-Security-Policy").orElseThrow(), path);
            }
            assertEquals(List.of("/api/v1/top?null"), api.calls, "the API ran only for the authorised request");
        }
    }
}
