package dev.ebpftraffic.kubernetes;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.flow.Peer;
import dev.ebpftraffic.flow.SeriesKey;

/**
 * Adds the Kubernetes names of both addresses to what another labeler (plain or CIDR groups) says.
 * In aggregate mode an address that the cluster names (pod, service, node) loses its IP label
 * (src_ip="" or dst_ip=""), so all pods of a workload share one series: workload-to-workload
 * series whose number does not change with rollouts. Addresses outside the cluster keep their IP.
 */
public final class ClusterLabeler implements Labeler {
    private final Labeler base;
    private final ClusterNames names;
    private final boolean aggregate;

    public ClusterLabeler(Labeler base, ClusterNames names, boolean aggregate) {
        this.base = base;
        this.names = names;
        this.aggregate = aggregate;
    }

    @Override
    public SeriesKey seriesKey(FlowKey k, String iface) {
        SeriesKey b = base.seriesKey(k, iface);
        Peer src = names.peer(k.src());
        Peer dst = names.peer(k.dst());
        return new SeriesKey(b.iface(), b.direction(), aggregate && src.inCluster() ? "" : b.src(),
                aggregate && dst.inCluster() ? "" : b.dst(), b.ipType(), src, dst);
    }

    @Override
    public long version() {
        return names.version();
    }
}
