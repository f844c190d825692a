package dev.ebpftraffic.metrics;

import dev.ebpftraffic.bpf.FlowReader;
import dev.ebpftraffic.bpf.KernelStat;
import dev.ebpftraffic.bpf.StatKey;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowTable;
import dev.ebpftraffic.flow.IpClass;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import java.util.function.Consumer;

/**
 * Builds all metric snapshots at scrape time from the kernel maps.
 *
 * <p>Traffic: network_traffic_{bytes,packets}_total per (src_ip, dst_ip, direction, ip_type, iface).
 * Packets the kernel could not put in the full flows map are exported in the same families with
 * src_ip="other", dst_ip="other", so a sum over all series is exact.
 *
 * <p>Self-metrics are prefixed ebpf_traffic_exporter_.
 */
public final class TrafficCollector implements MultiCollector {
    public static final String BYTES = "network_traffic_bytes";
    public static final String PACKETS = "network_traffic_packets";
    public static final String OTHER = "other";
    static final String SELF = "ebpf_traffic_exporter_";

    private final FlowReader reader;
    private final IntFunction<String> ifaceName;
    private final Supplier<List<TcAttachment.Hook>> hooks;
    private final BuildInfo buildInfo;
    private final Consumer<String> errorLog;
    private final FlowTable<FlowKey> flows = new FlowTable<>();
    private final FlowTable<StatKey> stats = new FlowTable<>();
    private long readErrors;

    public TrafficCollector(FlowReader reader, IntFunction<String> ifaceName, Supplier<List<TcAttachment.Hook>> hooks,
                            BuildInfo buildInfo, Consumer<String> errorLog) {
        this.reader = reader;
        this.ifaceName = ifaceName;
        this.hooks = hooks;
        this.buildInfo = buildInfo;
        this.errorLog = errorLog;
    }

    @Override
    public synchronized MetricSnapshots collect() {
        long start = System.nanoTime();
        try {
            flows.beginRead();
            reader.readFlows(flows::observe);
            flows.endRead();
            stats.beginRead();
            reader.readStats(stats::observe);
            stats.endRead();
        } catch (RuntimeException e) {
            // Keep serving the last totals; the error counter tells the operator.
            readErrors++;
            errorLog.accept("reading the BPF maps failed: " + e.getMessage());
        }

        CounterSnapshot.Builder bytes = CounterSnapshot.builder().name(BYTES).unit(Unit.BYTES)
                .help("Bytes seen at the TC hook per source and destination IP (frame length incl. L2 header; GSO counted as wire segments)");
        CounterSnapshot.Builder packets = CounterSnapshot.builder().name(PACKETS)
                .help("Packets seen at the TC hook per source and destination IP (GSO/GRO counted as wire segments)");
        for (FlowTable.Entry<FlowKey> e : flows.entries()) {
            Labels labels = (Labels) e.exportCache;
            if (labels == null) {
                labels = flowLabels(e.key());
                e.exportCache = labels;
            }
            bytes.dataPoint(CounterDataPointSnapshot.builder().labels(labels).value(e.bytes()).build());
            packets.dataPoint(CounterDataPointSnapshot.builder().labels(labels).value(e.packets()).build());
        }

        CounterSnapshot.Builder overflowPackets = CounterSnapshot.builder().name(SELF + "flow_map_overflow_packets")
                .help("Packets counted in src_ip=\"other\" because the kernel flows map was full");
        CounterSnapshot.Builder overflowBytes = CounterSnapshot.builder().name(SELF + "flow_map_overflow_bytes").unit(Unit.BYTES)
                .help("Bytes counted in src_ip=\"other\" because the kernel flows map was full");
        CounterSnapshot.Builder skippedPackets = CounterSnapshot.builder().name(SELF + "skipped_packets")
                .help("Packets not attributed to an IP pair: reason=non_ip (ARP, LLDP, ...) or malformed (truncated or invalid IP header); always passed on unchanged");
        CounterSnapshot.Builder skippedBytes = CounterSnapshot.builder().name(SELF + "skipped_bytes").unit(Unit.BYTES)
                .help("Bytes of the packets in ebpf_traffic_exporter_skipped_packets_total");
        for (FlowTable.Entry<StatKey> e : stats.entries()) {
            StatKey k = e.key();
            String iface = ifaceName.apply(k.ifindex());
            String dir = k.direction().label();
            if (k.stat().isOverflow()) {
                Labels other = Labels.of("direction", dir, "dst_ip", OTHER, "iface", iface,
                        "ip_type", k.stat().ipType(), "src_ip", OTHER);
                bytes.dataPoint(CounterDataPointSnapshot.builder().labels(other).value(e.bytes()).build());
                packets.dataPoint(CounterDataPointSnapshot.builder().labels(other).value(e.packets()).build());
                Labels self = Labels.of("direction", dir, "iface", iface, "ip_type", k.stat().ipType());
                overflowPackets.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(e.packets()).build());
                overflowBytes.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(e.bytes()).build());
            } else {
                Labels self = Labels.of("direction", dir, "iface", iface,
                        "reason", k.stat() == KernelStat.NON_IP ? "non_ip" : "malformed");
                skippedPackets.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(e.packets()).build());
                skippedBytes.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(e.bytes()).build());
            }
        }

        List<io.prometheus.metrics.model.snapshots.MetricSnapshot> out = new ArrayList<>();
        out.add(bytes.build());
        out.add(packets.build());
        out.add(overflowPackets.build());
        out.add(overflowBytes.build());
        out.add(skippedPackets.build());
        out.add(skippedBytes.build());
        out.add(gauge(SELF + "build_info", "Build information of the exporter; always 1",
                Labels.of("version", buildInfo.version(), "java_version", buildInfo.javaVersion()), 1));
        out.add(gauge(SELF + "flow_map_entries", "Entries in the kernel flows map at the last scrape",
                Labels.EMPTY, flows.lastReadCount()));
        out.add(gauge(SELF + "flow_map_capacity", "max_entries of the kernel flows map", Labels.EMPTY, reader.flowCapacity()));
        out.add(gauge(SELF + "flow_series", "IP-pair series tracked in userspace", Labels.EMPTY, flows.size()));
        GaugeSnapshot.Builder attached = GaugeSnapshot.builder().name(SELF + "attached")
                .help("1 for each TC hook the program is attached to; mode is tcx or legacy (clsact)");
        for (TcAttachment.Hook h : hooks.get()) {
            attached.dataPoint(GaugeDataPointSnapshot.builder()
                    .labels(Labels.of("hook", h.hook(), "iface", h.iface(), "mode", h.mode())).value(1).build());
        }
        out.add(attached.build());
        out.add(CounterSnapshot.builder().name(SELF + "map_read_errors")
                .help("Scrapes in which reading the kernel maps failed (the last totals were served)")
                .dataPoint(CounterDataPointSnapshot.builder().value(readErrors).build()).build());
        out.add(gauge(SELF + "scrape_duration_seconds", "Time this scrape spent reading the maps and building the snapshots",
                Labels.EMPTY, (System.nanoTime() - start) / 1e9));
        return new MetricSnapshots(out);
    }

    private Labels flowLabels(FlowKey k) {
        return Labels.of(
                "direction", k.direction().label(),
                "dst_ip", k.dst().toString(),
                "iface", ifaceName.apply(k.ifindex()),
                "ip_type", IpClass.of(k.dst()),
                "src_ip", k.src().toString());
    }

    private static GaugeSnapshot gauge(String name, String help, Labels labels, double value) {
        return GaugeSnapshot.builder().name(name).help(help)
                .dataPoint(GaugeDataPointSnapshot.builder().labels(labels).value(value).build()).build();
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of(BYTES, PACKETS,
                SELF + "flow_map_overflow_packets", SELF + "flow_map_overflow_bytes",
                SELF + "skipped_packets", SELF + "skipped_bytes", SELF + "build_info",
                SELF + "flow_map_entries", SELF + "flow_map_capacity", SELF + "flow_series", SELF + "attached",
                SELF + "map_read_errors", SELF + "scrape_duration_seconds");
    }
}
