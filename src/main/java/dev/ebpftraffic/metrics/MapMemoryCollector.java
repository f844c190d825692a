package dev.ebpftraffic.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;

import java.util.Map;
import java.util.function.Supplier;

/**
 * ebpf_traffic_exporter_bpf_map_memory_bytes{map}: kernel memory of each BPF map, as the kernel
 * charges it (fdinfo "memlock"). The flows maps dominate; README "Kernel memory" gives the formula.
 */
public final class MapMemoryCollector implements MultiCollector {
    public static final String NAME = SelfMetrics.SELF + "bpf_map_memory_bytes";

    private final Supplier<Map<String, Long>> memory;

    /** @param memory map name -> bytes (BpfObject#mapMemory) */
    public MapMemoryCollector(Supplier<Map<String, Long>> memory) {
        this.memory = memory;
    }

    @Override
    public MetricSnapshots collect() {
        GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(NAME).unit(Unit.BYTES)
                .help("Kernel memory of each BPF map of the exporter (fdinfo memlock), in bytes");
        memory.get().forEach((map, bytes) -> b.dataPoint(GaugeDataPointSnapshot.builder()
                .labels(Labels.of("map", map)).value(bytes).build()));
        return new MetricSnapshots(b.build());
    }
}
