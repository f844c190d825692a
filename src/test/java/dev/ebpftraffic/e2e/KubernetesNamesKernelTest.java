package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.IncreaseOracle;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.MockApiServer;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.TcpForward;
import dev.ebpftraffic.testing.Traffic;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --kubernetes end to end: two "pods" in network namespaces joined by a veth exchange UDP while the
 * exporter (in b, on b's end) reads their names from fabric8's mock API server in CRUD mode, which
 * runs in the test JVM and is reached through a forwarder on the namespace's loopback. The
 * per-workload counts are exact, labelled and aggregated; an API server that is not there at
 * start-up stops no counting, and the names come when it does.
 */
@KernelTest
@Timeout(240)
class KubernetesNamesKernelTest {
    static final String CLIENT = "10.244.1.10"; // shop/client, a Deployment's pod, in a
    static final String SERVER = "10.244.2.20"; // db/pg-0, a StatefulSet's pod, in b
    static final String OUTSIDE = "192.0.2.10"; // in a too: no pod, service or node has it
    static final String SERVER2 = "10.244.2.21"; // b's address for the outside pair
    static NetNs net;
    static MockApiServer api;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() {
        net = NetNs.pair();
        net.addPair(CLIENT, SERVER, 8);
        net.addPair(OUTSIDE, SERVER2, 24);
        api = new MockApiServer();
        api.apply(MockApiServer.replicaSet("shop", "client-7f9c", "client"));
        api.apply(MockApiServer.pod("shop", "client-7f9c-abcde", CLIENT, "ReplicaSet", "client-7f9c"));
        api.apply(MockApiServer.pod("db", "pg-0", SERVER, "StatefulSet", "pg"));
    }

    @AfterAll
    static void tearDown() {
        if (api != null) {
            api.close();
        }
        if (net != null) {
            net.close();
        }
    }

    Path kubeconfig(int port) throws IOException {
        Path p = tmp.resolve("kubeconfig");
        Files.writeString(p, """
                apiVersion: v1
                kind: Config
                clusters:
                  - name: mock
                    cluster:
                      server: http://127.0.0.1:%d
                contexts:
                  - name: mock
                    context: {cluster: mock, user: mock, namespace: default}
                current-context: mock
                users:
                  - name: mock
                    user: {token: test-token}
                """.formatted(port));
        return p;
    }

    ExporterProcess start(String name, String mode, Path kubeconfig) {
        ExporterProcess e = (ExporterProcess.start(net.b, name, "--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                "--workloads", "off", "--kubernetes", mode, "--kubernetes.kubeconfig", kubeconfig.toString(),
                "--kubernetes.node-name", "node-test"));
        e.awaitAttached(Duration.ofSeconds(60));
        return e;
    }

    static double value(Metrics m, String name) {
        return m.samples(name).stream().mapToDouble(Metrics.Sample::value).sum();
    }

    static void awaitSynced(ExporterProcess e) {
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (value(e.scrapeOnce(), "ebpf_traffic_exporter_kubernetes_cache_synced") != 1) {
            assertTrue(System.nanoTime() < end, "names not synced in 60 s; stderr:\n" + e.stderr());
            sleep(100);
        }
    }

    static String ready(ExporterProcess e) {
        Cmd.Result r = Cmd.run(NetNs.in(net.b, "curl", "-s", "-w", " %{http_code}", "--max-time", "5",
                "http://" + e.listen() + "/-/ready"));
        return r.stdout();
    }

    /** Traffic series that involve the test's addresses, as a scrape shows them (labels sorted). */
    static Map<String, Long> series(Metrics m, String family) {
        Set<String> ours = Set.of(CLIENT, SERVER, OUTSIDE, SERVER2);
        Map<String, Long> out = new HashMap<>();
        for (Metrics.Sample s : m.samples(family)) {
            boolean mine = ours.contains(s.label("src_ip")) || ours.contains(s.label("dst_ip"))
                    || "client".equals(s.label("src_workload")) || "client".equals(s.label("dst_workload"))
                    || "pg".equals(s.label("src_workload")) || "pg".equals(s.label("dst_workload"));
            if (mine) {
                out.put(new TreeMap<>(s.labels()).toString(), (long) s.value());
            }
        }
        return out;
    }

    /** Sums the series whose labels contain every one of want. */
    static long sum(Map<String, Long> series, String... want) {
        return series.entrySet().stream().filter(e -> {
            for (String w : want) {
                if (!e.getKey().contains(w)) {
                    return false;
                }
            }
            return true;
        }).mapToLong(Map.Entry::getValue).sum();
    }

    @ParameterizedTest(name = "--kubernetes {0}")
    @ValueSource(strings = {"labels", "aggregate"})
    void exactPerWorkloadCounts(String mode) throws IOException {
        try (TcpForward fwd = TcpForward.start(net.b, 0, api.port());
             ExporterProcess e = start("k8s-" + mode, mode, kubeconfig(fwd.port()))) {
            awaitSynced(e);
            assertEquals("Ready\n 200", ready(e));
            Traffic t = new Traffic(net);
            t.udp(true, CLIENT, SERVER, 7001, Map.of(100, 40, 1200, 10));   // client -> pg, inbound at b
            t.udp(false, SERVER, CLIENT, 7002, Map.of(300, 25));            // pg -> client, outbound
            t.udp(true, OUTSIDE, SERVER2, 7003, Map.of(64, 12));             // outside -> b's second address
            Metrics m = e.scrape(); // the second of two: every series shows its total
            Map<String, Long> bytes = series(m, Traffic.BYTES);
            Map<String, Long> packets = series(m, Traffic.PACKETS);
            long in = 40 * Traffic.udpFrame(SERVER, 100) + 10 * Traffic.udpFrame(SERVER, 1200);
            long out = 25 * Traffic.udpFrame(CLIENT, 300);
            long ext = 12 * Traffic.udpFrame(SERVER2, 64);
            String client = "src_kind=deployment, src_namespace=shop, src_workload=client";
            String pg = "dst_kind=statefulset, dst_namespace=db, dst_workload=pg";
            assertEquals(in, sum(bytes, "direction=inbound", pg, client), bytes.toString());
            assertEquals(50, sum(packets, "direction=inbound", pg, client), packets.toString());
            assertEquals(out, sum(bytes, "direction=outbound", "src_kind=statefulset, src_namespace=db, src_workload=pg",
                    "dst_kind=deployment, dst_namespace=shop, dst_workload=client"), bytes.toString());
            assertEquals(25, sum(packets, "direction=outbound"), packets.toString());
            // The outside address keeps its IP in both modes; b's second address is no pod: external too.
            assertEquals(ext, sum(bytes, "dst_ip=" + SERVER2, "dst_kind=external", "src_ip=" + OUTSIDE, "src_kind=external"),
                    bytes.toString());
            assertEquals(in + out + ext, bytes.values().stream().mapToLong(Long::longValue).sum(), "nothing else: " + bytes);
            if (mode.equals("aggregate")) {
                assertTrue(bytes.keySet().stream().noneMatch(k -> k.contains(CLIENT) || k.contains(SERVER + ",")
                        || k.contains(SERVER + "}")), "no pod IP in aggregate mode: " + bytes.keySet());
                assertEquals(3, bytes.size(), "one series per workload pair and direction, one for the outside: " + bytes);
            } else {
                assertTrue(bytes.keySet().stream().anyMatch(k -> k.contains("src_ip=" + CLIENT) && k.contains("dst_ip=" + SERVER)),
                        bytes.keySet().toString());
            }
            assertEquals(1, value(m, "ebpf_traffic_exporter_kubernetes_cache_synced"));
            assertEquals(2, m.samples("ebpf_traffic_exporter_kubernetes_objects").stream()
                    .filter(s -> "pod".equals(s.label("kind"))).mapToDouble(Metrics.Sample::value).sum());
            e.stop();
        }
    }

    @Test
    void anApiServerDownAtStartUpStopsNoCounting() throws IOException {
        int port = MockApiServer.freePort();
        try (ExporterProcess e = start("k8s-down", "labels", kubeconfig(port))) { // nothing listens there yet
            apiComesLater(e, port);
        }
    }

    void apiComesLater(ExporterProcess e, int port) {
        IncreaseOracle all = new IncreaseOracle();
        all.scrape(series(e.scrapeOnce(), Traffic.BYTES));
        Traffic t = new Traffic(net);
        t.udp(true, CLIENT, SERVER, 7011, Map.of(500, 20));
        Metrics m = e.scrapeOnce();
        all.scrape(series(m, Traffic.BYTES));
        m = e.scrapeOnce();
        all.scrape(series(m, Traffic.BYTES));
        long first = 20 * Traffic.udpFrame(SERVER, 500);
        Map<String, Long> bytes = series(m, Traffic.BYTES);
        assertEquals(first, sum(bytes, "src_ip=" + CLIENT, "src_kind=unknown", "dst_kind=unknown"), bytes.toString());
        assertEquals(0, value(m, "ebpf_traffic_exporter_kubernetes_cache_synced"));
        long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (value(e.scrapeOnce(), "ebpf_traffic_exporter_kubernetes_watch_errors_total") == 0) {
            assertTrue(System.nanoTime() < end, "no list error counted in 30 s: " + e.scrapeOnce().text());
            sleep(100);
        }
        assertTrue(e.stderr().contains("kubernetes: listing or watching"), e.stderr());
        String r = ready(e);
        assertTrue(r.endsWith(" 503") && r.contains("Kubernetes names are not listed yet"), r);
        assertFalse(e.stderr().lines().anyMatch(l -> l.startsWith("\tat ")), "no stack traces:\n" + e.stderr());

        // The API server comes: the names follow, and the pair's next traffic lands under them.
        try (TcpForward fwd = TcpForward.start(net.b, port, api.port())) {
            awaitSynced(e);
            assertEquals("Ready\n 200", ready(e));
            t.udp(true, CLIENT, SERVER, 7011, Map.of(500, 30));
            for (int i = 0; i < 2; i++) {
                m = e.scrapeOnce();
                all.scrape(series(m, Traffic.BYTES));
            }
            bytes = series(m, Traffic.BYTES);
            long second = 30 * Traffic.udpFrame(SERVER, 500);
            assertEquals(second, sum(bytes, "src_ip=" + CLIENT, "src_workload=client", "dst_workload=pg"), bytes.toString());
            assertEquals(first + second, all.increase(), "sum(increase()) is every byte sent, before and after the names");
            e.stop();
        }
    }

    /**
     * The client library (fabric8, its model and Jackson) costs nothing when the mode is off: none
     * of its classes is loaded. With the mode on they are (so the check can fail).
     */
    @Test
    void theClientLibraryIsLoadedOnlyWithTheMode() throws IOException {
        Map<String, Long> loaded = new TreeMap<>();
        for (String mode : List.of("off", "labels")) {
            Path log = tmp.resolve("classes-" + mode + ".txt");
            List<String> args = new java.util.ArrayList<>(List.of("--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                    "--workloads", "off", "--kubernetes", mode));
            if (!mode.equals("off")) {
                args.addAll(List.of("--kubernetes.kubeconfig", kubeconfig(MockApiServer.freePort()).toString()));
            }
            try (ExporterProcess e = ExporterProcess.start(net.b, ExporterProcess.PORT,
                    Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load=info:file=" + log), "k8s-classes-" + mode, List.of(),
                    args.toArray(new String[0]))) {
                e.awaitAttached(Duration.ofSeconds(60));
                e.scrape();
                e.stop();
            }
            loaded.put(mode, Files.readAllLines(log).stream()
                    .filter(l -> l.contains(" io.fabric8.") || l.contains(" tools.jackson.")).count());
        }
        assertEquals(0, loaded.get("off"), "fabric8 or Jackson classes loaded with --kubernetes off: " + loaded);
        assertTrue(loaded.get("labels") > 100, loaded.toString());
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
