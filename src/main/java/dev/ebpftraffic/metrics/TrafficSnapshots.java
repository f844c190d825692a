package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;
import dev.ebpftraffic.workload.WorkloadAggregator;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.Unit;

import java.util.List;

import static dev.ebpftraffic.metrics.TrafficCollector.BYTES;
import static dev.ebpftraffic.metrics.TrafficCollector.BYTES_HELP;
import static dev.ebpftraffic.metrics.TrafficCollector.OTHER;
import static dev.ebpftraffic.metrics.TrafficCollector.PACKETS;
import static dev.ebpftraffic.metrics.TrafficCollector.PACKETS_HELP;
import static dev.ebpftraffic.metrics.TrafficCollector.WORKLOAD_BYTES;
import static dev.ebpftraffic.metrics.TrafficCollector.WORKLOAD_BYTES_HELP;
import static dev.ebpftraffic.metrics.TrafficCollector.WORKLOAD_PACKETS;
import static dev.ebpftraffic.metrics.TrafficCollector.WORKLOAD_PACKETS_HELP;

/**
 * The traffic and workload families as client-library snapshots (any format the client
 * negotiates). The caller holds the collector's lock.
 */
final class TrafficSnapshots {
    private TrafficSnapshots() {
    }

    /** network_traffic_{bytes,packets}, "other" included, as this scrape exports them. */
    static void traffic(FlowAggregator flows, List<MetricSnapshot> out) {
        CounterSnapshot.Builder bytes = CounterSnapshot.builder().name(BYTES).unit(Unit.BYTES).help(BYTES_HELP);
        CounterSnapshot.Builder packets = CounterSnapshot.builder().name(PACKETS).help(PACKETS_HELP);
        flows.scrape(new FlowAggregator.ScrapeVisitor() {
            @Override
            public void series(SeriesKey key, FlowAggregator.Series s, long p, long b) {
                // The streaming writer is the hot path; here labels are built per scrape.
                Labels l = labels(key.direction().label(), key.dst(), key.iface(), key.ipType(), key.src());
                if (key.srcPeer() != null) {
                    l = l.merge(Labels.of("dst_kind", key.dstPeer().kind(), "dst_namespace", key.dstPeer().namespace(),
                            "dst_workload", key.dstPeer().workload(), "src_kind", key.srcPeer().kind(),
                            "src_namespace", key.srcPeer().namespace(), "src_workload", key.srcPeer().workload()));
                }
                point(l, p, b);
            }

            @Override
            public void other(OtherKey k, long p, long b) {
                point(labels(k.direction().label(), OTHER, k.iface(), k.ipType(), OTHER), p, b);
            }

            private void point(Labels l, long p, long b) {
                bytes.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(b).build());
                packets.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(p).build());
            }
        });
        out.add(bytes.build());
        out.add(packets.build());
    }

    /** network_workload_traffic_{bytes,packets}. */
    static void workloads(WorkloadAggregator workloads, List<MetricSnapshot> out) {
        CounterSnapshot.Builder bytes = CounterSnapshot.builder().name(WORKLOAD_BYTES).unit(Unit.BYTES).help(WORKLOAD_BYTES_HELP);
        CounterSnapshot.Builder packets = CounterSnapshot.builder().name(WORKLOAD_PACKETS).help(WORKLOAD_PACKETS_HELP);
        workloads.scrape((k, p, b) -> {
            Labels l = Labels.of("direction", k.direction().label(), "ip_type", k.ipType(), "kind", k.kind(),
                    "workload", k.workload());
            bytes.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(b).build());
            packets.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(p).build());
        });
        out.add(bytes.build());
        out.add(packets.build());
    }

    private static Labels labels(String direction, String dst, String iface, String ipType, String src) {
        return Labels.of("direction", direction, "dst_ip", dst, "iface", iface, "ip_type", ipType, "src_ip", src);
    }
}
