package dev.ebpftraffic.metrics;

import dev.ebpftraffic.iface.AttachManager;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * ebpf_traffic_exporter_attach_failures_total{reason}: interfaces that matched --iface but could
 * not be attached. Every reason is exported from the start, at 0.
 * ebpf_traffic_exporter_reattachments_total{iface}: times an interface's hooks were taken away
 * from under the exporter and attached again; 0 from the interface's first attachment on.
 * (The attached hooks themselves are ebpf_traffic_exporter_attached, in TrafficCollector.)
 */
public final class AttachCollector implements MultiCollector {
    public static final String FAILURES = SelfMetrics.SELF + "attach_failures";
    public static final String REATTACHMENTS = SelfMetrics.SELF + "reattachments";

    private final Supplier<Map<String, Long>> failures;
    private final Supplier<Map<String, Long>> reattachments;

    public AttachCollector(Supplier<Map<String, Long>> failures) {
        this(failures, Map::of);
    }

    /** @param reattachments interface name -> times its hooks were attached again */
    public AttachCollector(Supplier<Map<String, Long>> failures, Supplier<Map<String, Long>> reattachments) {
        this.failures = failures;
        this.reattachments = reattachments;
    }

    /** Every reason at 0. */
    public static Map<String, Long> zero() {
        Map<String, Long> m = new LinkedHashMap<>();
        AttachManager.REASONS.forEach(r -> m.put(r, 0L));
        return m;
    }

    @Override
    public MetricSnapshots collect() {
        CounterSnapshot.Builder b = CounterSnapshot.builder().name(FAILURES)
                .help("Interfaces matching --iface that could not be attached, by reason: gone (vanished first), "
                        + "permission_denied, unsupported_link_type (neither Ethernet nor IP at the TC hook), error");
        failures.get().forEach((reason, n) -> b.dataPoint(CounterDataPointSnapshot.builder()
                .labels(Labels.of("reason", reason)).value(n).build()));
        CounterSnapshot.Builder r = CounterSnapshot.builder().name(REATTACHMENTS)
                .help("Times the hooks of an interface were found gone (a TCX link detached, a legacy filter or "
                        + "the clsact qdisc deleted or replaced) and attached again");
        reattachments.get().forEach((iface, n) -> r.dataPoint(CounterDataPointSnapshot.builder()
                .labels(Labels.of("iface", iface)).value(n).build()));
        return new MetricSnapshots(b.build(), r.build());
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of(FAILURES, REATTACHMENTS);
    }
}
