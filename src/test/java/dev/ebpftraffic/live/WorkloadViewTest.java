package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.flow.PeerKey;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.web.LiveApi;
import dev.ebpftraffic.workload.WorkloadAggregator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Workloads view over a real collector and WorkloadAggregator with kernel maps in memory: rows
 * and their counters, filters, sort, n, the peers and their cut, the JSON and its errors, 503 when
 * attribution is off, and the kernel's peer flag: set while the view is sampled, cleared when it stops.
 */
class WorkloadViewTest {
    static final long NGINX = 101;
    static final long DOCKER = 202;
    static final String CTR = "4f3a9c2e8b1d".repeat(5) + "abcd";

    /** FakeFlowReader (flows, "workloads"), plus "wl_peers" deltas and the peer flag. */
    static final class Reader extends FakeFlowReader {
        final Map<PeerKey, long[]> peers = new LinkedHashMap<>();
        final List<Boolean> flag = new ArrayList<>();
        long[][] peersFull = new long[4][2];

        Reader() {
            super(64);
        }

        /** A packet of a peer: counted in "workloads" always, in "wl_peers" only while the flag is on. */
        synchronized void packet(long cg, Direction d, String remote, long p, long b) {
            IpAddress ip = IpAddress.parse(remote);
            boolean priv = remote.startsWith("10.") || remote.startsWith("fd");
            workload(cg, d, priv, p, b);
            if (!flag.isEmpty() && flag.getLast()) {
                long[] v = peers.computeIfAbsent(new PeerKey(cg, ip, d, priv), x -> new long[2]);
                v[0] += p;
                v[1] += b;
            }
        }

        int peerReads;

        @Override
        public synchronized int readPeerDeltas(Sink<PeerKey> sink) {
            peerReads++;
            peers.forEach((k, v) -> sink.accept(k, v[0], v[1]));
            peers.clear();
            return 0;
        }

        @Override
        public synchronized long[][] readPeerOverflow() {
            long[][] c = new long[4][];
            for (int i = 0; i < 4; i++) {
                c[i] = peersFull[i].clone();
            }
            return c;
        }

        @Override
        public boolean hasPeers() {
            return true;
        }

        @Override
        public synchronized void peerSampling(boolean on) {
            flag.add(on);
        }

        synchronized boolean flagOn() {
            return !flag.isEmpty() && flag.getLast();
        }
    }

    Reader reader;
    TrafficCollector collector;
    LiveView live;

    @BeforeEach
    void setUp() {
        reader = new Reader();
        FlowAggregator agg = new FlowAggregator(new FlowAggregator.Settings(0, Duration.ofMinutes(10).toNanos(),
                Duration.ofSeconds(30).toNanos(), Integer.MAX_VALUE), Labeler.plain());
        collector = new TrafficCollector(reader, agg, i -> "eth0", List::of, new BuildInfo("1", "25"), m -> { });
        Map<Long, String> paths = Map.of(NGINX, "/system.slice/nginx.service", DOCKER, "/system.slice/docker-" + CTR + ".scope");
        collector.setWorkloads(new WorkloadAggregator(0, Duration.ofMinutes(10).toNanos(), id -> Optional.ofNullable(paths.get(id))));
        // Before anyone watches: counted in the family, no peers.
        reader.workload(NGINX, Direction.INBOUND, false, 10, 15_000);
        reader.workload(NGINX, Direction.OUTBOUND, false, 20, 2_000);
        reader.workload(DOCKER, Direction.OUTBOUND, true, 4, 400);
        reader.workload(DOCKER, Direction.INBOUND, true, 1, 60);
        collector.refresh();
        live = new LiveView(collector, Duration.ofHours(1), Duration.ofSeconds(30)); // ticks by hand: collector.refresh()
    }

    @AfterEach
    void tearDown() {
        live.close();
    }

    static List<String> rows(WorkloadSnapshot s) {
        return s.rows().stream().map(r -> r.workload() + " " + r.kind() + " " + r.direction() + " " + r.ipType()
                + " " + r.packets() + "/" + r.bytes()).toList();
    }

    @Test
    void rowsAreTheFamilysSeriesWithTheirCountersTotalsFiltersAndSort() {
        assertFalse(reader.flagOn());
        assertEquals(0, reader.peerReads, "nobody watched yet: the peers map is never read");
        WorkloadSnapshot s = live.queryWorkloads(WorkloadQuery.parse("sort=bytes"));
        assertTrue(reader.flagOn(), "the first query sets the kernel's peer flag");
        assertTrue(live.workloadSampling());
        assertEquals(List.of("nginx.service systemd inbound public 10/15000",
                "nginx.service systemd outbound public 20/2000",
                "4f3a9c2e8b1d container outbound private 4/400",
                "4f3a9c2e8b1d container inbound private 1/60"), rows(s));
        assertEquals(List.of(15_060L, 2_400L), s.totals().stream().map(Snapshot.Total::bytes).toList());
        assertEquals(List.of(11L, 24L), s.totals().stream().map(Snapshot.Total::packets).toList());
        assertEquals(4, s.matched());
        assertEquals(List.of("nginx.service systemd outbound public 20/2000", "4f3a9c2e8b1d container outbound private 4/400"),
                rows(live.queryWorkloads(WorkloadQuery.parse("direction=outbound&sort=packets"))));
        assertEquals(List.of("4f3a9c2e8b1d container outbound private 4/400", "nginx.service systemd outbound public 20/2000"),
                rows(live.queryWorkloads(WorkloadQuery.parse("direction=outbound&sort=packets&order=asc"))));
        assertEquals(List.of("4f3a9c2e8b1d container inbound private 1/60", "4f3a9c2e8b1d container outbound private 4/400"),
                rows(live.queryWorkloads(WorkloadQuery.parse("workload=CONTAINER&sort=bytes&order=asc"))),
                "the text filter matches the kind too, case-insensitively");
        assertEquals(List.of("nginx.service systemd outbound public 20/2000"),
                rows(live.queryWorkloads(WorkloadQuery.parse("workload=nginx&ip_type=public&direction=outbound"))));
        WorkloadSnapshot one = live.queryWorkloads(WorkloadQuery.parse("n=1&sort=bytes"));
        assertEquals(1, one.rows().size());
        assertEquals(4, one.matched());
        assertEquals(15_060, one.totals().getFirst().bytes(), "totals ignore filters");
    }

    @Test
    void peersAreCountedFromTheFirstQueryOnAndCutToTheTopN() {
        reader.packet(NGINX, Direction.INBOUND, "203.0.113.7", 1, 100); // before: not a peer
        live.queryWorkloads(WorkloadQuery.defaults()); // baseline, flag on
        reader.packet(NGINX, Direction.INBOUND, "203.0.113.7", 3, 3_000);
        reader.packet(NGINX, Direction.INBOUND, "198.51.100.9", 2, 500);
        reader.packet(NGINX, Direction.INBOUND, "2001:db8::5", 1, 80);
        reader.packet(NGINX, Direction.OUTBOUND, "203.0.113.7", 5, 250);
        collector.refresh();
        WorkloadSnapshot s = live.queryWorkloads(WorkloadQuery.parse("sort=bytes&peers=2"));
        WorkloadSnapshot.Row in = s.rows().stream().filter(r -> r.workload().equals("nginx.service")
                && r.direction().equals("inbound")).findFirst().orElseThrow();
        assertEquals(10 + 1 + 3 + 2 + 1, in.packets(), "the row is the series' whole counter");
        assertEquals(List.of("203.0.113.7 3/3000", "198.51.100.9 2/500"),
                in.peers().stream().map(p -> p.ip() + " " + p.packets() + "/" + p.bytes()).toList());
        assertEquals("other 1/80", in.otherPeers().ip() + " " + in.otherPeers().packets() + "/" + in.otherPeers().bytes());
        WorkloadSnapshot.Row out = s.rows().stream().filter(r -> r.workload().equals("nginx.service")
                && r.direction().equals("outbound")).findFirst().orElseThrow();
        assertEquals(List.of("203.0.113.7"), out.peers().stream().map(WorkloadSnapshot.Peer::ip).toList());
        assertNull(out.otherPeers());
        WorkloadSnapshot none = live.queryWorkloads(WorkloadQuery.parse("sort=bytes&peers=0&workload=nginx&direction=inbound"));
        assertEquals(List.of(), none.rows().getFirst().peers());
        assertEquals(3_000 + 500 + 80, none.rows().getFirst().otherPeers().bytes(), "peers=0: all in other_peers");
    }

    @Test
    void aPeerMapFullIsReportedNotDropped() {
        live.queryWorkloads(WorkloadQuery.defaults());
        reader.peersFull[Direction.OUTBOUND.code() * 2][0] = 7;
        reader.peersFull[Direction.OUTBOUND.code() * 2][1] = 700;
        collector.refresh();
        WorkloadSnapshot s = live.queryWorkloads(WorkloadQuery.defaults());
        assertEquals(List.of(0L, 700L), s.peersFull().stream().map(Snapshot.Total::bytes).toList());
        assertEquals(List.of(0L, 7L), s.peersFull().stream().map(Snapshot.Total::packets).toList());
    }

    @Test
    void thePeerFlagIsClearedWhenSamplingStopsAndOnlyTheWorkloadsViewSetsIt() throws Exception {
        live.close();
        live = new LiveView(collector, Duration.ofMillis(50), Duration.ofMillis(300));
        live.query(Query.defaults());
        assertTrue(live.sampling());
        assertFalse(reader.flagOn(), "the pairs view alone does not make the kernel count peers");
        live.queryWorkloads(WorkloadQuery.defaults());
        assertTrue(reader.flagOn());
        // The pairs view keeps being watched, the workloads view not: the flag goes off, the sampler runs on.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (reader.flagOn() && System.nanoTime() < deadline) {
            live.query(Query.defaults());
            Thread.sleep(50);
        }
        assertFalse(reader.flagOn(), "peers stop when nobody watches the workloads");
        assertFalse(live.workloadSampling());
        assertTrue(live.sampling());
        live.queryWorkloads(WorkloadQuery.defaults());
        assertTrue(reader.flagOn());
        deadline = System.nanoTime() + 5_000_000_000L;
        while (live.sampling() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(live.sampling());
        assertFalse(reader.flagOn(), "and when the sampler stops");
        live.queryWorkloads(WorkloadQuery.defaults());
        assertTrue(reader.flagOn());
        live.close();
        assertFalse(reader.flagOn(), "and on close");
        collector.refresh(); // drains what the kernel still holds (nothing here)
        int reads = reader.peerReads;
        collector.refresh();
        collector.refresh();
        assertEquals(reads, reader.peerReads, "once drained, refreshes and scrapes do not read the peers map");
    }

    @Test
    void jsonRoundTripsAndBadQueriesAre400WithOneLine() {
        live.queryWorkloads(WorkloadQuery.defaults());
        reader.packet(DOCKER, Direction.OUTBOUND, "10.1.2.3", 2, 222);
        collector.refresh();
        LiveApi.Response ok = live.get(LiveView.WORKLOADS, "sort=bytes&n=3&peers=4&direction=outbound");
        assertEquals(200, ok.status());
        WorkloadSnapshot back = WorkloadJson.read(ok.json());
        assertEquals(List.of("nginx.service systemd outbound public 20/2000", "4f3a9c2e8b1d container outbound private 6/622"),
                rows(back));
        assertEquals("10.1.2.3", back.rows().get(1).peers().getFirst().ip());
        assertEquals(222, back.rows().get(1).peers().getFirst().bytes());
        assertEquals(new WorkloadQuery(3, Query.Sort.BYTES, false, "outbound", null, null, 4), back.query());
        assertEquals(WorkloadJson.write(back), WorkloadJson.write(WorkloadJson.read(WorkloadJson.write(back))));
        @SuppressWarnings("unchecked")
        Map<String, Object> raw = (Map<String, Object>) LiveJson.parse(ok.json());
        assertEquals(List.of("time", "covered_seconds", "sampling", "windows", "query", "matched", "totals", "peers_map_full",
                "workloads"), List.copyOf(raw.keySet()));
        @SuppressWarnings("unchecked")
        Map<String, Object> row = (Map<String, Object>) ((List<Object>) raw.get("workloads")).get(1);
        assertEquals(List.of("workload", "kind", "direction", "ip_type", "other", "bits_per_second", "packets_per_second",
                "bytes", "packets", "last_minute_bits_per_second", "peers", "other_peers"), List.copyOf(row.keySet()));

        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("n=0", "invalid n 0: must be between 1 and 10000");
        bad.put("sort=rate", "invalid sort \"rate\": use one of bits_2s, bits_10s, bits_40s, packets_2s, packets_10s, packets_40s, bytes, packets");
        bad.put("order=up", "invalid order \"up\": use asc or desc");
        bad.put("direction=in", "invalid direction \"in\": use inbound or outbound");
        bad.put("ip_type=x", "invalid ip_type \"x\": use private or public");
        bad.put("ip=10.", "unknown query parameter \"ip\" (known: n, sort, order, direction, ip_type, workload, peers)");
        bad.put("peers=-1", "invalid peers -1: must be between 0 and 100");
        bad.put("peers=many", "invalid peers \"many\": not a whole number");
        bad.put("workload=a&workload=b", "query parameter \"workload\" is given twice");
        bad.put("workload=%0a", "invalid workload: control characters");
        bad.put("workload=" + "w".repeat(257), "invalid workload: longer than 256 characters");
        bad.forEach((q, msg) -> {
            LiveApi.Response r = live.get(LiveView.WORKLOADS, q);
            assertEquals(400, r.status(), q);
            assertEquals("{\"error\":\"" + msg.replace("\"", "\\\"") + "\"}\n", r.json(), q);
        });
        assertEquals(200, live.get(LiveView.WORKLOADS, "direction=&ip_type=&workload=").status(), "empty means no filter");
        assertEquals("n=50&sort=bits_10s", WorkloadQuery.defaults().toParams());
        WorkloadQuery q = WorkloadQuery.parse("n=7&sort=bytes&order=asc&direction=inbound&ip_type=private&workload=a%20b&peers=9");
        assertEquals(q, WorkloadQuery.parse(q.toParams()));
    }

    @Test
    void offWithoutAttribution() {
        FlowAggregator agg = new FlowAggregator(new FlowAggregator.Settings(0, Duration.ofMinutes(10).toNanos(),
                Duration.ofSeconds(30).toNanos(), Integer.MAX_VALUE), Labeler.plain());
        TrafficCollector plain = new TrafficCollector(reader, agg, i -> "eth0", List::of, new BuildInfo("1", "25"), m -> { });
        try (LiveView v = new LiveView(plain, Duration.ofHours(1), Duration.ofSeconds(30))) {
            LiveApi.Response r = v.get(LiveView.WORKLOADS, "");
            assertEquals(503, r.status());
            assertEquals(1, r.json().lines().count());
            assertTrue(r.json().contains("per-workload traffic is off"), r.json());
            assertEquals(400, v.get(LiveView.WORKLOADS, "peers=x").status(), "a bad query is still a bad query");
        }
    }
}
