package dev.ebpftraffic.metrics;

import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.workload.WorkloadAggregator;
import dev.ebpftraffic.testing.IncreaseOracle;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The per-workload families without a kernel: a fake "workloads" map, expected exposition text, increase() exactness. */
class WorkloadCollectorTest {
    static final long NGINX = 101;
    static final long POD = 102;
    static final long DOCKER = 103;
    static final long GONE = 999;
    static final String POD_PATH = "/kubepods.slice/kubepods-pod0b1c2d3e_4f50_6172_8394_a5b6c7d8e9f0.slice/cri-containerd-"
            + "a".repeat(64) + ".scope";
    static final Map<Long, String> PATHS = Map.of(
            NGINX, "/system.slice/nginx.service",
            POD, POD_PATH,
            DOCKER, "/system.slice/docker-" + "b".repeat(64) + ".scope",
            1L, "/");

    FakeFlowReader reader = new FakeFlowReader(1);
    long now;
    PrometheusRegistry registry = new PrometheusRegistry();

    TrafficCollector collector(int maxSeries, long ttl) {
        TrafficCollector c = new TrafficCollector(reader, new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4,
                Long.MAX_VALUE / 4, Integer.MAX_VALUE), Labeler.plain()), i -> "eth0", List::of, new BuildInfo("v", "j"), e -> { });
        c.clock(() -> now);
        c.setWorkloads(new WorkloadAggregator(maxSeries, ttl, id -> Optional.ofNullable(PATHS.get(id))));
        registry.register(c);
        return c;
    }

    String scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape(n -> n.startsWith("network_workload")
                || n.contains("workload_unresolved") || n.contains("workload_map_overflow")));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void exposition() throws IOException {
        collector(0, Long.MAX_VALUE / 4);
        reader.workload(NGINX, Direction.INBOUND, false, 10, 1000);
        reader.workload(NGINX, Direction.OUTBOUND, false, 8, 800);
        reader.workload(POD, Direction.OUTBOUND, true, 3, 300);
        reader.workload(DOCKER, Direction.INBOUND, true, 2, 200);
        reader.workload(GONE, Direction.OUTBOUND, true, 1, 50);
        reader.workloadOverflow[1 * 2 + 0] = new long[] {4, 400}; // outbound, public
        String first = scrape();
        assertEquals(text(0), first, "every series shows 0 in its first scrape");
        assertEquals(text(1), scrape());
    }

    /** m = 0: the first scrape; 1: the next. Lines in the text writer's order (by label values). */
    private static String text(int m) {
        String pod = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/aaaaaaaaaaaa";
        return """
                # HELP ebpf_traffic_exporter_workload_map_overflow_packets_total Packets counted in workload="other" because the kernel workloads map was full
                # TYPE ebpf_traffic_exporter_workload_map_overflow_packets_total counter
                ebpf_traffic_exporter_workload_map_overflow_packets_total 4.0
                # HELP ebpf_traffic_exporter_workload_unresolved_cgroups Cgroup ids of the last read that no cgroup path resolved (their traffic is under workload="unresolved")
                # TYPE ebpf_traffic_exporter_workload_unresolved_cgroups gauge
                ebpf_traffic_exporter_workload_unresolved_cgroups %s
                # HELP network_workload_traffic_bytes_total %s
                # TYPE network_workload_traffic_bytes_total counter
                network_workload_traffic_bytes_total{direction="inbound",ip_type="private",kind="container",workload="bbbbbbbbbbbb"} %d
                network_workload_traffic_bytes_total{direction="inbound",ip_type="public",kind="systemd",workload="nginx.service"} %d
                network_workload_traffic_bytes_total{direction="outbound",ip_type="private",kind="kubernetes",workload="%s"} %d
                network_workload_traffic_bytes_total{direction="outbound",ip_type="private",kind="unknown",workload="unresolved"} %d
                network_workload_traffic_bytes_total{direction="outbound",ip_type="public",kind="other",workload="other"} %d
                network_workload_traffic_bytes_total{direction="outbound",ip_type="public",kind="systemd",workload="nginx.service"} %d
                # HELP network_workload_traffic_packets_total %s
                # TYPE network_workload_traffic_packets_total counter
                network_workload_traffic_packets_total{direction="inbound",ip_type="private",kind="container",workload="bbbbbbbbbbbb"} %d
                network_workload_traffic_packets_total{direction="inbound",ip_type="public",kind="systemd",workload="nginx.service"} %d
                network_workload_traffic_packets_total{direction="outbound",ip_type="private",kind="kubernetes",workload="%s"} %d
                network_workload_traffic_packets_total{direction="outbound",ip_type="private",kind="unknown",workload="unresolved"} %d
                network_workload_traffic_packets_total{direction="outbound",ip_type="public",kind="other",workload="other"} %d
                network_workload_traffic_packets_total{direction="outbound",ip_type="public",kind="systemd",workload="nginx.service"} %d
                """.formatted(m == 0 ? "1.0" : "0.0", TrafficCollector.WORKLOAD_BYTES_HELP,
                200 * m, 1000 * m, pod, 300 * m, 50 * m, 400 * m, 800 * m,
                TrafficCollector.WORKLOAD_PACKETS_HELP, 2 * m, 10 * m, pod, 3 * m, 1 * m, 4 * m, 8 * m)
                .replace(" 0\n", " 0.0\n").replaceAll(" ([0-9]+)\n", " $1.0\n");
    }

    /**
     * Random traffic, a budget that folds, a TTL that expires series: the sum over all series of what
     * increase() sees (no extrapolation: per series, the growth between consecutive samples, a series'
     * first sample counting nothing) equals the traffic fed, exactly.
     */
    @Test
    void sumOfIncreaseIsExact() throws IOException {
        long ttl = 5_000_000_000L;
        TrafficCollector c = collector(7, ttl); // room for 3 workload series and the 4 "other" series
        Random rnd = new Random(14);
        long[] ids = {NGINX, POD, DOCKER, GONE, 1L};
        long fedPackets = 0;
        long fedBytes = 0;
        IncreaseOracle bytes = new IncreaseOracle();
        IncreaseOracle packets = new IncreaseOracle();
        for (int round = 0; round < 1400; round++) {
            now += 1_000_000_000L;
            int n = rnd.nextInt(4);
            for (int i = 0; i < n; i++) {
                long p = 1 + rnd.nextInt(5);
                long b = p * (60 + rnd.nextInt(1400));
                // Long quiet spells for some ids, so that series expire and come back.
                long id = ids[rnd.nextInt(round % 50 < 25 ? 2 : ids.length)];
                reader.workload(id, rnd.nextBoolean() ? Direction.INBOUND : Direction.OUTBOUND, rnd.nextBoolean(), p, b);
                fedPackets += p;
                fedBytes += b;
            }
            if (rnd.nextInt(20) == 0) {
                int i = rnd.nextInt(4);
                reader.workloadOverflow[i][0] += 1;
                reader.workloadOverflow[i][1] += 100;
                fedPackets += 1;
                fedBytes += 100;
            }
            if (round % 7 != 0) {
                // The refresh timer between scrapes: series expire here with counts no scrape has shown.
                c.refresh();
                continue;
            }
            scrapeInto(bytes, packets);
        }
        // What the last scrapes have not shown yet: flush by two more scrapes with no traffic.
        for (int i = 0; i < 2; i++) {
            now += 1_000_000L;
            scrapeInto(bytes, packets);
        }
        assertEquals(fedBytes, bytes.increase());
        assertEquals(fedPackets, packets.increase());
    }

    /** One scrape of the workload families into the two oracles; the budget holds at every scrape. */
    private void scrapeInto(IncreaseOracle bytes, IncreaseOracle packets) throws IOException {
        Map<String, Long> b = new HashMap<>();
        Map<String, Long> p = new HashMap<>();
        for (String line : scrape().split("\n")) {
            if (line.startsWith("network_workload_traffic_")) {
                int sp = line.lastIndexOf(' ');
                long v = (long) Double.parseDouble(line.substring(sp + 1));
                (line.startsWith("network_workload_traffic_bytes") ? b : p).put(line.substring(0, sp), v);
            }
        }
        assertTrue(b.size() <= 7, "series " + b.size()); // bytes and packets have the same series
        bytes.scrape(b);
        packets.scrape(p);
    }
}
