package dev.ebpftraffic.flow;

/** The src_ip="other",dst_ip="other" series: one per interface, direction and ip_type. */
public record OtherKey(int ifindex, Direction direction, String ipType) {
    public static OtherKey of(SeriesKey k) {
        return new OtherKey(k.ifindex(), k.direction(), k.ipType());
    }
}
