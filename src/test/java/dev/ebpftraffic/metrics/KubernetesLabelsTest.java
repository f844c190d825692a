package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.iface.IfaceNames;
import dev.ebpftraffic.kubernetes.ClusterLabeler;
import dev.ebpftraffic.kubernetes.ClusterNames;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.testing.IncreaseOracle;
import dev.ebpftraffic.testing.Metrics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Kubernetes labels through the real aggregator and collector, over a fake kernel map, with
 * the names changed between reads as the informers would change them. Scrapes are read through the
 * increase() oracle: totals and each workload's share are exact, a reused IP's traffic lands on the
 * pod that held it when the delta was read, and a series budget with folds keeps the sum exact.
 */
class KubernetesLabelsTest {
    static final long S = 1_000_000_000L;
    static final String BYTES = "network_traffic_bytes_total";

    final FakeFlowReader reader = new FakeFlowReader(256);
    final ClusterNames names = new ClusterNames();
    final List<String> errors = new ArrayList<>();
    long now = 1_000 * S;
    TrafficCollector collector;
    final IncreaseOracle all = new IncreaseOracle();
    final Map<String, IncreaseOracle> bySrcWorkload = new HashMap<>();
    final Map<String, IncreaseOracle> byDstWorkload = new HashMap<>();

    void start(boolean aggregate, int maxSeries) {
        for (ClusterNames.Kind k : ClusterNames.Kind.values()) {
            names.synced(k);
        }
        FlowAggregator.Settings settings = new FlowAggregator.Settings(maxSeries, 600 * S, 60 * S, maxSeries + 256);
        collector = new TrafficCollector(reader, new FlowAggregator(settings, new ClusterLabeler(Labeler.plain(), names, aggregate)),
                new IfaceNames(i -> "eth0"), List::of, new BuildInfo("v", "j"), errors::add);
        collector.clock(() -> now);
    }

    void pod(String ns, String name, String ip, String kind, String owner) {
        names.putPod(new ClusterNames.Pod(name + "-uid", ns, name, List.of(IpAddress.parse(ip)), kind, owner, false,
                "node-a", true, "2026-12-01T00:00:00Z"));
    }

    void send(String src, String dst, long packets, long bytes) {
        reader.send(FakeFlowReader.key(2, Direction.OUTBOUND, src, dst), packets, bytes);
    }

    /** One scrape into the oracles; returns the samples. */
    List<Metrics.Sample> scrape() throws IOException {
        now += 5 * S;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        collector.writeTrafficText(out, false);
        List<Metrics.Sample> samples = Metrics.parse(out.toString(StandardCharsets.UTF_8)).samples(BYTES);
        Map<String, Long> values = new HashMap<>();
        Map<String, Map<String, Long>> src = new HashMap<>();
        Map<String, Map<String, Long>> dst = new HashMap<>();
        for (Metrics.Sample s : samples) {
            String series = new TreeMap<>(s.labels()).toString();
            values.put(series, (long) s.value());
            src.computeIfAbsent(s.labels().getOrDefault("src_workload", ""), x -> new HashMap<>()).put(series, (long) s.value());
            dst.computeIfAbsent(s.labels().getOrDefault("dst_workload", ""), x -> new HashMap<>()).put(series, (long) s.value());
        }
        all.scrape(values);
        // A workload's oracle sees every scrape, with its own series only (the others are absent).
        for (String w : union(src.keySet(), bySrcWorkload.keySet())) {
            bySrcWorkload.computeIfAbsent(w, x -> new IncreaseOracle()).scrape(src.getOrDefault(w, Map.of()));
        }
        for (String w : union(dst.keySet(), byDstWorkload.keySet())) {
            byDstWorkload.computeIfAbsent(w, x -> new IncreaseOracle()).scrape(dst.getOrDefault(w, Map.of()));
        }
        assertTrue(errors.isEmpty(), errors::toString);
        return samples;
    }

    static java.util.Set<String> union(java.util.Set<String> a, java.util.Set<String> b) {
        java.util.Set<String> u = new java.util.TreeSet<>(a);
        u.addAll(b);
        return u;
    }

    long srcIncrease(String workload) {
        return bySrcWorkload.getOrDefault(workload, new IncreaseOracle()).increase();
    }

    long dstIncrease(String workload) {
        return byDstWorkload.getOrDefault(workload, new IncreaseOracle()).increase();
    }

    static boolean any(List<Metrics.Sample> samples, Predicate<Map<String, String>> p) {
        return samples.stream().anyMatch(s -> p.test(s.labels()));
    }

    @ParameterizedTest(name = "aggregate={0}")
    @ValueSource(booleans = {false, true})
    void aReusedIpLandsInTheWorkloadThatHeldItWhenRead(boolean aggregate) throws IOException {
        start(aggregate, 0);
        pod("shop", "web-1", "10.244.0.1", "StatefulSet", "web");
        pod("shop", "db-0", "10.244.0.2", "StatefulSet", "db");
        scrape();
        send("10.244.0.1", "10.244.0.2", 10, 1_000);
        send("10.244.0.1", "203.0.113.9", 3, 300);
        List<Metrics.Sample> first = scrape(); // every new series shows 0 first
        send("10.244.0.1", "10.244.0.2", 5, 500);
        scrape();
        // db-0 dies; its IP goes to cache-0 of another namespace. The next delta of the same kernel
        // entry is read after the change: it is cache's.
        names.removePod("shop", "db-0");
        pod("ops", "cache-0", "10.244.0.2", "DaemonSet", "cache");
        send("10.244.0.1", "10.244.0.2", 7, 700);
        scrape();
        send("10.244.0.1", "10.244.0.2", 2, 200);
        List<Metrics.Sample> last = scrape();
        scrape();

        assertEquals(1_000 + 300 + 500 + 700 + 200, all.increase(), "sum(increase()) is everything sent");
        assertEquals(1_000 + 500, dstIncrease("db"));
        assertEquals(700 + 200, dstIncrease("cache"));
        assertEquals(300, dstIncrease(""), "the external address has no workload");
        assertEquals(1_000 + 300 + 500 + 700 + 200, srcIncrease("web"));
        assertTrue(any(first, l -> "external".equals(l.get("dst_kind")) && "203.0.113.9".equals(l.get("dst_ip"))
                && "".equals(l.get("dst_namespace"))), first::toString);
        assertTrue(any(last, l -> "daemonset".equals(l.get("dst_kind")) && "ops".equals(l.get("dst_namespace"))
                && "statefulset".equals(l.get("src_kind")) && "shop".equals(l.get("src_namespace"))), last::toString);
        // Aggregated: no pod IP in any series; labelled: the pod IPs are there.
        assertEquals(!aggregate, any(last, l -> "10.244.0.2".equals(l.get("dst_ip"))), last::toString);
        assertEquals(aggregate, any(last, l -> "".equals(l.get("src_ip")) && "web".equals(l.get("src_workload"))), last::toString);
    }

    @Test
    void aggregateModeFoldsAWorkloadsPodsIntoOneSeries() throws IOException {
        start(true, 0);
        for (int i = 1; i <= 5; i++) {
            pod("shop", "web-" + i, "10.244.1." + i, "ReplicaSet", "web-abc");
        }
        names.putReplicaSet("shop", "web-abc", "web");
        pod("shop", "db-0", "10.244.2.1", "StatefulSet", "db");
        scrape();
        for (int i = 1; i <= 5; i++) {
            send("10.244.1." + i, "10.244.2.1", i, 100L * i);
        }
        List<Metrics.Sample> s = scrape();
        assertEquals(1, s.size(), "five pods, one deployment: one series " + s);
        assertEquals(Map.ofEntries(Map.entry("direction", "outbound"), Map.entry("dst_ip", ""), Map.entry("iface", "eth0"),
                Map.entry("ip_type", "private"), Map.entry("src_ip", ""), Map.entry("src_kind", "deployment"),
                Map.entry("src_namespace", "shop"), Map.entry("src_workload", "web"), Map.entry("dst_kind", "statefulset"),
                Map.entry("dst_namespace", "shop"), Map.entry("dst_workload", "db")), withoutEmpty(s.getFirst().labels(), "dst_ip", "src_ip"));
        scrape();
        assertEquals(1_500, all.increase());
    }

    static Map<String, String> withoutEmpty(Map<String, String> labels, String... keep) {
        Map<String, String> m = new HashMap<>(labels);
        for (String k : keep) {
            m.putIfAbsent(k, "");
        }
        return m;
    }

    @ParameterizedTest(name = "aggregate={0}")
    @ValueSource(booleans = {false, true})
    void exactUnderABudgetWhilePodsComeAndGo(boolean aggregate) throws IOException {
        start(aggregate, 8);
        Random r = new Random(15);
        long sent = 0;
        scrape();
        for (int round = 0; round < 60; round++) {
            // Pods churn: an IP of 10.244.3.0/28 names one of three workloads, or nothing (external).
            int host = 1 + r.nextInt(14);
            String ip = "10.244.3." + host;
            switch (r.nextInt(4)) {
                case 0 -> names.removePod("ns", "p" + host);
                default -> pod("ns", "p" + host, ip, "StatefulSet", "w" + r.nextInt(3));
            }
            for (int i = 0; i < 6; i++) {
                long b = 60 + r.nextInt(1400);
                send("10.244.3." + (1 + r.nextInt(14)), "10.244.3." + (1 + r.nextInt(14)), 1, b);
                sent += b;
            }
            List<Metrics.Sample> s = scrape();
            assertTrue(s.size() <= 8, "the budget holds: " + s.size());
        }
        scrape();
        scrape();
        assertEquals(sent, all.increase(), "every byte once, across relabels, folds into other and reuse");
    }
}
