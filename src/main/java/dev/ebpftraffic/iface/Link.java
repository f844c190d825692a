package dev.ebpftraffic.iface;

/**
 * A network interface as rtnetlink reports it.
 *
 * @param type  the device type, ARPHRD_* (ifinfomsg.ifi_type; also /sys/class/net/NAME/type)
 * @param flags IFF_* (ifinfomsg.ifi_flags)
 */
public record Link(String name, int ifindex, int type, int flags) {
    public static final int IFF_LOOPBACK = 0x8;

    public boolean loopback() {
        return (flags & IFF_LOOPBACK) != 0 || type == LinkType.ARPHRD_LOOPBACK;
    }

    public LinkType.Kind kind() {
        return LinkType.kind(type);
    }
}
