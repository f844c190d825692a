package dev.ebpftraffic.flow;

/**
 * One exported IP-pair series: what the labels say. Several kernel keys map to one series when
 * CIDR groups or prefix aggregation are configured.
 */
public record SeriesKey(int ifindex, Direction direction, String src, String dst, String ipType) {
}
