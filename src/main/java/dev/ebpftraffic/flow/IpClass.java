package dev.ebpftraffic.flow;

/**
 * The ip_type label: "private" or "public". It classifies dst_ip, as the original exporter does.
 * Private: 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), 127/8, 169.254/16,
 * fc00::/7, fe80::/10 and ::1, and, like link-local, traffic that stays on the local network or
 * is never billed as internet traffic: multicast (224.0.0.0/4, ff00::/8) and the limited
 * broadcast 255.255.255.255. Everything else is public (the documentation ranges too).
 * The kernel's overflow path (is_private in bpf/traffic.bpf.c) uses the same ranges.
 */
public final class IpClass {
    public static final String PRIVATE = "private";
    public static final String PUBLIC = "public";

    private IpClass() {
    }

    public static boolean isPrivate(IpAddress a) {
        if (a.isIpv4()) {
            int v = a.ipv4();
            int b0 = (v >>> 24) & 0xff;
            int b1 = (v >>> 16) & 0xff;
            return b0 == 10 || b0 == 127
                    || (b0 == 172 && (b1 & 0xf0) == 16)
                    || (b0 == 192 && b1 == 168)
                    || (b0 == 100 && (b1 & 0xc0) == 64)
                    || (b0 == 169 && b1 == 254)
                    || (b0 & 0xf0) == 224   // multicast 224.0.0.0/4
                    || v == 0xffffffff;      // limited broadcast
        }
        int g0 = a.group(0);
        return (g0 & 0xfe00) == 0xfc00          // fc00::/7 unique local
                || (g0 & 0xffc0) == 0xfe80      // fe80::/10 link local
                || (g0 & 0xff00) == 0xff00      // ff00::/8 multicast
                || (a.hi() == 0 && a.lo() == 1); // ::1
    }

    public static String of(IpAddress a) {
        return isPrivate(a) ? PRIVATE : PUBLIC;
    }
}
