package dev.ebpftraffic.web;

import dev.ebpftraffic.web.ListenAddress;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.deploy.Htpasswd;
import dev.ebpftraffic.deploy.TestPki;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.expositionformats.generated.com_google_protobuf_4_36_2.Metrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTTP endpoint on 127.0.0.1 with a fixed registry: paths, negotiation, TLS, mTLS, basic auth, headers. */
class MetricsServerTest {
    static final String TEXT = """
            # HELP test_requests_total Requests.
            # TYPE test_requests_total counter
            test_requests_total{k="v"} 42.0
            """;

    @TempDir
    static Path dir;
    static TestPki pki;
    static String hash;
    static PrometheusRegistry registry;

    @BeforeAll
    static void setUp() {
        pki = TestPki.create(dir, null);
        hash = Htpasswd.hash("prometheus", "s3cret", 5);
        registry = new PrometheusRegistry();
        Counter c = Counter.builder().name("test_requests").help("Requests.").labelNames("k").register(registry);
        c.labelValues("v").inc(42);
    }

    static MetricsServer start(String path, WebConfig web, AtomicBoolean ready) {
        return MetricsServer.start(new ListenAddress("127.0.0.1", 0), registry,
                new MetricsServer.Settings(path, web, ready::get, "9.9.9"));
    }

    static WebConfig config(String yaml) throws IOException {
        Path p = Files.createTempFile(dir, "web", ".yml");
        Files.writeString(p, yaml);
        return WebConfig.load(p);
    }

    static HttpResponse<byte[]> get(HttpClient client, String url, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static String body(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    static String basic(String user, String pw) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + pw).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void pathsAndReadiness() throws Exception {
        AtomicBoolean ready = new AtomicBoolean(false);
        try (MetricsServer s = start("/custom/metrics", WebConfig.none(), ready)) {
            HttpClient c = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + s.port();
            HttpResponse<byte[]> landing = get(c, base + "/");
            assertEquals(200, landing.statusCode());
            assertEquals("text/html; charset=utf-8", landing.headers().firstValue("Content-Type").orElseThrow());
            assertTrue(body(landing).contains("<a href=\"./custom/metrics\">Metrics</a>"), body(landing));
            assertTrue(body(landing).contains("Version 9.9.9."), body(landing));

            HttpResponse<byte[]> m = get(c, base + "/custom/metrics");
            assertEquals(200, m.statusCode());
            assertEquals(TEXT, body(m));
            assertEquals(404, get(c, base + "/metrics").statusCode());
            assertEquals(404, get(c, base + "/custom/metrics/x").statusCode());
            assertEquals(404, get(c, base + "/custom").statusCode());

            HttpResponse<byte[]> healthy = get(c, base + "/-/healthy");
            assertEquals(200, healthy.statusCode());
            assertEquals("Healthy\n", body(healthy));
            HttpResponse<byte[]> notReady = get(c, base + "/-/ready");
            assertEquals(503, notReady.statusCode());
            assertEquals("Not ready: the BPF program is not attached\n", body(notReady));
            ready.set(true);
            HttpResponse<byte[]> isReady = get(c, base + "/-/ready");
            assertEquals(200, isReady.statusCode());
            assertEquals("Ready\n", body(isReady));

            HttpResponse<String> post = c.send(HttpRequest.newBuilder(URI.create(base + "/custom/metrics"))
                    .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode());
            assertEquals("GET, HEAD", post.headers().firstValue("Allow").orElseThrow());
        }
    }

    @Test
    void contentNegotiationAndGzip() throws Exception {
        try (MetricsServer s = start("/metrics", WebConfig.none(), new AtomicBoolean(true))) {
            HttpClient c = HttpClient.newHttpClient();
            String url = "http://127.0.0.1:" + s.port() + "/metrics";

            HttpResponse<byte[]> text = get(c, url);
            assertEquals("text/plain; version=0.0.4; charset=utf-8", text.headers().firstValue("Content-Type").orElseThrow());
            assertEquals(TEXT, body(text));

            HttpResponse<byte[]> om = get(c, url, "Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8");
            assertEquals("application/openmetrics-text; version=1.0.0; charset=utf-8",
                    om.headers().firstValue("Content-Type").orElseThrow());
            assertEquals("""
                    # TYPE test_requests counter
                    # HELP test_requests Requests.
                    test_requests_total{k="v"} 42.0
                    # EOF
                    """, body(om).replaceAll("(?m)^test_requests_created.*\\n", ""));

            // What Prometheus 2.x sends first: protobuf, delimited MetricFamily messages.
            HttpResponse<byte[]> pb = get(c, url, "Accept",
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
                            + "text/plain;version=0.0.4;q=0.3,*/*;q=0.1");
            assertEquals("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                    pb.headers().firstValue("Content-Type").orElseThrow());
            List<Metrics.MetricFamily> families = new ArrayList<>();
            try (InputStream in = new ByteArrayInputStream(pb.body())) {
                Metrics.MetricFamily f;
                while ((f = Metrics.MetricFamily.parseDelimitedFrom(in)) != null) {
                    families.add(f);
                }
            }
            assertEquals(1, families.size());
            assertEquals("test_requests_total", families.getFirst().getName());
            assertEquals(Metrics.MetricType.COUNTER, families.getFirst().getType());
            assertEquals(42.0, families.getFirst().getMetric(0).getCounter().getValue());
            assertEquals("k", families.getFirst().getMetric(0).getLabel(0).getName());
            assertEquals("v", families.getFirst().getMetric(0).getLabel(0).getValue());

            HttpResponse<byte[]> gz = get(c, url, "Accept-Encoding", "gzip");
            assertEquals("gzip", gz.headers().firstValue("Content-Encoding").orElseThrow());
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gz.body()))) {
                assertEquals(TEXT, new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void basicAuthAndHeaders() throws Exception {
        WebConfig web = config("""
                basic_auth_users:
                  prometheus: %s
                auth_excluded_paths: [/-/healthy]
                http_server_config:
                  headers:
                    X-Frame-Options: deny
                    X-Content-Type-Options: nosniff
                """.formatted(hash));
        try (MetricsServer s = start("/metrics", web, new AtomicBoolean(true))) {
            HttpClient c = HttpClient.newHttpClient();
            String url = "http://127.0.0.1:" + s.port();
            for (String[] auth : new String[][]{{}, {"Authorization", basic("prometheus", "wrong")},
                    {"Authorization", basic("unknown", "s3cret")}, {"Authorization", "Bearer s3cret"}}) {
                HttpResponse<byte[]> r = get(c, url + "/metrics", auth);
                assertEquals(401, r.statusCode(), String.join(" ", auth));
                assertEquals("Basic", r.headers().firstValue("WWW-Authenticate").orElseThrow());
                assertEquals("deny", r.headers().firstValue("X-Frame-Options").orElseThrow());
                assertEquals("Unauthorized\n", body(r));
            }
            HttpResponse<byte[]> ok = get(c, url + "/metrics", "Authorization", basic("prometheus", "s3cret"));
            assertEquals(200, ok.statusCode());
            assertEquals(TEXT, body(ok));
            assertEquals("deny", ok.headers().firstValue("X-Frame-Options").orElseThrow());
            assertEquals("nosniff", ok.headers().firstValue("X-Content-Type-Options").orElseThrow());
            assertEquals(401, get(c, url + "/").statusCode());
            assertEquals(401, get(c, url + "/-/ready").statusCode());
            HttpResponse<byte[]> healthy = get(c, url + "/-/healthy");
            assertEquals(200, healthy.statusCode(), "auth_excluded_paths");
            assertEquals("deny", healthy.headers().firstValue("X-Frame-Options").orElseThrow());
        }
    }

    static SSLContext clientContext(Path ca, Path cert, Path key) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        if (ca != null) {
            trust.setCertificateEntry("ca", Pem.certificates(Files.readString(ca), "ca").getFirst());
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(trust);
        KeyManagerFactory kmf = null;
        if (cert != null) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("client", Pem.privateKey(Files.readString(key), "key"), "x".toCharArray(),
                    Pem.certificates(Files.readString(cert), "cert").toArray(new X509Certificate[0]));
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, "x".toCharArray());
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    static HttpClient https(SSLContext ctx, String... protocols) {
        HttpClient.Builder b = HttpClient.newBuilder().sslContext(ctx).connectTimeout(Duration.ofSeconds(5));
        if (protocols.length > 0) {
            b.sslParameters(new SSLParameters(null, protocols));
        }
        return b.build();
    }

    @Test
    void tlsWithMinVersion() throws Exception {
        WebConfig web = config("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n");
        try (MetricsServer s = start("/metrics", web, new AtomicBoolean(true))) {
            assertTrue(s.isTls());
            String url = "https://127.0.0.1:" + s.port() + "/metrics";
            HttpResponse<byte[]> r = get(https(clientContext(pki.caCert(), null, null)), url);
            assertEquals(200, r.statusCode());
            assertEquals(TEXT, body(r));
            // A client that does not trust the CA, and one limited to TLS 1.2, are refused.
            assertThrows(IOException.class, () -> get(https(clientContext(null, null, null)), url));
            assertThrows(IOException.class, () -> get(https(clientContext(pki.caCert(), null, null), "TLSv1.2"), url));
            // Plain HTTP to the TLS port gets no metrics.
            assertThrows(IOException.class, () -> get(HttpClient.newHttpClient(), "http://127.0.0.1:" + s.port() + "/metrics"));
        }
    }

    @Test
    void mutualTlsWithAllowedSansAndBasicAuth() throws Exception {
        WebConfig web = config("""
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                  client_auth_type: RequireAndVerifyClientCert
                  client_ca_file: ca.crt
                  client_allowed_sans: [prometheus.client.test]
                basic_auth_users:
                  prometheus: %s
                """.formatted(hash));
        try (MetricsServer s = start("/metrics", web, new AtomicBoolean(true))) {
            String url = "https://127.0.0.1:" + s.port() + "/metrics";
            String auth = basic("prometheus", "s3cret");
            HttpResponse<byte[]> r = get(https(clientContext(pki.caCert(), pki.clientCert(), pki.clientKey())), url,
                    "Authorization", auth);
            assertEquals(200, r.statusCode());
            assertEquals(TEXT, body(r));
            assertEquals(401, get(https(clientContext(pki.caCert(), pki.clientCert(), pki.clientKey())), url).statusCode());
            // No client certificate, or one the CA did not sign (with the allowed SAN), is refused in the handshake.
            assertThrows(IOException.class, () -> get(https(clientContext(pki.caCert(), null, null)), url, "Authorization", auth));
            assertThrows(IOException.class, () -> get(https(clientContext(pki.caCert(), pki.rogueCert(), pki.rogueKey())), url,
                    "Authorization", auth));

            // The same with curl, as an operator would check it.
            String curl = Cmd.require("curl", "curl");
            Cmd.Result ok = Cmd.run(curl, "-sS", "--fail", "--cacert", pki.caCert().toString(), "--cert", pki.clientCert().toString(),
                    "--key", pki.clientKey().toString(), "-u", "prometheus:s3cret", url);
            assertEquals(0, ok.exitCode(), ok.stderr());
            assertEquals(TEXT, ok.stdout());
            Cmd.Result noCert = Cmd.run(curl, "-sS", "--cacert", pki.caCert().toString(), "-u", "prometheus:s3cret", url);
            assertNotEquals(0, noCert.exitCode());
            Cmd.Result wrongPw = Cmd.run(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.caCert().toString(),
                    "--cert", pki.clientCert().toString(), "--key", pki.clientKey().toString(), "-u", "prometheus:nope", url);
            assertEquals("401", wrongPw.stdout());
        }
        // The same client certificate without an allowed SAN is refused.
        WebConfig otherSan = config("""
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                  client_auth_type: RequireAndVerifyClientCert
                  client_ca_file: ca.crt
                  client_allowed_sans: [someone.else.test]
                """);
        try (MetricsServer s = start("/metrics", otherSan, new AtomicBoolean(true))) {
            String url = "https://127.0.0.1:" + s.port() + "/metrics";
            assertThrows(IOException.class, () -> get(https(clientContext(pki.caCert(), pki.clientCert(), pki.clientKey())), url));
        }
    }

    @Test
    void verifyClientCertIfGiven() throws Exception {
        WebConfig web = config("""
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                  client_auth_type: VerifyClientCertIfGiven
                  client_ca_file: ca.crt
                """);
        try (MetricsServer s = start("/metrics", web, new AtomicBoolean(true))) {
            String url = "https://127.0.0.1:" + s.port() + "/metrics";
            assertEquals(200, get(https(clientContext(pki.caCert(), null, null)), url).statusCode());
            assertEquals(200, get(https(clientContext(pki.caCert(), pki.clientCert(), pki.clientKey())), url).statusCode());
            // Java's client only offers certificates from the CAs the server names; curl sends the rogue one anyway.
            String curl = Cmd.require("curl", "curl");
            Cmd.Result rogue = Cmd.run(curl, "-sS", "--cacert", pki.caCert().toString(), "--cert", pki.rogueCert().toString(),
                    "--key", pki.rogueKey().toString(), url);
            assertNotEquals(0, rogue.exitCode(), rogue.stdout());
            Cmd.Result good = Cmd.run(curl, "-sS", "--cacert", pki.caCert().toString(), "--cert", pki.clientCert().toString(),
                    "--key", pki.clientKey().toString(), url);
            assertEquals(TEXT, good.stdout(), good.stderr());
        }
    }
}
