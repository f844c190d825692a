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
 * not be attached. Every reason is exported from the start, at 0. (The attached hooks themselves
 * are ebpf_traffic_exporter_attached, in TrafficCollector.)
 */
public final class AttachCollector implements MultiCollector {
    public static final String FAILURES = TrafficCollector.SELF + "attach_failures";

    private final Supplier<Map<String, Long>> failures;

    public AttachCollector(Supplier<Map<String, Long>> failures) {
        this.failures = failures;
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
        return new MetricSnapshots(b.build());
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of(FAILURES);
    }
}
