package dev.ebpftraffic.flow;

/** The src_ip="other",dst_ip="other" series: one per interface (by name), direction and ip_type. */
public record OtherKey(String iface, Direction direction, String ipType) {
    public static OtherKey of(SeriesKey k) {
        return new OtherKey(k.iface(), k.direction(), k.ipType());
    }
}
