package dev.ebpftraffic.kubernetes;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.util.Map;
import java.util.function.LongSupplier;

/** The --kubernetes self-metrics: whether the names are complete, watch errors, objects held. */
public final class ClusterCollector implements MultiCollector {
    private final ClusterNames names;
    private final LongSupplier errors;
    private final java.util.function.Supplier<Map<ClusterNames.Kind, Boolean>> watching;

    public ClusterCollector(ClusterNames names, LongSupplier errors,
                            java.util.function.Supplier<Map<ClusterNames.Kind, Boolean>> watching) {
        this.names = names;
        this.errors = errors;
        this.watching = watching;
    }

    @Override
    public MetricSnapshots collect() {
        GaugeSnapshot.Builder objects = GaugeSnapshot.builder().name("ebpf_traffic_exporter_kubernetes_objects")
                .help("Kubernetes objects held in the names cache, by kind");
        for (Map.Entry<ClusterNames.Kind, Integer> e : names.sizes().entrySet()) {
            objects.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                    .labels(Labels.of("kind", e.getKey().label())).value(e.getValue()).build());
        }
        GaugeSnapshot.Builder open = GaugeSnapshot.builder().name("ebpf_traffic_exporter_kubernetes_watching")
                .help("1 while the informer's watch of this kind is open, 0 while it reconnects");
        for (Map.Entry<ClusterNames.Kind, Boolean> e : watching.get().entrySet()) {
            open.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                    .labels(Labels.of("kind", e.getKey().label())).value(e.getValue() ? 1 : 0).build());
        }
        return MetricSnapshots.of(open.build(),
                GaugeSnapshot.builder().name("ebpf_traffic_exporter_kubernetes_cache_synced")
                        .help("1 once every informer (pods, services, nodes, replica sets, jobs) has listed once; "
                                + "until then addresses have kind=\"unknown\"")
                        .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(names.synced() ? 1 : 0).build())
                        .build(),
                CounterSnapshot.builder().name("ebpf_traffic_exporter_kubernetes_watch_errors")
                        .help("failed lists of the Kubernetes API (each is retried)")
                        .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(errors.getAsLong()).build())
                        .build(),
                objects.build());
    }
}
