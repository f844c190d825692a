package dev.ebpftraffic.app;

import dev.ebpftraffic.live.LiveJson;
import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;
import dev.ebpftraffic.web.ListenAddress;
import dev.ebpftraffic.deploy.Htpasswd;
import dev.ebpftraffic.deploy.TestPki;
import dev.ebpftraffic.web.LiveApi;
import dev.ebpftraffic.web.MetricsServer;
import dev.ebpftraffic.web.WebConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `top --from`'s client against the real HTTP server with TLS and basic auth (certificates from openssl). */
class TopHttpSourceTest {
    @TempDir
    Path dir;

    @Test
    void readsTheApiOverTlsWithBasicAuthAndSaysWhatIsWrong() throws Exception {
        TestPki pki = TestPki.create(dir, null);
        Path web = dir.resolve("web.yml");
        Files.writeString(web, """
                tls_server_config:
                  cert_file: %s
                  key_file: %s
                basic_auth_users:
                  viewer: %s
                """.formatted(pki.serverCert(), pki.serverKey(), Htpasswd.hash("viewer", "p@ss word", 5)));
        Snapshot.Rates r = new Snapshot.Rates(new double[] {8000, 4000, 1000}, new double[] {10, 5, 1.25});
        Snapshot answer = new Snapshot(1_700_000_000_000L, 42, true, Query.defaults(), 1,
                List.of(new Snapshot.Row("10.0.0.1", "203.0.113.9", "outbound", "public", "eth0", false, r, 123, 4,
                        new float[] {8000, 0})),
                List.of(new Snapshot.Total("inbound", r, 1, 1), new Snapshot.Total("outbound", r, 123, 4)), List.of("eth0"));
        List<String> queries = new ArrayList<>();
        LiveApi api = (path, query) -> {
            queries.add(path + "?" + query);
            return new LiveApi.Response(200, LiveJson.write(answer));
        };
        try (MetricsServer s = MetricsServer.start(new ListenAddress("127.0.0.1", 0), new PrometheusRegistry(),
                new MetricsServer.Settings("/metrics", WebConfig.load(web), () -> true, "1", null, api))) {
            String host = "127.0.0.1:" + s.port();
            Top.HttpSource ok = new Top.HttpSource("https://viewer:p%40ss%20word@" + host + "/", false, pki.caCert());
            Snapshot got = ok.fetch(Query.parse("sort=packets_2s&ip=10.0"));
            assertEquals(List.of("/api/v1/top?n=50&sort=packets_2s&ip=10.0"), queries);
            assertEquals("from https://" + host + "/", ok.describe(), "no password shown");
            assertEquals(LiveJson.write(answer), LiveJson.write(got), "the snapshot survives the round trip");

            Top.HttpSource insecure = new Top.HttpSource("https://viewer:p%40ss%20word@" + host + "/api/v1/top", true, null);
            assertEquals(42, insecure.fetch(Query.defaults()).coveredSeconds());

            IOException wrong = assertThrows(IOException.class,
                    () -> new Top.HttpSource("https://viewer:nope@" + host + "/", false, pki.caCert()).fetch(Query.defaults()));
            assertEquals("https://" + host + "/ answered 401: give the user and password in the URL, https://user:password@host:port/",
                    wrong.getMessage());
            IOException untrusted = assertThrows(IOException.class,
                    () -> new Top.HttpSource("https://viewer:p%40ss%20word@" + host + "/", false, null).fetch(Query.defaults()));
            assertTrue(untrusted.getMessage().startsWith("https://" + host + "/: "), untrusted.getMessage());
        }
        assertThrows(dev.ebpftraffic.cli.UsageException.class, () -> new Top.HttpSource("ftp://x/", false, null));
    }
}
