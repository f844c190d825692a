package dev.ebpftraffic.live;

import dev.ebpftraffic.deploy.Htpasswd;
import dev.ebpftraffic.deploy.TestPki;
import dev.ebpftraffic.testing.Chromium;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.SteadyUdp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The live view at / in a real headless Chromium, inside the exporter's namespace, while steady
 * UDP streams of known rates cross the veth: the table shows the streams' IPs with non-zero
 * rates, folds the quietest into an honest "other" row, filters and sorts, and works behind TLS
 * and basic auth. A screenshot goes to target/live-view/ (and to docs/live-view.png with
 * -Dlive.updateDocs=true).
 */
@KernelTest
@Timeout(150)
class LiveBrowserKernelTest {
    /** One stream, a side to b side (inbound at b) or back (outbound). */
    record Stream(boolean fromA, String src, String dst, int payload, int perSecond) {
        String direction() {
            return fromA ? "inbound" : "outbound";
        }
    }

    static final List<String[]> PAIRS = List.of(
            new String[] {"10.77.0.1", "10.77.0.2", "24"},
            new String[] {"192.0.2.1", "192.0.2.2", "24"},
            new String[] {"198.51.100.1", "198.51.100.2", "24"},
            new String[] {"203.0.113.11", "203.0.113.12", "24"},
            new String[] {"203.0.113.21", "203.0.113.22", "24"},
            new String[] {"203.0.113.31", "203.0.113.32", "24"},
            new String[] {"203.0.113.41", "203.0.113.42", "24"},
            new String[] {"203.0.113.51", "203.0.113.52", "24"},
            new String[] {"fd00:77::1", "fd00:77::2", "64"},
            new String[] {"2001:db8::1", "2001:db8::2", "64"});

    static final List<Stream> LOUD = List.of(
            new Stream(true, "10.77.0.1", "10.77.0.2", 1200, 50),
            new Stream(false, "10.77.0.2", "10.77.0.1", 200, 30),
            new Stream(true, "192.0.2.1", "192.0.2.2", 600, 40),
            new Stream(false, "198.51.100.2", "198.51.100.1", 1000, 20),
            new Stream(true, "fd00:77::1", "fd00:77::2", 800, 25),
            new Stream(false, "2001:db8::2", "2001:db8::1", 300, 60));
    /**
     * Five quiet pairs: with 11 series and --max-series 10, the budget keeps room for the four
     * "other" series of the interface (two directions, two ip_types) and exports the six loudest;
     * these five are folded into "other" (inbound, public).
     */
    static final List<Stream> QUIET = List.of(
            new Stream(true, "203.0.113.11", "203.0.113.12", 80, 2),
            new Stream(true, "203.0.113.21", "203.0.113.22", 80, 2),
            new Stream(true, "203.0.113.31", "203.0.113.32", 80, 2),
            new Stream(true, "203.0.113.41", "203.0.113.42", 80, 2),
            new Stream(true, "203.0.113.51", "203.0.113.52", 80, 2));

    /** A row of the table as the page shows it. */
    record Row(String src, String dst, String dir, boolean other, String type, String iface, List<Double> bits,
               List<Double> packets, long bytes, int sparks) {
    }

    static final String TABLE = """
            JSON.stringify([...document.querySelectorAll('#rows tr:not(.empty)')].map(tr => ({
              src: tr.dataset.src, dst: tr.dataset.dst, dir: tr.dataset.direction, other: tr.classList.contains('other'),
              type: tr.querySelector('.type').textContent, iface: tr.querySelector('.iface').textContent,
              bits: ['2s', '10s', '40s'].map(w => Number(tr.querySelector('.bits-' + w).dataset.value)),
              packets: ['2s', '10s', '40s'].map(w => Number(tr.querySelector('.packets-' + w).dataset.value)),
              bytes: Number(tr.querySelector('.bytes').dataset.value),
              sparks: tr.querySelectorAll('.spark polyline').length})))
            """;

    @SuppressWarnings("unchecked")
    static List<Row> table(Chromium c) {
        List<Row> rows = new ArrayList<>();
        for (Object o : (List<Object>) LiveJson.parse((String) c.eval(TABLE))) {
            Map<String, Object> m = (Map<String, Object>) o;
            rows.add(new Row((String) m.get("src"), (String) m.get("dst"), (String) m.get("dir"),
                    (Boolean) m.get("other"), (String) m.get("type"), (String) m.get("iface"),
                    ((List<Object>) m.get("bits")).stream().map(x -> ((Number) x).doubleValue()).toList(),
                    ((List<Object>) m.get("packets")).stream().map(x -> ((Number) x).doubleValue()).toList(),
                    ((Number) m.get("bytes")).longValue(), ((Number) m.get("sparks")).intValue()));
        }
        return rows;
    }

    static String pair(Row r) {
        return r.dir() + " " + r.src() + " -> " + r.dst();
    }

    static String pair(Stream s) {
        return s.direction() + " " + s.src() + " -> " + s.dst();
    }

    static List<SteadyUdp> startStreams(NetNs net, List<Stream> streams) {
        List<SteadyUdp> udp = new ArrayList<>();
        int port = 42000;
        for (Stream s : streams) {
            // The loudest stream swings between 20 and 80 datagrams/s over 15 s: the sparklines show it.
            java.util.function.DoubleUnaryOperator rate = s == LOUD.getFirst()
                    ? t -> s.perSecond() * (1 + 0.6 * Math.sin(2 * Math.PI * t / 15)) : t -> s.perSecond();
            udp.add(net.own(SteadyUdp.start(s.fromA() ? net.a : net.b, s.src(), s.fromA() ? net.b : net.a, s.dst(),
                    port++, s.payload(), rate)));
        }
        return udp;
    }

    /** Sets a form control's value as a user would and fires the event the page listens to. */
    static void setControl(Chromium c, String id, String value, String event) {
        c.eval("(() => { const e = document.getElementById('" + id + "'); e.value = '" + value + "';"
                + " e.dispatchEvent(new Event('" + event + "', {bubbles: true})); return true; })()");
    }

    /** Every row's pair (not "other"), once the table has settled on a condition. */
    static Set<String> pairs(List<Row> rows) {
        return rows.stream().filter(r -> !r.other()).map(LiveBrowserKernelTest::pair).collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void topTalkersWithRatesFiltersSortingAndOther() throws Exception {
        try (NetNs net = NetNs.pair()) {
            for (String[] p : PAIRS) {
                net.addPair(p[0], p[1], Integer.parseInt(p[2]));
            }
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "live-browser",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN, "--max-series", "10"));
            exporter.awaitAttached(Duration.ofSeconds(30));
            List<Stream> all = new ArrayList<>(LOUD);
            all.addAll(QUIET);
            startStreams(net, all);

            Chromium c = net.own(Chromium.start(net.b, 1500, 640));
            c.openPage(Map.of());
            c.navigate("http://127.0.0.1:" + ExporterProcess.PORT + "/");
            Set<String> loud = LOUD.stream().map(LiveBrowserKernelTest::pair).collect(Collectors.toCollection(TreeSet::new));
            // Every loud stream with all three rates non-zero, and the quiet one in "other".
            c.await("(() => { const t = " + TABLE.strip() + "; const rows = JSON.parse(t);"
                    + " return rows.filter(r => !r.other && r.bits.every(b => b > 0) && r.sparks === 1).length >= 6"
                    + " && rows.some(r => r.other && r.bits[0] > 0); })()", 20_000, "six pairs and other with rates");
            List<Row> rows = table(c);
            assertTrue(pairs(rows).containsAll(loud), "table shows " + pairs(rows));
            for (Stream s : LOUD) {
                Row r = rows.stream().filter(x -> pair(x).equals(pair(s))).findFirst().orElseThrow();
                assertEquals(net.ifB, r.iface(), pair(s));
                assertEquals(s.dst().startsWith("10.") || s.dst().startsWith("fd") ? "private" : "public", r.type(), pair(s));
                for (int w = 0; w < 3; w++) {
                    assertTrue(r.bits().get(w) > 0 && r.packets().get(w) > 0, "rates of " + pair(s) + ": " + r);
                }
                assertTrue(r.bytes() > 0);
                assertEquals(1, r.sparks(), "a sparkline for " + pair(s));
            }
            assertFalse(rows.stream().anyMatch(r -> r.src().startsWith("203.0.113.") || r.dst().startsWith("203.0.113.")),
                    "the quiet pairs are folded, not shown under their own IPs: " + rows);
            Row other = rows.stream().filter(r -> r.other() && r.dir().equals("inbound") && r.type().equals("public"))
                    .findFirst().orElseThrow(() -> new AssertionError("no inbound public other row: " + rows));
            assertEquals("other", other.src());
            assertTrue(other.bits().get(1) > 0, "other carries the quiet pairs' rate: " + other);
            assertTrue(((Number) c.eval("Number(document.querySelector('#total-inbound [data-w=\"2s\"]').dataset.value)"))
                    .doubleValue() > 0, "inbound total rate");

            // Default sort: bits/s over 10 s, descending; a click on a column sorts by it.
            assertEquals("bits_10s", c.eval("document.querySelector('th.sorted').dataset.sort"));
            for (int i = 1; i < rows.size(); i++) {
                assertTrue(rows.get(i - 1).bits().get(1) >= rows.get(i).bits().get(1), "descending bits/s: " + rows);
            }
            c.eval("document.querySelector('th[data-sort=\"packets_2s\"]').click(), true");
            c.await("document.querySelector('th.sorted').dataset.sort === 'packets_2s'"
                    + " && new URLSearchParams(document.getElementById('api-link').search).get('sort') === 'packets_2s'",
                    5000, "sort by packets/s");
            c.await("document.body.dataset.updated > " + System.currentTimeMillis(), 5000, "a refresh after the click");
            List<Row> byPackets = table(c);
            for (int i = 1; i < byPackets.size(); i++) {
                assertTrue(byPackets.get(i - 1).packets().get(0) >= byPackets.get(i).packets().get(0), "descending: " + byPackets);
            }
            c.eval("document.querySelector('th[data-sort=\"packets_2s\"]').click(), true");
            c.await("document.querySelector('th.sorted.asc') !== null", 5000, "a second click: ascending");
            c.await("document.body.dataset.updated > " + System.currentTimeMillis(), 5000, "a refresh after the click");
            List<Row> ascending = table(c);
            for (int i = 1; i < ascending.size(); i++) {
                assertTrue(ascending.get(i - 1).packets().get(0) <= ascending.get(i).packets().get(0), "ascending: " + ascending);
            }

            // The IP filter narrows the rows to the matching pair.
            setControl(c, "f-ip", "192.0.2", "input");
            c.await("(() => { const r = JSON.parse(" + TABLE.strip() + "); return r.length === 1 && r[0].src === '192.0.2.1'; })()",
                    5000, "IP filter");
            // Direction: only outbound rows; the loud outbound streams are all there.
            setControl(c, "f-ip", "", "input");
            setControl(c, "f-direction", "outbound", "change");
            c.await("(() => { const r = JSON.parse(" + TABLE.strip() + "); return r.length >= 3 && r.every(x => x.dir === 'outbound'); })()",
                    5000, "direction filter");
            Set<String> outbound = LOUD.stream().filter(s -> !s.fromA()).map(LiveBrowserKernelTest::pair)
                    .collect(Collectors.toCollection(TreeSet::new));
            assertTrue(pairs(table(c)).containsAll(outbound), "outbound: " + pairs(table(c)));
            setControl(c, "f-direction", "", "change");
            setControl(c, "f-ip_type", "private", "change");
            c.await("(() => { const r = JSON.parse(" + TABLE.strip() + "); return r.length >= 3 && r.every(x => x.type === 'private'); })()",
                    5000, "ip_type filter");
            setControl(c, "f-ip_type", "", "change");
            c.eval("document.querySelector('th[data-sort=\"bits_10s\"]').click(), true");

            // A screenshot after some history has built up.
            c.await("JSON.parse(" + TABLE.strip() + ").length >= 7", 5000, "all rows back");
            assertTrue(c.eval("document.getElementById('f-ip').value === '' && document.getElementById('f-direction').value === ''"
                    + " && document.getElementById('f-ip_type').value === ''").equals(Boolean.TRUE));
            c.await("JSON.parse(" + TABLE.strip() + ").every(r => r.sparks === 1)"
                    + " && Number((/(\\d+) s of history/.exec(document.getElementById('status').textContent) || [0, 99])[1]) >= 20",
                    30_000, "20 s of history");
            c.await("!document.getElementById('status').className", 3000, "no error shown");
            byte[] png = c.screenshot("live-view.png", true);
            assertTrue(png.length > 10_000, "a real picture");
            assertEquals(List.of(), c.pageErrors(), "no JavaScript or console errors");
        }
    }

    @Test
    void behindTlsAndBasicAuth(@TempDir Path dir) throws Exception {
        TestPki pki = TestPki.create(dir, null);
        Path web = dir.resolve("web.yml");
        Files.writeString(web, """
                tls_server_config:
                  cert_file: %s
                  key_file: %s
                basic_auth_users:
                  viewer: %s
                http_server_config:
                  headers:
                    Content-Security-Policy: default-src 'self'
                """.formatted(pki.serverCert(), pki.serverKey(), Htpasswd.hash("viewer", "pw", 5)));
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "live-browser-tls",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN, "--web.config.file", web.toString()));
            awaitListening(net, exporter);
            startStreams(net, List.of(LOUD.getFirst()));
            String base = "https://127.0.0.1:" + ExporterProcess.PORT + "/";

            try (Chromium anonymous = Chromium.start(net.b, 800, 600)) {
                anonymous.openPage(Map.of());
                AssertionError refused = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class,
                        () -> anonymous.navigate(base));
                assertTrue(refused.getMessage().contains("net::ERR_INVALID_AUTH_CREDENTIALS"), refused.getMessage());
            }
            Chromium c = net.own(Chromium.start(net.b, 1300, 700));
            c.openPage(Map.of("Authorization",
                    "Basic " + Base64.getEncoder().encodeToString("viewer:pw".getBytes(StandardCharsets.UTF_8))));
            c.navigate(base);
            c.await("location.protocol === 'https:' && [...document.querySelectorAll('#rows tr')].some(tr =>"
                    + " tr.dataset.src === '10.77.0.1' && Number(tr.querySelector('.bits-2s').dataset.value) > 0)",
                    15_000, "the stream with a rate, over TLS with basic auth");
            assertEquals(List.of(), c.pageErrors(), "no errors: the page, its script and style pass the CSP");
            Files.createDirectories(ExporterProcess.projectRoot().resolve("target/live-view"));
            c.screenshot("live-view-tls.png", false);
        }
    }

    /** TLS and auth: /-/healthy over HTTPS is not what the harness polls; wait for the log line instead. */
    static void awaitListening(NetNs net, ExporterProcess exporter) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!exporter.stderr().contains("msg=\"attached to ")) {
            if (!exporter.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("exporter did not attach: " + exporter.stderr());
            }
            Thread.sleep(100);
        }
    }
}
