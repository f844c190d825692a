package dev.ebpftraffic.metrics;

import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.workload.WorkloadAggregator;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.Unit;

import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * The exporter's own families (ebpf_traffic_exporter_*), one descriptor each: name, help, type,
 * unit and how to read the points. Both the scrape and the list of names come from {@link #FAMILIES},
 * so a name is written once.
 */
final class SelfMetrics {
    static final String SELF = "ebpf_traffic_exporter_";

    private SelfMetrics() {
    }

    /** What a scrape of the self-metrics reads, taken under the collector's lock. */
    record View(Map<StatsTable.NamedStat, long[]> stats, FlowAggregator flows, FlowReader reader,
                List<TcAttachment.Hook> hooks, BuildInfo buildInfo, WorkloadAggregator workloads,
                long readErrors, double lastScrapeSeconds) {
    }

    /** Receives the points of one family. */
    interface Points {
        void point(Labels labels, double value);

        default void point(double value) {
            point(Labels.EMPTY, value);
        }
    }

    enum Type { COUNTER, GAUGE }

    /** One family. read adds its points; a family whose source is off returns false from present. */
    record Family(String name, String help, Type type, Unit unit, java.util.function.Predicate<View> present,
                  BiConsumer<View, Points> read) {
        MetricSnapshot snapshot(View v) {
            if (type == Type.COUNTER) {
                CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(help);
                if (unit != null) {
                    b.unit(unit);
                }
                read.accept(v, (labels, value) -> b.dataPoint(CounterDataPointSnapshot.builder().labels(labels).value(value).build()));
                return b.build();
            }
            GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(help);
            if (unit != null) {
                b.unit(unit);
            }
            read.accept(v, (labels, value) -> b.dataPoint(GaugeDataPointSnapshot.builder().labels(labels).value(value).build()));
            return b.build();
        }
    }

    private static Family counter(String name, String help, BiConsumer<View, Points> read) {
        return new Family(SELF + name, help, Type.COUNTER, null, v -> true, read);
    }

    private static Family gauge(String name, String help, BiConsumer<View, Points> read) {
        return new Family(SELF + name, help, Type.GAUGE, null, v -> true, read);
    }

    private static Family withUnit(Family f, Unit unit) {
        return new Family(f.name(), f.help(), f.type(), unit, f.present(), f.read());
    }

    private static Family ifWorkloads(Family f) {
        return new Family(f.name(), f.help(), f.type(), f.unit(), v -> v.workloads() != null, f.read());
    }

    /** Overflow counters by interface: index 0 packets, 1 bytes. */
    private static void overflow(View v, Points out, int index) {
        v.stats().forEach((k, t) -> {
            if (k.stat().isOverflow()) {
                out.point(Labels.of("direction", k.direction().label(), "iface", k.iface(), "ip_type", k.stat().ipType()), t[index]);
            }
        });
    }

    /** Skipped (non-IP, malformed) counters by interface: index 0 packets, 1 bytes. */
    private static void skipped(View v, Points out, int index) {
        v.stats().forEach((k, t) -> {
            if (!k.stat().isOverflow()) {
                out.point(Labels.of("direction", k.direction().label(), "iface", k.iface(),
                        "reason", k.stat() == KernelStat.NON_IP ? "non_ip" : "malformed"), t[index]);
            }
        });
    }

    // One kernel map per address family (shorter keys hash faster): each fills on its own.
    private static final Labels V4 = Labels.of("family", "ipv4");
    private static final Labels V6 = Labels.of("family", "ipv6");

    /** In the order a scrape lists them. */
    static final List<Family> FAMILIES = List.of(
            ifWorkloads(gauge("workload_unresolved_cgroups",
                    "Cgroup ids of the last read that no cgroup path resolved (their traffic is under workload=\"unresolved\")",
                    (v, out) -> out.point(v.workloads().unresolvedCgroups()))),
            ifWorkloads(counter("workload_map_overflow_packets",
                    "Packets counted in workload=\"other\" because the kernel workloads map was full",
                    (v, out) -> out.point(v.workloads().overflowTotal()[0]))),
            counter("flow_map_overflow_packets", "Packets counted in src_ip=\"other\" because the kernel flows map was full",
                    (v, out) -> overflow(v, out, 0)),
            withUnit(counter("flow_map_overflow_bytes", "Bytes counted in src_ip=\"other\" because the kernel flows map was full",
                    (v, out) -> overflow(v, out, 1)), Unit.BYTES),
            counter("skipped_packets", "Packets not attributed to an IP pair: reason=non_ip (ARP, LLDP, ...) or malformed"
                    + " (truncated or invalid IP header); always passed on unchanged", (v, out) -> skipped(v, out, 0)),
            withUnit(counter("skipped_bytes", "Bytes of the packets in ebpf_traffic_exporter_skipped_packets_total",
                    (v, out) -> skipped(v, out, 1)), Unit.BYTES),
            gauge("build_info", "Build information of the exporter; always 1",
                    (v, out) -> out.point(Labels.of("version", v.buildInfo().version(), "java_version", v.buildInfo().javaVersion()), 1)),
            gauge("flow_map_entries", "Entries in the kernel flows map of the family at the last read", (v, out) -> {
                out.point(V4, v.flows().kernelEntries(true));
                out.point(V6, v.flows().kernelEntries(false));
            }),
            gauge("flow_map_capacity", "max_entries of the kernel flows map of the family (--map-size)", (v, out) -> {
                out.point(V4, v.reader().flowCapacity());
                out.point(V6, v.reader().flowCapacity());
            }),
            counter("flow_map_drained", "Idle kernel map entries drained into userspace totals",
                    (v, out) -> out.point(v.flows().drainedTotal())),
            gauge("series_budget", "--max-series: most network_traffic_bytes_total series exported, \"other\" included (0: unlimited)",
                    (v, out) -> out.point(v.flows().settings().maxSeries())),
            gauge("series_tracked", "IP-pair series held in userspace, exported or folded into \"other\"",
                    (v, out) -> out.point(v.flows().trackedSeries())),
            gauge("series_exported", "IP-pair series exported under their own labels (\"other\" not included)",
                    (v, out) -> out.point(v.flows().exportedSeries())),
            counter("series_expired", "Series dropped after --series-ttl without traffic (what scrapes did not show yet goes to \"other\")",
                    (v, out) -> out.point(v.flows().expiredTotal())),
            counter("series_evicted", "Folded series forgotten to bound memory (their traffic went to \"other\")",
                    (v, out) -> out.point(v.flows().evictedTotal())),
            gauge("attached", "1 for each TC hook the program is attached to; mode is tcx or legacy (clsact)", (v, out) -> {
                for (TcAttachment.Hook h : v.hooks()) {
                    out.point(Labels.of("hook", h.hook(), "iface", h.iface(), "mode", h.mode()), 1);
                }
            }),
            counter("map_read_errors", "Reads of the kernel maps that failed (the last totals were served)",
                    (v, out) -> out.point(v.readErrors())),
            gauge("scrape_duration_seconds", "Time the last scrape spent reading the maps and rendering the traffic series",
                    (v, out) -> out.point(v.lastScrapeSeconds())));

    /** Every self-metric family name, as the client library names families. */
    static List<String> names() {
        return FAMILIES.stream().map(Family::name).toList();
    }

    /** Adds the snapshot of every present family whose name passes included. */
    static void collect(View v, java.util.function.Predicate<String> included, List<MetricSnapshot> out) {
        for (Family f : FAMILIES) {
            if (included.test(f.name()) && f.present().test(v)) {
                out.add(f.snapshot(v));
            }
        }
    }
}
