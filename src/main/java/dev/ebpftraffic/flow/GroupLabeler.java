package dev.ebpftraffic.flow;

import java.util.List;

/**
 * Labels addresses by configured CIDR groups. The most specific matching CIDR wins (the first
 * group in the file on a tie). An address in no group keeps its own label.
 */
public final class GroupLabeler implements Labeler {
    public enum Aggregate { GROUP, PREFIX }

    /**
     * @param ipv4Prefix for PREFIX: addresses are shown as their /ipv4Prefix network
     * @param ipv6Prefix likewise for IPv6
     * @param isPrivate  whether addresses in the group count as private for ip_type
     */
    public record Group(String name, List<Cidr> cidrs, Aggregate aggregate, int ipv4Prefix, int ipv6Prefix,
                        boolean isPrivate) {
    }

    private record Match(Group group, Cidr cidr) {
    }

    private final List<Group> groups;

    public GroupLabeler(List<Group> groups) {
        this.groups = List.copyOf(groups);
    }

    private Match match(IpAddress a) {
        Match best = null;
        for (Group g : groups) {
            for (Cidr c : g.cidrs()) {
                if (c.contains(a) && (best == null || c.bits() > best.cidr().bits())) {
                    best = new Match(g, c);
                }
            }
        }
        return best;
    }

    /** The label value of an address: itself, its group's name, or its aggregation prefix. */
    public String label(IpAddress a) {
        return label(a, match(a));
    }

    private static String label(IpAddress a, Match m) {
        if (m == null) {
            return a.toString();
        }
        Group g = m.group();
        if (g.aggregate() == Aggregate.GROUP) {
            return g.name();
        }
        boolean v4 = a.isIpv4();
        int bits = v4 ? 96 + g.ipv4Prefix() : g.ipv6Prefix();
        return new Cidr(a, bits).toString();
    }

    public String ipType(IpAddress dst) {
        Match m = match(dst);
        return ipType(dst, m);
    }

    private static String ipType(IpAddress dst, Match m) {
        return m != null && m.group().isPrivate() ? IpClass.PRIVATE : IpClass.of(dst);
    }

    @Override
    public SeriesKey seriesKey(FlowKey k, String iface) {
        IpAddress src = k.src();
        IpAddress dst = k.dst();
        Match ms = match(src);
        Match md = match(dst);
        return new SeriesKey(iface, k.direction(), label(src, ms), label(dst, md), ipType(dst, md));
    }
}
