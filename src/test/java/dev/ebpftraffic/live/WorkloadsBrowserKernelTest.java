package dev.ebpftraffic.live;

import dev.ebpftraffic.testing.Chromium;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.SteadyUdp;
import dev.ebpftraffic.testing.TestWorkloads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Workloads tab in a real headless Chromium, inside the exporter's namespace, while processes'
 * sockets in test cgroups named like a systemd service (in b), a Docker container and a Kubernetes
 * pod's container (in a) exchange steady UDP streams: the three workloads with their kinds and rates,
 * their top remote peers expanded, the tab bar and the view in the #fragment. A screenshot goes to
 * target/live-view/workloads-view.png (and docs/workloads-view.png with -Dlive.updateDocs=true).
 */
@KernelTest
@Timeout(150)
class WorkloadsBrowserKernelTest {
    static final String A4 = "10.83.0.1";
    static final String B4 = "10.83.0.2";
    static final String A6 = "fd00:83::1";
    static final String B6 = "fd00:83::2";
    static final String A4B = "10.84.0.1";
    static final String B4B = "10.84.0.2";
    static final String PUB_A = "198.51.100.1";
    static final String PUB_B = "198.51.100.2";

    static final String TABLE = """
            JSON.stringify([...document.querySelectorAll('#wl-rows tr.workload-row')].map(tr => ({
              workload: tr.dataset.workload, kind: tr.dataset.kind, dir: tr.dataset.direction, type: tr.dataset.ipType,
              bits: ['2s', '10s', '40s'].map(w => Number(tr.querySelector('.bits-' + w).dataset.value)),
              bytes: Number(tr.querySelector('.bytes').dataset.value),
              peers: (() => { const p = []; let n = tr.nextElementSibling;
                while (n && n.classList.contains('peer')) { p.push(n.dataset.ip); n = n.nextElementSibling; } return p; })(),
              sparks: tr.querySelectorAll('.spark polyline').length})))
            """;

    record Row(String workload, String kind, String dir, String type, List<Double> bits, long bytes, List<String> peers) {
    }

    @SuppressWarnings("unchecked")
    static List<Row> table(Chromium c) {
        List<Row> rows = new ArrayList<>();
        for (Object o : (List<Object>) LiveJson.parse((String) c.eval(TABLE))) {
            Map<String, Object> m = (Map<String, Object>) o;
            rows.add(new Row((String) m.get("workload"), (String) m.get("kind"), (String) m.get("dir"), (String) m.get("type"),
                    ((List<Object>) m.get("bits")).stream().map(x -> ((Number) x).doubleValue()).toList(),
                    ((Number) m.get("bytes")).longValue(), ((List<Object>) m.get("peers")).stream().map(String.class::cast).toList()));
        }
        return rows;
    }

    static Row row(List<Row> rows, String workload, String dir, String type) {
        return rows.stream().filter(r -> r.workload().equals(workload) && r.dir().equals(dir) && r.type().equals(type))
                .findFirst().orElseThrow(() -> new AssertionError(workload + " " + dir + " " + type + " not in " + rows));
    }

    @Test
    void workloadsTabWithPeersAndScreenshot() throws Exception {
        try (TestWorkloads w = TestWorkloads.create(); NetNs net = NetNs.pair()) {
            TestWorkloads.addresses(net, A4, B4, A6, B6);
            net.addPair(A4B, B4B, 24);
            net.addPair(PUB_A, PUB_B, 24);
            ExporterProcess exporter = net.own(ExporterProcess.startSeeingCgroups(net.b, "workloads-browser",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup"));
            exporter.awaitAttached(Duration.ofSeconds(30));
            int port = 43000;
            // The service receives from the container and the pod, and answers the container.
            net.own(SteadyUdp.startInGroups(net.a, w.docker(), A4, net.b, w.service(), B4, port++, 1200, 40));
            net.own(SteadyUdp.startInGroups(net.b, w.service(), B4, net.a, w.docker(), A4, port++, 200, 30));
            net.own(SteadyUdp.startInGroups(net.a, w.pod(), A6, net.b, w.service(), B6, port++, 700, 25));
            net.own(SteadyUdp.startInGroups(net.a, w.pod(), A4B, net.b, w.service(), B4B, port++, 300, 15));
            net.own(SteadyUdp.startInGroups(net.a, w.docker(), PUB_A, net.b, w.service(), PUB_B, port++, 900, 10));

            Chromium c = net.own(Chromium.start(net.b, 1500, 640));
            c.openPage(Map.of());
            c.navigate("http://127.0.0.1:" + ExporterProcess.PORT + "/#view=workloads&expand=1&workload=" + w.serviceName().substring(0, 5));
            c.await("document.body && document.body.dataset.view === 'workloads'", 10_000, "the page, on the Workloads tab");
            assertEquals("true", c.eval("document.querySelector('#views [data-view=\"workloads\"]').getAttribute('aria-selected')"));
            assertEquals(Boolean.TRUE, c.eval("document.getElementById('view-pairs').hidden"));
            // The workload filter from the fragment: only the service's rows.
            c.await("(() => { const r = JSON.parse(" + TABLE.strip() + "); return r.length >= 2 && r.every(x => x.workload === '"
                    + w.serviceName() + "'); })()", 20_000, "the service's rows only");
            c.eval("(() => { const e = document.getElementById('f-workload'); e.value = '';"
                    + " e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()");
            c.await("(() => { const r = JSON.parse(" + TABLE.strip() + "); const names = new Set(r.map(x => x.workload));"
                    + " return ['" + w.serviceName() + "', '" + w.dockerName() + "', '" + w.podName() + "'].every(n => names.has(n))"
                    + " && r.filter(x => x.peers.length > 0 && x.bits.every(b => b > 0)).length >= 5; })()",
                    20_000, "three workloads with rates and peers");
            assertTrue(String.valueOf(c.eval("location.hash")).contains("view=workloads"), "the view is in the fragment");
            List<Row> rows = table(c);
            Row svcIn = row(rows, w.serviceName(), "inbound", "private");
            assertEquals("systemd", svcIn.kind());
            assertEquals(List.of(A4, A6, B4B.replace(".2", ".1")).stream().sorted().toList(),
                    svcIn.peers().stream().sorted().toList(), "the service's private inbound peers: " + rows);
            assertEquals(List.of(PUB_A), row(rows, w.serviceName(), "inbound", "public").peers());
            assertEquals(List.of(A4), row(rows, w.serviceName(), "outbound", "private").peers());
            Row ctr = row(rows, w.dockerName(), "outbound", "private");
            assertEquals("container", ctr.kind());
            assertEquals(List.of(B4), ctr.peers());
            Row pod = row(rows, w.podName(), "outbound", "private");
            assertEquals("kubernetes", pod.kind());
            assertEquals(List.of(B4B, B6).stream().sorted().toList(), pod.peers().stream().sorted().toList());

            c.await("JSON.parse(" + TABLE.strip() + ").every(r => r.sparks === 1)"
                    + " && Number((/(\\d+) s of history/.exec(document.getElementById('status').textContent) || [0, 99])[1]) >= 20",
                    30_000, "20 s of history");
            c.await("!document.getElementById('status').className", 3000, "no error shown");
            byte[] png = c.screenshot("workloads-view.png", true);
            assertTrue(png.length > 10_000, "a real picture");

            // The tab bar: Pairs shows the pairs table and drops the view from the fragment; Processes is off
            // here (--workloads cgroup): the tab says so with the API's one line.
            c.eval("document.querySelector('#views [data-view=\"pairs\"]').click(), true");
            c.await("!document.getElementById('view-pairs').hidden && document.getElementById('view-workloads').hidden"
                    + " && document.querySelectorAll('#rows tr[data-src]').length > 0 && !location.hash.includes('view=')",
                    10_000, "the pairs view");
            c.eval("document.querySelector('#views [data-view=\"processes\"]').click(), true");
            c.await("!document.getElementById('view-processes').hidden && location.hash.includes('view=processes')"
                    + " && document.getElementById('p-status').textContent.includes('per-process traffic is off')",
                    10_000, "the processes tab, saying per-process traffic is off");
            // The browser logs the API's 404 as a failed resource; nothing else may be logged.
            assertEquals(List.of(), c.pageErrors().stream()
                    .filter(e -> !(e.contains("status of 404") && e.contains("/api/v1/processes"))).toList(),
                    "no JavaScript or console errors");
        }
    }
}
