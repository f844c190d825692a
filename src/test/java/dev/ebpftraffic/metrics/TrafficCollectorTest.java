package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.testing.FakeFlowReader;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The collector with a fake FlowReader, scraped through a real PrometheusRegistry and the real
 * text format writer (as client_java's own tests do), compared with the whole expected text.
 */
class TrafficCollectorTest {
    static final int ETH0 = 2;
    static final int VETH = 7;
    static final String SCRAPE_DURATION = "ebpf_traffic_exporter_scrape_duration_seconds ";

    /** No budget, nothing drained or expired: the aggregation tests cover those. */
    static FlowAggregator unbounded() {
        return new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4, Long.MAX_VALUE / 4, Integer.MAX_VALUE),
                Labeler.plain());
    }

    FakeFlowReader reader;
    TrafficCollector collector;
    PrometheusRegistry registry;
    List<String> errors;

    @BeforeEach
    void setUp() {
        reader = new FakeFlowReader(65536);
        // IPv4 both ways; README's example flow (public source, private destination).
        reader.flow(ETH0, Direction.INBOUND, "1.1.1.1", "192.168.1.5", 10, 1234);
        reader.flow(ETH0, Direction.OUTBOUND, "192.168.1.5", "1.1.1.1", 8, 640);
        // Documentation range: public.
        reader.flow(ETH0, Direction.OUTBOUND, "192.168.1.5", "192.0.2.1", 1, 98);
        // IPv6, private and public destinations, RFC 5952 text.
        reader.flow(ETH0, Direction.INBOUND, "2001:0db8:0:0:0:0:0:1", "fd00:0:0:0:0:0:0:2", 3, 258);
        reader.flow(ETH0, Direction.OUTBOUND, "fd00::2", "2001:db8::1", 4, 400);
        // Another interface.
        reader.flow(VETH, Direction.INBOUND, "fe80::1", "ff02::1", 2, 180);
        reader.stat(ETH0, Direction.INBOUND, KernelStat.OVERFLOW_PRIVATE, 5, 500);
        reader.stat(ETH0, Direction.OUTBOUND, KernelStat.OVERFLOW_PUBLIC, 6, 600);
        reader.stat(ETH0, Direction.INBOUND, KernelStat.NON_IP, 7, 420);
        reader.stat(ETH0, Direction.OUTBOUND, KernelStat.MALFORMED, 1, 20);

        errors = new ArrayList<>();
        List<TcAttachment.Hook> hooks = List.of(new TcAttachment.Hook("eth0", "ingress", "tcx"),
                new TcAttachment.Hook("eth0", "egress", "tcx"));
        collector = new TrafficCollector(reader, unbounded(),
                i -> i == ETH0 ? "eth0" : "veth-t" + i, () -> hooks, new BuildInfo("0.1.0-test", "25.0.1"), errors::add);
        registry = new PrometheusRegistry();
        registry.register(collector);
        // Every series shows 0 in the first scrape that exports it (so increase() loses nothing);
        // the tests below compare from the second scrape on. firstScrapeShowsEverySeriesAtZero checks the first.
        try {
            scrape();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** One scrape in the Prometheus text format. */
    String scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The scrape without its scrape_duration_seconds sample, which varies; that one is checked here. */
    String scrapeStable() throws IOException {
        String text = scrape();
        StringBuilder sb = new StringBuilder();
        int durations = 0;
        for (String line : text.split("\n", -1)) {
            if (line.startsWith(SCRAPE_DURATION)) {
                durations++;
                double seconds = Double.parseDouble(line.substring(SCRAPE_DURATION.length()));
                assertTrue(seconds > 0 && seconds < 10, line);
                continue;
            }
            sb.append(line).append('\n');
        }
        assertEquals(1, durations, text);
        return sb.substring(0, sb.length() - 1);
    }

    static String expected(String... overrides) {
        String text = EXPECTED;
        for (int i = 0; i < overrides.length; i += 2) {
            assertTrue(text.contains(overrides[i]), overrides[i]);
            text = text.replace(overrides[i], overrides[i + 1]);
        }
        return text;
    }

    static final String EXPECTED = """
            # HELP ebpf_traffic_exporter_attached 1 for each TC hook the program is attached to; mode is tcx or legacy (clsact)
            # TYPE ebpf_traffic_exporter_attached gauge
            ebpf_traffic_exporter_attached{hook="egress",iface="eth0",mode="tcx"} 1.0
            ebpf_traffic_exporter_attached{hook="ingress",iface="eth0",mode="tcx"} 1.0
            # HELP ebpf_traffic_exporter_build_info Build information of the exporter; always 1
            # TYPE ebpf_traffic_exporter_build_info gauge
            ebpf_traffic_exporter_build_info{java_version="25.0.1",version="0.1.0-test"} 1.0
            # HELP ebpf_traffic_exporter_flow_map_capacity max_entries of the kernel flows map of the family (--map-size)
            # TYPE ebpf_traffic_exporter_flow_map_capacity gauge
            ebpf_traffic_exporter_flow_map_capacity{family="ipv4"} 65536.0
            ebpf_traffic_exporter_flow_map_capacity{family="ipv6"} 65536.0
            # HELP ebpf_traffic_exporter_flow_map_drained_total Idle kernel map entries drained into userspace totals
            # TYPE ebpf_traffic_exporter_flow_map_drained_total counter
            ebpf_traffic_exporter_flow_map_drained_total 0.0
            # HELP ebpf_traffic_exporter_flow_map_entries Entries in the kernel flows map of the family at the last read
            # TYPE ebpf_traffic_exporter_flow_map_entries gauge
            ebpf_traffic_exporter_flow_map_entries{family="ipv4"} 3.0
            ebpf_traffic_exporter_flow_map_entries{family="ipv6"} 3.0
            # HELP ebpf_traffic_exporter_flow_map_overflow_bytes_total Bytes counted in src_ip="other" because the kernel flows map was full
            # TYPE ebpf_traffic_exporter_flow_map_overflow_bytes_total counter
            ebpf_traffic_exporter_flow_map_overflow_bytes_total{direction="inbound",iface="eth0",ip_type="private"} 500.0
            ebpf_traffic_exporter_flow_map_overflow_bytes_total{direction="outbound",iface="eth0",ip_type="public"} 600.0
            # HELP ebpf_traffic_exporter_flow_map_overflow_packets_total Packets counted in src_ip="other" because the kernel flows map was full
            # TYPE ebpf_traffic_exporter_flow_map_overflow_packets_total counter
            ebpf_traffic_exporter_flow_map_overflow_packets_total{direction="inbound",iface="eth0",ip_type="private"} 5.0
            ebpf_traffic_exporter_flow_map_overflow_packets_total{direction="outbound",iface="eth0",ip_type="public"} 6.0
            # HELP ebpf_traffic_exporter_map_read_errors_total Reads of the kernel maps that failed (the last totals were served)
            # TYPE ebpf_traffic_exporter_map_read_errors_total counter
            ebpf_traffic_exporter_map_read_errors_total 0.0
            # HELP ebpf_traffic_exporter_scrape_duration_seconds Time the last scrape spent reading the maps and rendering the traffic series
            # TYPE ebpf_traffic_exporter_scrape_duration_seconds gauge
            # HELP ebpf_traffic_exporter_series_budget --max-series: most network_traffic_bytes_total series exported, "other" included (0: unlimited)
            # TYPE ebpf_traffic_exporter_series_budget gauge
            ebpf_traffic_exporter_series_budget 0.0
            # HELP ebpf_traffic_exporter_series_evicted_total Folded series forgotten to bound memory (their traffic went to "other")
            # TYPE ebpf_traffic_exporter_series_evicted_total counter
            ebpf_traffic_exporter_series_evicted_total 0.0
            # HELP ebpf_traffic_exporter_series_expired_total Series dropped after --series-ttl without traffic (what scrapes did not show yet goes to "other")
            # TYPE ebpf_traffic_exporter_series_expired_total counter
            ebpf_traffic_exporter_series_expired_total 0.0
            # HELP ebpf_traffic_exporter_series_exported IP-pair series exported under their own labels ("other" not included)
            # TYPE ebpf_traffic_exporter_series_exported gauge
            ebpf_traffic_exporter_series_exported 6.0
            # HELP ebpf_traffic_exporter_series_tracked IP-pair series held in userspace, exported or folded into "other"
            # TYPE ebpf_traffic_exporter_series_tracked gauge
            ebpf_traffic_exporter_series_tracked 6.0
            # HELP ebpf_traffic_exporter_skipped_bytes_total Bytes of the packets in ebpf_traffic_exporter_skipped_packets_total
            # TYPE ebpf_traffic_exporter_skipped_bytes_total counter
            ebpf_traffic_exporter_skipped_bytes_total{direction="inbound",iface="eth0",reason="non_ip"} 420.0
            ebpf_traffic_exporter_skipped_bytes_total{direction="outbound",iface="eth0",reason="malformed"} 20.0
            # HELP ebpf_traffic_exporter_skipped_packets_total Packets not attributed to an IP pair: reason=non_ip (ARP, LLDP, ...) or malformed (truncated or invalid IP header); always passed on unchanged
            # TYPE ebpf_traffic_exporter_skipped_packets_total counter
            ebpf_traffic_exporter_skipped_packets_total{direction="inbound",iface="eth0",reason="non_ip"} 7.0
            ebpf_traffic_exporter_skipped_packets_total{direction="outbound",iface="eth0",reason="malformed"} 1.0
            # HELP network_traffic_bytes_total Bytes seen at the TC hook per source and destination IP (frame length incl. L2 header; GSO counted as wire segments)
            # TYPE network_traffic_bytes_total counter
            network_traffic_bytes_total{direction="inbound",dst_ip="192.168.1.5",iface="eth0",ip_type="private",src_ip="1.1.1.1"} 1234.0
            network_traffic_bytes_total{direction="inbound",dst_ip="fd00::2",iface="eth0",ip_type="private",src_ip="2001:db8::1"} 258.0
            network_traffic_bytes_total{direction="inbound",dst_ip="ff02::1",iface="veth-t7",ip_type="private",src_ip="fe80::1"} 180.0
            network_traffic_bytes_total{direction="inbound",dst_ip="other",iface="eth0",ip_type="private",src_ip="other"} 500.0
            network_traffic_bytes_total{direction="outbound",dst_ip="1.1.1.1",iface="eth0",ip_type="public",src_ip="192.168.1.5"} 640.0
            network_traffic_bytes_total{direction="outbound",dst_ip="192.0.2.1",iface="eth0",ip_type="public",src_ip="192.168.1.5"} 98.0
            network_traffic_bytes_total{direction="outbound",dst_ip="2001:db8::1",iface="eth0",ip_type="public",src_ip="fd00::2"} 400.0
            network_traffic_bytes_total{direction="outbound",dst_ip="other",iface="eth0",ip_type="public",src_ip="other"} 600.0
            # HELP network_traffic_packets_total Packets seen at the TC hook per source and destination IP (GSO/GRO counted as wire segments)
            # TYPE network_traffic_packets_total counter
            network_traffic_packets_total{direction="inbound",dst_ip="192.168.1.5",iface="eth0",ip_type="private",src_ip="1.1.1.1"} 10.0
            network_traffic_packets_total{direction="inbound",dst_ip="fd00::2",iface="eth0",ip_type="private",src_ip="2001:db8::1"} 3.0
            network_traffic_packets_total{direction="inbound",dst_ip="ff02::1",iface="veth-t7",ip_type="private",src_ip="fe80::1"} 2.0
            network_traffic_packets_total{direction="inbound",dst_ip="other",iface="eth0",ip_type="private",src_ip="other"} 5.0
            network_traffic_packets_total{direction="outbound",dst_ip="1.1.1.1",iface="eth0",ip_type="public",src_ip="192.168.1.5"} 8.0
            network_traffic_packets_total{direction="outbound",dst_ip="192.0.2.1",iface="eth0",ip_type="public",src_ip="192.168.1.5"} 1.0
            network_traffic_packets_total{direction="outbound",dst_ip="2001:db8::1",iface="eth0",ip_type="public",src_ip="fd00::2"} 4.0
            network_traffic_packets_total{direction="outbound",dst_ip="other",iface="eth0",ip_type="public",src_ip="other"} 6.0
            """;

    /** The names the registry checks for clashes are the families a scrape yields (workload ones only with attribution). */
    @Test
    void prometheusNamesAreTheCollectedFamilies() {
        List<String> names = collector.getPrometheusNames();
        assertEquals(names.size(), new java.util.HashSet<>(names).size(), names.toString());
        List<String> collected = collector.collect().stream().map(m -> m.getMetadata().getPrometheusName()).toList();
        assertTrue(names.containsAll(collected), "collected " + collected + ", declared " + names);
        List<String> notCollected = new ArrayList<>(names);
        notCollected.removeAll(collected);
        assertEquals(List.of(TrafficCollector.WORKLOAD_BYTES, TrafficCollector.WORKLOAD_PACKETS,
                "ebpf_traffic_exporter_workload_unresolved_cgroups", "ebpf_traffic_exporter_workload_map_overflow_packets"),
                notCollected);
    }

    @Test
    void wholeExposition() throws IOException {
        assertEquals(EXPECTED, scrapeStable());
        assertEquals(List.of(), errors);
    }

    @Test
    void firstScrapeShowsEverySeriesAtZero() throws IOException {
        TrafficCollector fresh = new TrafficCollector(reader, unbounded(), i -> i == ETH0 ? "eth0" : "veth-t" + i,
                List::of, new BuildInfo("0.1.0-test", "25.0.1"), errors::add);
        ByteArrayOutputStream first = new ByteArrayOutputStream();
        fresh.writeTrafficText(first, false);
        java.util.TreeMap<String, Double> zero = samples(first.toString(StandardCharsets.UTF_8));
        zero.entrySet().removeIf(e -> e.getKey().startsWith("#"));
        assertEquals(16, zero.size(), zero.toString()); // 6 pairs and 2 "other", bytes and packets
        zero.forEach((k, v) -> assertEquals(0.0, v, k));
        ByteArrayOutputStream second = new ByteArrayOutputStream();
        fresh.writeTrafficText(second, false);
        java.util.TreeMap<String, Double> full = samples(second.toString(StandardCharsets.UTF_8));
        full.entrySet().removeIf(e -> !e.getKey().startsWith("network_traffic_"));
        java.util.TreeMap<String, Double> want = samples(EXPECTED);
        want.entrySet().removeIf(e -> !e.getKey().startsWith("network_traffic_"));
        assertEquals(want, full);
    }

    @Test
    void readmeExampleLine() throws IOException {
        List<String> lines = List.of(scrape().split("\n"));
        assertTrue(lines.contains("network_traffic_bytes_total{direction=\"inbound\",dst_ip=\"192.168.1.5\",iface=\"eth0\","
                + "ip_type=\"private\",src_ip=\"1.1.1.1\"} 1234.0"), String.join("\n", lines));
    }

    @Test
    void totalsNeverDecreaseWhenKernelEntriesAreRecreated() throws IOException {
        assertEquals(EXPECTED, scrapeStable());
        // Between scrapes the kernel recreated these entries (smaller values) and others grew.
        reader.flow(ETH0, Direction.INBOUND, "1.1.1.1", "192.168.1.5", 2, 200);       // recreated
        reader.flow(ETH0, Direction.OUTBOUND, "192.168.1.5", "1.1.1.1", 9, 700);       // grew
        reader.stat(ETH0, Direction.INBOUND, KernelStat.OVERFLOW_PRIVATE, 1, 100);     // recreated
        reader.stat(ETH0, Direction.INBOUND, KernelStat.NON_IP, 1, 60);               // recreated
        String second = scrapeStable();
        assertEquals(expected(
                "src_ip=\"1.1.1.1\"} 1234.0", "src_ip=\"1.1.1.1\"} 1434.0",
                "src_ip=\"1.1.1.1\"} 10.0", "src_ip=\"1.1.1.1\"} 12.0",
                "dst_ip=\"1.1.1.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 640.0",
                "dst_ip=\"1.1.1.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 700.0",
                "dst_ip=\"1.1.1.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 8.0",
                "dst_ip=\"1.1.1.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 9.0",
                "dst_ip=\"other\",iface=\"eth0\",ip_type=\"private\",src_ip=\"other\"} 500.0",
                "dst_ip=\"other\",iface=\"eth0\",ip_type=\"private\",src_ip=\"other\"} 600.0",
                "dst_ip=\"other\",iface=\"eth0\",ip_type=\"private\",src_ip=\"other\"} 5.0",
                "dst_ip=\"other\",iface=\"eth0\",ip_type=\"private\",src_ip=\"other\"} 6.0",
                "overflow_bytes_total{direction=\"inbound\",iface=\"eth0\",ip_type=\"private\"} 500.0",
                "overflow_bytes_total{direction=\"inbound\",iface=\"eth0\",ip_type=\"private\"} 600.0",
                "overflow_packets_total{direction=\"inbound\",iface=\"eth0\",ip_type=\"private\"} 5.0",
                "overflow_packets_total{direction=\"inbound\",iface=\"eth0\",ip_type=\"private\"} 6.0",
                "skipped_bytes_total{direction=\"inbound\",iface=\"eth0\",reason=\"non_ip\"} 420.0",
                "skipped_bytes_total{direction=\"inbound\",iface=\"eth0\",reason=\"non_ip\"} 480.0",
                "skipped_packets_total{direction=\"inbound\",iface=\"eth0\",reason=\"non_ip\"} 7.0",
                "skipped_packets_total{direction=\"inbound\",iface=\"eth0\",reason=\"non_ip\"} 8.0"), second);
        assertEquals(List.of(), errors);
    }

    @Test
    void entryGoneFromTheMapKeepsItsSeriesAndRestartsFromZero() throws IOException {
        assertEquals(EXPECTED, scrapeStable());
        FlowKey gone = FlowKey.of(ETH0, Direction.OUTBOUND, IpAddress.parse("192.168.1.5"), IpAddress.parse("192.0.2.1"));
        long[] before = reader.flows.remove(gone);
        assertEquals(98, before[1]);
        assertEquals(expected("ebpf_traffic_exporter_flow_map_entries{family=\"ipv4\"} 3.0", "ebpf_traffic_exporter_flow_map_entries{family=\"ipv4\"} 2.0"),
                scrapeStable());
        // Back with 3 packets / 300 bytes: all of it new, even though 300 > 98.
        reader.flow(ETH0, Direction.OUTBOUND, "192.168.1.5", "192.0.2.1", 3, 300);
        assertEquals(expected(
                "dst_ip=\"192.0.2.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 98.0",
                "dst_ip=\"192.0.2.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 398.0",
                "dst_ip=\"192.0.2.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 1.0",
                "dst_ip=\"192.0.2.1\",iface=\"eth0\",ip_type=\"public\",src_ip=\"192.168.1.5\"} 4.0"), scrapeStable());
    }

    @Test
    void readErrorCountsAndKeepsTheLastTotals() throws IOException {
        assertEquals(EXPECTED, scrapeStable());
        reader.failFlows = new IllegalStateException("cannot read BPF map: Bad file descriptor");
        reader.flow(ETH0, Direction.INBOUND, "1.1.1.1", "192.168.1.5", 11, 2000); // not visible: the read fails
        String failed = scrapeStable();
        assertEquals(expected("ebpf_traffic_exporter_map_read_errors_total 0.0", "ebpf_traffic_exporter_map_read_errors_total 1.0"),
                failed);
        assertEquals(List.of("reading the BPF maps failed: cannot read BPF map: Bad file descriptor"), errors);

        reader.failFlows = null;
        reader.failStats = new IllegalStateException("stats broke");
        String statsFailed = scrapeStable();
        assertEquals(expected(
                "ebpf_traffic_exporter_map_read_errors_total 0.0", "ebpf_traffic_exporter_map_read_errors_total 2.0",
                "src_ip=\"1.1.1.1\"} 1234.0", "src_ip=\"1.1.1.1\"} 2000.0",
                "src_ip=\"1.1.1.1\"} 10.0", "src_ip=\"1.1.1.1\"} 11.0"), statsFailed);
        assertEquals(2, errors.size());
        assertEquals("reading the BPF maps failed: stats broke", errors.get(1));

        reader.failStats = null; // recovered: the counter stays
        assertEquals(expected(
                "ebpf_traffic_exporter_map_read_errors_total 0.0", "ebpf_traffic_exporter_map_read_errors_total 2.0",
                "src_ip=\"1.1.1.1\"} 1234.0", "src_ip=\"1.1.1.1\"} 2000.0",
                "src_ip=\"1.1.1.1\"} 10.0", "src_ip=\"1.1.1.1\"} 11.0"), scrapeStable());
        assertEquals(5, reader.reads); // setUp's first scrape, then four
    }

    @Test
    void emptyMapsAndNoHooks() throws IOException {
        FakeFlowReader empty = new FakeFlowReader(65536);
        PrometheusRegistry r = new PrometheusRegistry();
        r.register(new TrafficCollector(empty, unbounded(), i -> "eth0", List::of, new BuildInfo("v", "j"), errors::add));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, r.scrape());
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("\nebpf_traffic_exporter_flow_map_entries{family=\"ipv4\"} 0.0\n"), text);
        assertTrue(text.contains("\nebpf_traffic_exporter_flow_map_entries{family=\"ipv6\"} 0.0\n"), text);
        assertTrue(text.contains("\nebpf_traffic_exporter_series_tracked 0.0\n"), text);
        assertTrue(text.contains("\nebpf_traffic_exporter_map_read_errors_total 0.0\n"), text);
        assertTrue(!text.contains("network_traffic_bytes_total{"), text);
        assertTrue(!text.contains("ebpf_traffic_exporter_attached{"), text);
    }

    /** The traffic families as the streaming writer renders them, then the rest through the client. */
    String streamingScrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        collector.writeTrafficText(out, false);
        PrometheusTextFormatWriter.create().write(out, registry.scrape(name -> !TrafficCollector.isTrafficName(name)));
        return out.toString(StandardCharsets.UTF_8);
    }

    /** Sample lines of a text exposition, values parsed, HELP/TYPE kept, the varying duration dropped. */
    static java.util.TreeMap<String, Double> samples(String text) {
        java.util.TreeMap<String, Double> m = new java.util.TreeMap<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.startsWith(SCRAPE_DURATION)) {
                continue;
            }
            if (line.startsWith("#")) {
                m.put(line, 0.0);
                continue;
            }
            int sp = line.lastIndexOf(' ');
            m.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1)));
        }
        return m;
    }

    @Test
    void streamingWriterSaysExactlyWhatTheClientSays() throws IOException {
        String client = scrapeStable();
        reader.flow(ETH0, Direction.INBOUND, "1.1.1.1", "192.168.1.5", 12, 1500); // both see the same growth
        String streaming = streamingScrape();
        String clientAgain = scrapeStable();
        assertTrue(streaming.contains("\nnetwork_traffic_bytes_total{direction=\"inbound\",dst_ip=\"192.168.1.5\",iface=\"eth0\","
                + "ip_type=\"private\",src_ip=\"1.1.1.1\"} 1500\n"), streaming);
        assertEquals(samples(clientAgain), samples(streaming));
        assertTrue(!client.equals(clientAgain));
        // Every traffic sample is an exact integer in the streaming text.
        for (String line : streaming.split("\n")) {
            if (line.startsWith("network_traffic_")) {
                assertTrue(line.matches(".*\\} [0-9]+"), line);
            }
        }
    }

    @Test
    void labelValuesAreEscapedInTheStreamingWriter() throws IOException {
        FakeFlowReader r = new FakeFlowReader(65536);
        r.flow(9, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 1, 60);
        TrafficCollector c = new TrafficCollector(r, unbounded(), i -> "we\"ird\\if", List::of, new BuildInfo("v", "j"), errors::add);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        c.writeTrafficText(out, false);
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("iface=\"we\\\"ird\\\\if\""), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void streamingOpenMetricsSaysExactlyWhatTheClientSays() throws IOException {
        ByteArrayOutputStream client = new ByteArrayOutputStream();
        io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter.create().write(client, registry.scrape());
        ByteArrayOutputStream streaming = new ByteArrayOutputStream();
        collector.writeTrafficText(streaming, true);
        io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter.create()
                .write(streaming, registry.scrape(name -> !TrafficCollector.isTrafficName(name)));
        String text = streaming.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith("# TYPE network_traffic_bytes counter\n# UNIT network_traffic_bytes bytes\n"
                + "# HELP network_traffic_bytes "), text);
        assertTrue(text.endsWith("# EOF\n"), text);
        assertEquals(1, text.split("# EOF", -1).length - 1, "exactly one EOF");
        assertEquals(samples(client.toString(StandardCharsets.UTF_8)), samples(text));
    }
}
