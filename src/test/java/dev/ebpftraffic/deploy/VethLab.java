package dev.ebpftraffic.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Two network namespaces joined by a veth pair, made for one test and removed by close():
 * "exp" (the exporter's side, 10.77.0.1/24 and fd00:77::1/64 on ifExp) and "peer" (10.77.0.2,
 * fd00:77::2 on ifPeer). Neighbour entries are pinned both ways, so no ARP or NDP crosses the link
 * and the only IP traffic is what the test sends. Loopback is up in both.
 */
public final class VethLab implements AutoCloseable {
    public static final String EXP_V4 = "10.77.0.1";
    public static final String PEER_V4 = "10.77.0.2";
    public static final String EXP_V6 = "fd00:77::1";
    public static final String PEER_V6 = "fd00:77::2";
    public static final String EXP_MAC = "02:77:00:00:00:01";
    public static final String PEER_MAC = "02:77:00:00:00:02";

    public final String exp;
    public final String peer;
    public final String ifExp;
    public final String ifPeer;
    private final List<String> created = new ArrayList<>();

    public VethLab(String tag) {
        this(tag, true);
    }

    /** With ipv6 false, IPv6 is off on the veth: not a single IPv6 packet (MLD, NDP) crosses it. */
    public VethLab(String tag, boolean ipv6) {
        String id = tag + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xFFFFFF));
        exp = id + "-exp";
        peer = id + "-peer";
        ifExp = "ve" + id.substring(Math.max(0, id.length() - 10)) + "a"; // <= 15 chars
        ifPeer = "ve" + id.substring(Math.max(0, id.length() - 10)) + "b";
        try {
            Cmd.require("ip", "iproute2");
            for (String ns : new String[]{exp, peer}) {
                Cmd.ok("ip", "netns", "add", ns);
                created.add(ns);
                Cmd.ok("ip", "-n", ns, "link", "set", "lo", "up");
            }
            Cmd.ok("ip", "link", "add", ifExp, "netns", exp, "address", EXP_MAC, "type", "veth",
                    "peer", "name", ifPeer, "netns", peer, "address", PEER_MAC);
            setUp(exp, ifExp, EXP_V4, EXP_V6, PEER_V4, PEER_V6, PEER_MAC, ipv6);
            setUp(peer, ifPeer, PEER_V4, PEER_V6, EXP_V4, EXP_V6, EXP_MAC, ipv6);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private static void setUp(String ns, String dev, String v4, String v6, String otherV4, String otherV6, String otherMac,
                              boolean ipv6) {
        if (ipv6) {
            // No DAD (the address is usable at once) and no router solicitations on the link.
            Cmd.ok("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf." + dev + ".accept_dad=0",
                    "net.ipv6.conf." + dev + ".router_solicitations=0", "net.ipv6.conf.all.forwarding=0");
        } else {
            Cmd.ok("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf." + dev + ".disable_ipv6=1");
        }
        Cmd.ok("ip", "-n", ns, "addr", "add", v4 + "/24", "dev", dev);
        if (ipv6) {
            Cmd.ok("ip", "-n", ns, "addr", "add", v6 + "/64", "dev", dev, "nodad");
        }
        Cmd.ok("ip", "-n", ns, "link", "set", dev, "up");
        Cmd.ok("ip", "-n", ns, "neigh", "replace", otherV4, "lladdr", otherMac, "dev", dev, "nud", "permanent");
        if (ipv6) {
            Cmd.ok("ip", "-n", ns, "neigh", "replace", otherV6, "lladdr", otherMac, "dev", dev, "nud", "permanent");
        }
    }

    /** ip netns exec NS cmd... */
    public static List<String> in(String ns, String... cmd) {
        List<String> out = Cmd.list("ip", "netns", "exec", ns);
        out.addAll(List.of(cmd));
        return out;
    }

    public Cmd.Result run(String ns, String... cmd) {
        return Cmd.run(null, in(ns, cmd));
    }

    /** Deletes both namespaces (and with them the veth pair and anything attached to it). */
    @Override
    public void close() {
        for (String ns : created) {
            Cmd.run("ip", "netns", "del", ns);
        }
        created.clear();
    }
}
