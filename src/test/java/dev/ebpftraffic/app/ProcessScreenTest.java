package dev.ebpftraffic.app;

import dev.ebpftraffic.live.LiveView;
import dev.ebpftraffic.live.ProcessJson;
import dev.ebpftraffic.live.ProcessQuery;
import dev.ebpftraffic.live.ProcessSnapshot;
import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;
import dev.ebpftraffic.web.ListenAddress;
import dev.ebpftraffic.web.LiveApi;
import dev.ebpftraffic.web.MetricsServer;
import dev.ebpftraffic.web.WebConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `top`'s Processes view: the v key, its own keys, what it draws, and `top --from` reading /api/v1/processes. */
class ProcessScreenTest {
    static final Snapshot.Rates RATES = new Snapshot.Rates(new double[] {8000, 4000, 1000}, new double[] {10, 5, 1.25});
    static final ProcessSnapshot SNAP = new ProcessSnapshot(1_700_000_000_000L, 42, true, ProcessQuery.defaults(), 3,
            List.of(new ProcessSnapshot.Row(4242, "nginx", "nginx.service", "systemd", "outbound", RATES, 123_456, 99, new float[] {8000, 0}),
                    new ProcessSnapshot.Row(0, "unknown", "kubepods-pod1234/abcdef012345-and-a-long-name", "kubernetes", "inbound",
                            RATES, 10, 1, new float[0])),
            List.of(new Snapshot.Total("inbound", RATES, 10, 1), new Snapshot.Total("outbound", RATES, 123_456, 99)));

    @Test
    void vSwitchesViewsAndTheProcessKeysChangeTheProcessQueryOnly() {
        Top.Keys k = new Top.Keys(Query.defaults().withSort(Query.Sort.BYTES));
        assertEquals(Top.TopView.PAIRS, k.view);
        assertEquals(Query.Sort.BYTES, k.processQuery.sort(), "--sort applies to both views");
        assertTrue(k.key('v'));
        assertEquals(Top.TopView.WORKLOADS, k.view);
        assertTrue(k.key('v'));
        assertEquals(Top.TopView.PROCESSES, k.view);
        Query pairs = k.query;
        k.key('1');
        assertEquals(Query.Sort.BITS_2S, k.processQuery.sort());
        k.key('p');
        assertEquals(Query.Sort.PACKETS_2S, k.processQuery.sort());
        k.key('3');
        assertEquals(Query.Sort.PACKETS_40S, k.processQuery.sort(), "the digit keeps the unit");
        k.key('r');
        assertTrue(k.processQuery.ascending());
        k.key('d');
        assertEquals("inbound", k.processQuery.direction());
        k.key('/');
        for (char c : "NgiX".toCharArray()) {
            k.key(c);
        }
        k.key(127);
        assertTrue(k.key('v'), "v is text while typing a filter");
        assertEquals(Top.TopView.PROCESSES, k.view);
        k.key(127);
        k.key('\r');
        assertEquals("ngi", k.processQuery.filter());
        assertEquals(pairs, k.query, "the pairs view's query is untouched");
        k.key('c');
        assertEquals(new ProcessQuery(Query.DEFAULT_N, Query.Sort.PACKETS_40S, true, null, null), k.processQuery);
        k.key('v');
        assertEquals(Top.TopView.PAIRS, k.view, "pairs -> workloads -> processes -> pairs");
        k.key('d');
        assertEquals("inbound", k.query.direction(), "keys act on the view shown");
        assertNull(k.processQuery.direction());
        k.key('v');
        assertFalse(k.key('q'), "q quits from the Processes view");
    }

    @Test
    void everyLineFitsAndShowsTheProcesses() {
        for (int width : new int[] {200, 120, 80, 60}) {
            List<String> lines = ProcessScreen.render(SNAP, new ProcessScreen.View(ProcessQuery.defaults(), "attached to eth0",
                    null, null), width, 12);
            assertEquals(12, lines.size());
            for (String l : lines) {
                String plain = l.replaceAll("\033\\[[0-9;]*m", "");
                assertTrue(plain.length() <= width, width + ": " + plain);
            }
            assertTrue(lines.get(0).contains("processes"), lines.get(0));
            assertTrue(lines.get(4).contains("PID") && lines.get(4).contains("COMMAND"), lines.get(4));
            assertTrue(lines.get(5).strip().startsWith("4242 nginx"), lines.get(5));
            assertTrue(lines.get(6).strip().startsWith("- unknown"), "pid 0 is shown as -: " + lines.get(6));
            assertTrue(lines.get(11).startsWith("q quit · v view"), lines.get(11));
        }
        List<String> wide = ProcessScreen.render(SNAP, new ProcessScreen.View(ProcessQuery.defaults(), "x", null, null), 200, 12);
        assertTrue(wide.get(5).contains("nginx.service") && wide.get(5).contains("123kB"), wide.get(5));
        List<String> packets = ProcessScreen.render(SNAP, new ProcessScreen.View(ProcessQuery.defaults().withSort(Query.Sort.PACKETS_2S),
                "x", null, null), 200, 12);
        assertTrue(packets.get(4).contains("*p/s 2s") && packets.get(4).contains("PACKETS"), packets.get(4));
        assertTrue(packets.get(5).contains(" 10.0 ") && packets.get(5).contains(" 99.0"), "packets/s and packets: " + packets.get(5));
        List<String> none = ProcessScreen.render(null, new ProcessScreen.View(ProcessQuery.defaults(), "x", null,
                "cannot read: per-process traffic is off"), 80, 6);
        assertEquals("cannot read: per-process traffic is off", none.get(1));
    }

    @Test
    void fromReadsTheProcessesApi() throws Exception {
        List<String> queries = new ArrayList<>();
        LiveApi api = (path, query) -> {
            queries.add(path + "?" + query);
            return path.equals(LiveView.PROCESSES) ? new LiveApi.Response(200, ProcessJson.write(SNAP))
                    : new LiveApi.Response(404, "{\"error\":\"no\"}\n");
        };
        try (MetricsServer s = MetricsServer.start(new ListenAddress("127.0.0.1", 0), new PrometheusRegistry(),
                new MetricsServer.Settings("/metrics", WebConfig.none(), () -> true, "1", null, api))) {
            Top.HttpSource src = new Top.HttpSource("http://127.0.0.1:" + s.port() + "/", false, null);
            ProcessSnapshot got = src.processes(ProcessQuery.parse("sort=bytes&filter=nginx"));
            assertEquals(List.of("/api/v1/processes?n=50&sort=bytes&filter=nginx"), queries);
            assertEquals(ProcessJson.write(SNAP), ProcessJson.write(got));
            IOException e = assertThrows(IOException.class, () -> src.fetch(Query.defaults()));
            assertTrue(e.getMessage().endsWith("/api/v1/top answered 404: {\"error\":\"no\"}"), e.getMessage());
        }
    }
}
