package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.flow.ProcessKey;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.web.LiveApi;
import dev.ebpftraffic.workload.ProcessTable;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GET /api/v1/processes over a collector fed by an in-memory reader: the query's parsing and its
 * one-line errors, filters, sort and cut, exact cumulative rows and totals, the JSON written and read
 * back, and the 404 when processes are not attributed.
 */
class ProcessViewTest {
    static final long NGINX = 101;
    static final long DOCKER = 102;
    static final long GONE = 103;

    /** "procs" deltas waiting for the next read, the overflow counters and the names. */
    static final class Reader implements FlowReader {
        final Map<ProcessKey, long[]> pending = new LinkedHashMap<>();
        final long[][] overflow = new long[2][2];
        final Map<Integer, String> comms = Map.of(10, "nginx", 11, "curl", 20, "redis-server");

        synchronized void add(long cgroup, int pid, Direction d, long packets, long bytes) {
            long[] v = pending.computeIfAbsent(new ProcessKey(cgroup, pid, d), k -> new long[2]);
            v[0] += packets;
            v[1] += bytes;
        }

        @Override
        public synchronized void readProcessDeltas(Sink<ProcessKey> sink) {
            pending.forEach((k, v) -> sink.accept(k, v[0], v[1]));
            pending.clear();
        }

        @Override
        public synchronized long[][] readProcessOverflow() {
            return new long[][] {overflow[0].clone(), overflow[1].clone()};
        }

        @Override
        public Optional<String> processName(int tgid) {
            return Optional.ofNullable(comms.get(tgid));
        }

        @Override
        public void readFlows(Sink<FlowKey> sink) {
        }

        @Override
        public void readStats(Sink<StatKey> sink) {
        }

        @Override
        public boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
            return false;
        }

        @Override
        public int flowCapacity() {
            return 1024;
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
        live = new LiveView(collector, Duration.ofSeconds(1), Duration.ofSeconds(30));
    }

    @AfterEach
    void tearDown() {
        live.close();
    }

    private void withProcesses() {
        collector.setProcesses(new ProcessTable(Duration.ofMinutes(10).toNanos(), id -> Optional.ofNullable(
                id == NGINX ? "/system.slice/nginx.service" : id == DOCKER ? "/system.slice/docker-" + "ab".repeat(32) + ".scope" : null)));
        reader.add(NGINX, 10, Direction.INBOUND, 5, 5_000);
        reader.add(NGINX, 10, Direction.OUTBOUND, 7, 70_000);
        reader.add(NGINX, 11, Direction.OUTBOUND, 1, 60);
        reader.add(DOCKER, 20, Direction.INBOUND, 3, 300);
        reader.add(DOCKER, 0, Direction.INBOUND, 2, 120);
        reader.add(GONE, 99, Direction.OUTBOUND, 4, 400);
        reader.overflow[1] = new long[] {6, 600};
    }

    static List<String> rows(ProcessSnapshot s) {
        return s.rows().stream().map(r -> r.pid() + " " + r.comm() + " " + r.workload() + " " + r.kind() + " "
                + r.direction() + " " + r.packets() + " " + r.bytes()).toList();
    }

    private ProcessSnapshot get(String query) {
        LiveApi.Response r = live.get(LiveView.PROCESSES, query);
        assertEquals(200, r.status(), r.json());
        return ProcessJson.read(r.json());
    }

    @Test
    void rowsAreExactPerProcessAndDirectionWithNamesAndTotals() {
        withProcesses();
        ProcessSnapshot s = get("sort=bytes");
        String ctr = "ab".repeat(6);
        assertEquals(List.of(
                "10 nginx nginx.service systemd outbound 7 70000",
                "10 nginx nginx.service systemd inbound 5 5000",
                "0 other other other outbound 6 600",
                "99 unknown unresolved unknown outbound 4 400",
                "20 redis-server " + ctr + " container inbound 3 300",
                "0 unknown " + ctr + " container inbound 2 120",
                "11 curl nginx.service systemd outbound 1 60"), rows(s));
        assertEquals(7, s.matched());
        assertEquals("inbound", s.totals().get(0).direction());
        assertEquals(10, s.totals().get(0).packets());
        assertEquals(5_420, s.totals().get(0).bytes());
        assertEquals(18, s.totals().get(1).packets());
        assertEquals(71_060, s.totals().get(1).bytes());

        // The next refresh adds to the same rows; nothing is counted twice.
        reader.add(NGINX, 10, Direction.INBOUND, 1, 100);
        collector.refresh();
        assertEquals(List.of("10 nginx nginx.service systemd inbound 6 5100"), rows(get("direction=inbound&n=1&sort=bytes")));
        assertEquals(3, get("direction=inbound&n=1").matched(), "nginx, redis-server and the unknown socket");
    }

    @Test
    void filterSortOrderAndCut() {
        withProcesses();
        assertEquals(List.of("11 curl nginx.service systemd outbound 1 60"), rows(get("filter=CURL")));
        assertEquals(3, get("filter=nginx").rows().size(), "a workload's name matches all its processes");
        assertEquals(List.of("20 redis-server " + "ab".repeat(6) + " container inbound 3 300"), rows(get("filter=20")),
                "a pid matches in full only (not 120 bytes nor pid 0)");
        assertEquals(2, get("filter=container").rows().size(), "the kind matches");
        assertEquals(List.of("11 curl nginx.service systemd outbound 1 60", "0 unknown " + "ab".repeat(6) + " container inbound 2 120"),
                rows(get("sort=packets&order=asc&n=2")));
        ProcessSnapshot cut = get("n=1&sort=packets");
        assertEquals(1, cut.rows().size());
        assertEquals(7, cut.matched());
        assertEquals(ProcessQuery.parse("n=1&sort=packets"), cut.query());
    }

    @Test
    void badQueriesAreOneLine400s() {
        withProcesses();
        for (String[] c : List.of(
                new String[] {"n=0", "invalid n 0: must be between 1 and 10000"},
                new String[] {"n=x", "invalid n \"x\": not a whole number"},
                new String[] {"sort=fastest", "invalid sort \"fastest\": use one of " + Query.Sort.names()},
                new String[] {"order=up", "invalid order \"up\": use asc or desc"},
                new String[] {"direction=in", "invalid direction \"in\": use inbound or outbound"},
                new String[] {"ip=10.0.0.1", "unknown query parameter \"ip\" (known: n, sort, order, direction, filter)"},
                new String[] {"filter=a&filter=b", "query parameter \"filter\" is given twice"},
                new String[] {"filter=%0A", "invalid filter: control characters"},
                new String[] {"filter=%zz", "malformed query string: bad percent-encoding in \"%zz\""})) {
            LiveApi.Response r = live.get(LiveView.PROCESSES, c[0]);
            assertEquals(400, r.status(), c[0]);
            assertEquals(LiveJson.error(c[1]), r.json(), c[0]);
            assertEquals(1, r.json().strip().lines().count(), c[0]);
            Query.BadQuery e = assertThrows(Query.BadQuery.class, () -> ProcessQuery.parse(c[0]));
            assertEquals(c[1], e.getMessage());
        }
    }

    @Test
    void notAttributedIs404AndNoSampling() {
        assertNull(live.processes(ProcessQuery.defaults()));
        LiveApi.Response r = live.get(LiveView.PROCESSES, "");
        assertEquals(404, r.status());
        assertTrue(r.json().startsWith("{\"error\":\"per-process traffic is off"), r.json());
        assertFalse(live.sampling(), "a 404 starts nothing");
    }

    @Test
    void jsonRoundTripAndParams() {
        withProcesses();
        ProcessSnapshot s = live.processes(ProcessQuery.parse("sort=packets_2s&order=asc&direction=outbound&filter=Ng"));
        String json = ProcessJson.write(s);
        assertTrue(json.contains("\"query\":{\"n\":50,\"sort\":\"packets_2s\",\"order\":\"asc\",\"direction\":\"outbound\",\"filter\":\"ng\"}"), json);
        assertTrue(json.contains("{\"pid\":10,\"comm\":\"nginx\",\"workload\":\"nginx.service\",\"kind\":\"systemd\",\"direction\":\"outbound\","
                + "\"bits_per_second\":{\"2s\":0,\"10s\":0,\"40s\":0},\"packets_per_second\":{\"2s\":0,\"10s\":0,\"40s\":0},"
                + "\"bytes\":70000,\"packets\":7,\"last_minute_bits_per_second\":[]}"), json);
        ProcessSnapshot back = ProcessJson.read(json);
        assertEquals(rows(s), rows(back));
        assertEquals(s.query(), back.query());
        assertEquals(s.matched(), back.matched());
        assertEquals("n=50&sort=packets_2s&order=asc&direction=outbound&filter=ng", s.query().toParams());
        assertEquals(s.query(), ProcessQuery.parse(s.query().toParams()));
        List<String> names = new ArrayList<>();
        back.totals().forEach(t -> names.add(t.direction()));
        assertEquals(List.of("inbound", "outbound"), names);
    }

    @Test
    void idleRowsAreForgottenButTotalsKeepThem() {
        long[] now = {0};
        ProcessTable t = new ProcessTable(Duration.ofSeconds(10).toNanos(), id -> Optional.of("/"));
        reader.add(NGINX, 10, Direction.INBOUND, 5, 500);
        t.refresh(reader, now[0]);
        assertEquals(1, t.size());
        now[0] = Duration.ofSeconds(9).toNanos();
        reader.add(NGINX, 11, Direction.INBOUND, 1, 100);
        t.refresh(reader, now[0]);
        assertEquals(2, t.size());
        now[0] = Duration.ofSeconds(10).toNanos();
        t.refresh(reader, now[0]);
        assertEquals(1, t.size(), "pid 10 idle for the TTL");
        assertEquals(6, t.total(Direction.INBOUND)[0]);
        assertEquals(600, t.total(Direction.INBOUND)[1]);
        List<String> left = new ArrayList<>();
        t.forEach(e -> left.add(e.pid() + " " + e.workload() + " " + e.kind() + " " + e.packets()));
        assertEquals(List.of("11 host host 1"), left);
    }

    /** The rates rest on one-second buckets, as RateTracker's: 1000 bytes and 10 packets a second for 10 s. */
    @Test
    void ratesPerProcessAndDirection() {
        ProcessRates r = new ProcessRates(0);
        ProcessTable.Row row = new ProcessTable.Row(NGINX, 10, Direction.INBOUND);
        r.begin(0);
        r.delta(row, 99, 99_000); // the baseline's deltas cover an unknown time: not a rate
        r.end(0);
        for (int sec = 1; sec <= 10; sec++) {
            r.begin(sec * 1_000_000_000L);
            r.delta(row, 10, 1000);
            r.end(sec * 1_000_000_000L);
        }
        assertEquals(10, r.coveredSeconds());
        RateTracker.Rates x = r.rates(row);
        for (int w = 0; w < 3; w++) {
            assertEquals(8000, x.bitsPerSecond()[w], 1e-6, "window " + w);
            assertEquals(10, x.packetsPerSecond()[w], 1e-6, "window " + w);
        }
        assertEquals(10, x.historyBits().length);
        assertEquals(8000, r.direction(Direction.INBOUND.code()).bitsPerSecond()[1], 1e-6);
        assertEquals(0, r.direction(Direction.OUTBOUND.code()).bitsPerSecond()[1]);
        r.retain(java.util.Set.of());
        assertEquals(0, r.rates(row).bitsPerSecond()[0], "a row the table forgot has no ring");
        r.reset();
        assertEquals(0, r.coveredSeconds());
    }
}
