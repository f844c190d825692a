package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.web.LiveApi;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The live view over a real collector and aggregator with kernel maps in memory: rows, filters,
 * sort, totals, "other", the JSON and its errors. Rates need real seconds; RateTrackerTest and
 * the kernel tests cover them.
 */
class LiveViewTest {
    static final int ETH0 = 2;
    static final int VETH = 7;

    FakeFlowReader reader;
    LiveView live;
    TrafficCollector collector;

    @BeforeEach
    void setUp() {
        reader = new FakeFlowReader(1024);
        reader.flow(ETH0, Direction.INBOUND, "203.0.113.7", "10.0.0.5", 10, 15_000);
        reader.flow(ETH0, Direction.OUTBOUND, "10.0.0.5", "203.0.113.7", 40, 2_400);
        reader.flow(ETH0, Direction.INBOUND, "10.0.0.9", "10.0.0.5", 3, 300);
        reader.flow(VETH, Direction.OUTBOUND, "fd00::1", "2001:db8::2", 7, 7_000);
        reader.stats.put(new StatKey(ETH0, Direction.INBOUND, KernelStat.OVERFLOW_PUBLIC), new long[] {2, 200});
        FlowAggregator agg = new FlowAggregator(new FlowAggregator.Settings(0, Duration.ofMinutes(10).toNanos(),
                Duration.ofSeconds(30).toNanos(), Integer.MAX_VALUE), Labeler.plain());
        collector = new TrafficCollector(reader, agg, i -> i == ETH0 ? "eth0" : "veth7", List::of,
                new BuildInfo("1", "25"), m -> { });
        live = new LiveView(collector, Duration.ofSeconds(1), Duration.ofSeconds(30));
    }

    @AfterEach
    void tearDown() {
        live.close();
    }

    static List<String> pairs(Snapshot s) {
        return s.rows().stream().map(r -> r.direction() + " " + r.src() + " -> " + r.dst() + " " + r.iface()).toList();
    }

    @Test
    void rowsAreTheExportedSeriesAndOtherWithExactTotals() {
        assertFalse(live.sampling());
        Snapshot s = live.query(Query.parse("sort=bytes"));
        assertTrue(live.sampling(), "the first query starts the sampler");
        assertEquals(List.of(
                "inbound 203.0.113.7 -> 10.0.0.5 eth0",
                "outbound fd00::1 -> 2001:db8::2 veth7",
                "outbound 10.0.0.5 -> 203.0.113.7 eth0",
                "inbound 10.0.0.9 -> 10.0.0.5 eth0",
                "inbound other -> other eth0"), pairs(s));
        Snapshot.Row other = s.rows().getLast();
        assertTrue(other.other());
        assertEquals("public", other.ipType());
        assertEquals(200, other.bytes());
        assertEquals(2, other.packets());
        assertEquals(5, s.matched());
        assertEquals(List.of("eth0", "veth7"), s.ifaces());
        assertEquals("inbound", s.totals().get(0).direction());
        assertEquals(15_000 + 300 + 200, s.totals().get(0).bytes());
        assertEquals(10 + 3 + 2, s.totals().get(0).packets());
        assertEquals(2_400 + 7_000, s.totals().get(1).bytes());
        assertEquals(47, s.totals().get(1).packets());
        assertEquals(0, s.coveredSeconds(), "only the baseline so far");
    }

    @Test
    void filtersAndSortAndN() {
        assertEquals(List.of("outbound 10.0.0.5 -> 203.0.113.7 eth0", "outbound fd00::1 -> 2001:db8::2 veth7"),
                pairs(live.query(Query.parse("direction=outbound&sort=packets"))));
        assertEquals(List.of("outbound fd00::1 -> 2001:db8::2 veth7", "outbound 10.0.0.5 -> 203.0.113.7 eth0"),
                pairs(live.query(Query.parse("direction=outbound&sort=bytes"))));
        assertEquals(List.of("outbound 10.0.0.5 -> 203.0.113.7 eth0", "outbound fd00::1 -> 2001:db8::2 veth7"),
                pairs(live.query(Query.parse("direction=outbound&sort=bytes&order=asc"))));
        assertEquals(List.of("outbound fd00::1 -> 2001:db8::2 veth7"), pairs(live.query(Query.parse("iface=veth7"))));
        // Every name an interface can have is a filter the API takes (the page's menu offers them all).
        for (String name : List.of("\033]0;PWN\007", "a\bb\u007f", "n\\xff", "\\xff".repeat(15), "x".repeat(15))) {
            String q = "iface=" + java.net.URLEncoder.encode(name, java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(200, live.get(LiveView.TOP, q).status(), name);
            assertEquals(name, Query.parse(q).iface());
        }
        assertEquals(List.of("inbound 203.0.113.7 -> 10.0.0.5 eth0", "outbound 10.0.0.5 -> 203.0.113.7 eth0"),
                pairs(live.query(Query.parse("ip=203.0.113&sort=bytes"))));
        assertEquals(List.of("outbound fd00::1 -> 2001:db8::2 veth7"), pairs(live.query(Query.parse("ip=2001%3ADB8"))),
                "percent-decoded, case-insensitive");
        Snapshot pub = live.query(Query.parse("ip_type=public&sort=bytes"));
        assertEquals(List.of("outbound fd00::1 -> 2001:db8::2 veth7", "outbound 10.0.0.5 -> 203.0.113.7 eth0",
                "inbound other -> other eth0"), pairs(pub));
        Snapshot two = live.query(Query.parse("n=2&sort=packets"));
        assertEquals(2, two.rows().size());
        assertEquals(5, two.matched());
        assertEquals(15_500, two.totals().get(0).bytes(), "totals ignore filters");
        assertEquals(List.of(), pairs(live.query(Query.parse("ip=198.51.100."))));
    }

    @Test
    void hostNamesAreAskedOnlyForTheRowsShownAndRoundTrip() {
        List<String> asked = new java.util.ArrayList<>();
        LiveView named = new LiveView(collector, Duration.ofSeconds(1), Duration.ofSeconds(30), ip -> {
            asked.add(ip);
            return ip.equals("10.0.0.5") ? "db.example.test" : ip.equals("fd00::1") ? "a\"b<\u001b" : null;
        });
        try {
            Snapshot two = named.query(Query.parse("n=2&sort=bytes"));
            assertEquals(List.of("203.0.113.7", "10.0.0.5", "fd00::1", "2001:db8::2"), asked, "the two rows shown, no more");
            assertEquals("db.example.test", two.rows().get(0).dstName());
            assertEquals(null, two.rows().get(0).srcName());
            assertEquals("a\"b<\u001b", two.rows().get(1).srcName());
            asked.clear();
            Snapshot other = named.query(Query.parse("ip_type=public&ip=other"));
            assertEquals(List.of(), asked, "other is not an address");
            assertEquals(1, other.rows().size());
            String json = named.get(LiveView.TOP, "n=2&sort=bytes").json();
            assertTrue(json.contains("\"src_ip\":\"203.0.113.7\",\"dst_ip\":\"10.0.0.5\",\"src_name\":null,"
                    + "\"dst_name\":\"db.example.test\""), json);
            assertTrue(json.contains("\"src_name\":\"a\\\"b\\u003c\\u001b\""), json);
            Snapshot back = LiveJson.read(json);
            assertEquals("db.example.test", back.rows().get(0).dstName());
            assertEquals("a\"b<\u001b", back.rows().get(1).srcName());
            // An older server without the fields: no names.
            Snapshot old = LiveJson.read(json.replace("\"src_name\":null,", "").replaceAll("\"(src|dst)_name\":\"[^\"]*(\\\\.[^\"]*)*\",", ""));
            assertEquals(null, old.rows().get(0).dstName());
        } finally {
            named.close();
        }
    }

    @Test
    void jsonRoundTripsAndBadQueriesAre400WithOneLine() {
        LiveApi.Response ok = live.get(LiveView.TOP, "sort=bytes&n=3");
        assertEquals(200, ok.status());
        Snapshot back = LiveJson.read(ok.json());
        assertEquals(List.of("inbound 203.0.113.7 -> 10.0.0.5 eth0", "outbound fd00::1 -> 2001:db8::2 veth7",
                "outbound 10.0.0.5 -> 203.0.113.7 eth0"), pairs(back));
        assertEquals(15_000, back.rows().getFirst().bytes());
        assertEquals(Query.Sort.BYTES, back.query().sort());
        assertEquals(3, back.query().n());
        assertEquals(15_500, back.totals().getFirst().bytes());
        @SuppressWarnings("unchecked")
        Map<String, Object> raw = (Map<String, Object>) LiveJson.parse(ok.json());
        assertEquals(List.of("time", "covered_seconds", "sampling", "windows", "query", "matched", "totals", "ifaces", "series"),
                List.copyOf(raw.keySet()));
        @SuppressWarnings("unchecked")
        Map<String, Object> row = (Map<String, Object>) ((List<Object>) raw.get("series")).getFirst();
        assertEquals(List.of("src_ip", "dst_ip", "src_name", "dst_name", "direction", "ip_type", "iface", "other", "bits_per_second",
                "packets_per_second", "bytes", "packets", "last_minute_bits_per_second"), List.copyOf(row.keySet()));
        assertEquals(Map.of("2s", 0L, "10s", 0L, "40s", 0L), row.get("bits_per_second"));

        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("n=0", "invalid n 0: must be between 1 and 10000");
        bad.put("n=ten", "invalid n \"ten\": not a whole number");
        bad.put("sort=rate", "invalid sort \"rate\": use one of bits_2s, bits_10s, bits_40s, packets_2s, packets_10s, packets_40s, bytes, packets");
        bad.put("order=up", "invalid order \"up\": use asc or desc");
        bad.put("direction=in", "invalid direction \"in\": use inbound or outbound");
        bad.put("ip_type=bogon", "invalid ip_type \"bogon\": use private or public");
        bad.put("limit=5", "unknown query parameter \"limit\" (known: n, sort, order, direction, ip_type, iface, ip)");
        bad.put("n=5&n=6", "query parameter \"n\" is given twice");
        bad.put("ip=%zz", "malformed query string: bad percent-encoding in \"%zz\"");
        bad.put("ip=%0a", "invalid ip: control characters");
        bad.put("ip=" + "1".repeat(65), "invalid ip: longer than 64 characters");
        bad.forEach((q, msg) -> {
            LiveApi.Response r = live.get(LiveView.TOP, q);
            assertEquals(400, r.status(), q);
            assertEquals("{\"error\":\"" + msg.replace("\"", "\\\"") + "\"}\n", r.json(), q);
            assertEquals(1, r.json().lines().count());
        });
        assertEquals(404, live.get("/api/v1/nothing", null).status());
        assertEquals(200, live.get(LiveView.TOP, "direction=&ip_type=&iface=&ip=").status(), "empty means no filter");
    }

    @Test
    void samplerStopsWhenNobodyAsksAndThenCostsNothing() throws Exception {
        live.close();
        live = new LiveView(collector, Duration.ofMillis(50), Duration.ofMillis(200));
        live.query(Query.defaults());
        assertTrue(live.sampling());
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (live.sampling() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(live.sampling(), "stopped after the idle time");
        assertEquals(0, live.tracker().rings(), "memory freed");
        live.query(Query.defaults());
        assertTrue(live.sampling(), "a new query starts it again");
    }
}
