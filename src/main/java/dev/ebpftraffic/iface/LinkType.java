package dev.ebpftraffic.iface;

/**
 * Which program pair suits a device type (ARPHRD_* from linux/if_arp.h): the Ethernet one, or
 * the L3 one for devices whose packets carry no link-layer header at the TC hook.
 */
public final class LinkType {
    public static final int ARPHRD_ETHER = 1;
    public static final int ARPHRD_PPP = 512;
    public static final int ARPHRD_RAWIP = 519;
    public static final int ARPHRD_TUNNEL = 768;   // ipip
    public static final int ARPHRD_TUNNEL6 = 769;  // ip6tnl
    public static final int ARPHRD_LOOPBACK = 772;
    public static final int ARPHRD_SIT = 776;
    public static final int ARPHRD_IPGRE = 778;
    public static final int ARPHRD_IP6GRE = 823;
    public static final int ARPHRD_NONE = 0xFFFE;  // tun (IFF_TUN), WireGuard

    /** What the exporter does with a device type. */
    public enum Kind {
        /** Ethernet header (and VLAN tags) first: tc_ingress / tc_egress. */
        ETHERNET,
        /** IP header first, skb->protocol names it: tc_ingress_l3 / tc_egress_l3. */
        L3,
        /** Not attached (CAN, InfiniBand, IEEE 802.15.4, ...): counted as an attach failure. */
        UNSUPPORTED
    }

    private LinkType() {
    }

    public static Kind kind(int arphrd) {
        return switch (arphrd) {
            // Loopback frames carry an Ethernet header (zero MACs). Ethernet covers veth, bridge,
            // bond, macvlan, vxlan, gretap, VLAN subinterfaces, tap, ifb.
            case ARPHRD_ETHER, ARPHRD_LOOPBACK -> Kind.ETHERNET;
            case ARPHRD_NONE, ARPHRD_TUNNEL, ARPHRD_TUNNEL6, ARPHRD_SIT, ARPHRD_IPGRE, ARPHRD_IP6GRE,
                 ARPHRD_PPP, ARPHRD_RAWIP -> Kind.L3;
            default -> Kind.UNSUPPORTED;
        };
    }

    /** A short name for logs: "ether", "none", "ipip", ... */
    public static String name(int arphrd) {
        return switch (arphrd) {
            case ARPHRD_ETHER -> "ether";
            case ARPHRD_PPP -> "ppp";
            case ARPHRD_RAWIP -> "rawip";
            case ARPHRD_TUNNEL -> "ipip";
            case ARPHRD_TUNNEL6 -> "tunnel6";
            case ARPHRD_LOOPBACK -> "loopback";
            case ARPHRD_SIT -> "sit";
            case ARPHRD_IPGRE -> "gre";
            case ARPHRD_IP6GRE -> "ip6gre";
            case ARPHRD_NONE -> "none";
            default -> "type " + arphrd;
        };
    }
}
