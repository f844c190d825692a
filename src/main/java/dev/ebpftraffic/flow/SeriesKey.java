package dev.ebpftraffic.flow;

/**
 * One exported IP-pair series: what the labels say. Several kernel keys map to one series when
 * CIDR groups or prefix aggregation are configured, and when an interface is deleted and
 * recreated under the same name (a new ifindex): the series is identified by the interface's
 * name, so its counters continue. srcPeer and dstPeer are the Kubernetes names of the two
 * addresses (--kubernetes), null without it.
 */
public record SeriesKey(String iface, Direction direction, String src, String dst, String ipType, Peer srcPeer,
                        Peer dstPeer) {
    public SeriesKey(String iface, Direction direction, String src, String dst, String ipType) {
        this(iface, direction, src, dst, ipType, null, null);
    }
}
