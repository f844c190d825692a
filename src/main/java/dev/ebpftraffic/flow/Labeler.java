package dev.ebpftraffic.flow;

/** Maps a kernel key to the series it is exported in (address labels, ip_type). */
public interface Labeler {
    SeriesKey seriesKey(FlowKey key);

    /** One series per address pair, ip_type from dst_ip with the built-in private ranges. */
    static Labeler plain() {
        return k -> new SeriesKey(k.ifindex(), k.direction(), k.src().toString(), k.dst().toString(), IpClass.of(k.dst()));
    }
}
