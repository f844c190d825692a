package dev.ebpftraffic.metrics;

import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;

class AttachCollectorTest {
    private static Map<String, Double> values(MetricSnapshots all, String name, String label) {
        Map<String, Double> out = new TreeMap<>();
        for (MetricSnapshot s : all) {
            if (s.getMetadata().getName().equals(name)) {
                for (CounterSnapshot.CounterDataPointSnapshot d : ((CounterSnapshot) s).getDataPoints()) {
                    out.put(d.getLabels().get(label), d.getValue());
                }
            }
        }
        return out;
    }

    @Test
    void exportsFailuresByReasonAndReattachmentsByInterface() {
        Map<String, Long> re = new LinkedHashMap<>();
        re.put("eth0", 0L);
        re.put("wg0", 3L);
        Map<String, Long> failures = AttachCollector.zero();
        failures.put("gone", 2L);
        MetricSnapshots s = new AttachCollector(() -> failures, () -> re).collect();
        assertEquals(Map.of("eth0", 0.0, "wg0", 3.0), values(s, "ebpf_traffic_exporter_reattachments", "iface"));
        assertEquals(Map.of("gone", 2.0, "permission_denied", 0.0, "unsupported_link_type", 0.0, "error", 0.0),
                values(s, "ebpf_traffic_exporter_attach_failures", "reason"));
        assertEquals(Map.of(), values(new AttachCollector(AttachCollector::zero).collect(),
                "ebpf_traffic_exporter_reattachments", "iface"));
    }
}
