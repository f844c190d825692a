package dev.ebpftraffic.testing;

import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Any number of fresh network namespaces for a topology test, named "lab-ROLE-SUFFIX" with a random
 * suffix. Interfaces are created inside them (never in the root namespace), so their names need no
 * suffix. IPv6 is quiet in every namespace (no link-local addresses, no RA/RS, no DAD), as in
 * {@link NetNs}. close() stops what was registered with {@link #own}, kills processes left in the
 * namespaces and deletes them, which removes every interface in them, even after a failure.
 */
public final class Lab implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<Lab> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(l -> {
            try {
                l.close();
            } catch (RuntimeException | Error e) {
                System.err.println("lab cleanup at exit: " + e);
            }
        }), "lab-cleanup"));
    }

    private final String suffix;
    private final Map<String, String> namespaces = new LinkedHashMap<>();
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();
    private boolean closed;

    private Lab() {
        byte[] r = new byte[3];
        RANDOM.nextBytes(r);
        suffix = HexFormat.of().formatHex(r);
    }

    public static Lab create() {
        KernelTestCondition.check();
        Lab l = new Lab();
        OPEN.add(l);
        return l;
    }

    /** Creates namespace "lab-ROLE-SUFFIX" (quiet IPv6, lo up) and returns its name. */
    public String ns(String role) {
        String ns = "lab-" + role + "-" + suffix;
        Cmd.run("ip", "netns", "add", ns).ok();
        namespaces.put(role, ns);
        NetNs.sysctls(ns, Map.of(
                "net/ipv6/conf/all/accept_ra", "0",
                "net/ipv6/conf/default/accept_ra", "0",
                "net/ipv6/conf/all/router_solicitations", "0",
                "net/ipv6/conf/default/router_solicitations", "0",
                "net/ipv6/conf/all/accept_dad", "0",
                "net/ipv6/conf/default/accept_dad", "0",
                "net/ipv6/conf/default/dad_transmits", "0",
                "net/ipv6/conf/default/addr_gen_mode", "1"));
        ip(ns, "link", "set", "lo", "up");
        return ns;
    }

    /** A random 4-hex-digit tag, for MAC addresses. */
    public String suffix() {
        return suffix;
    }

    /** {@code ip -n ns args...}, which must succeed. */
    public static Cmd.Result ip(String ns, String... args) {
        List<String> c = new ArrayList<>(List.of("ip", "-n", ns));
        c.addAll(List.of(args));
        return Cmd.run(c).ok();
    }

    /** {@code ip netns exec ns command...}, which must succeed. */
    public static Cmd.Result exec(String ns, String... command) {
        return Cmd.run(NetNs.in(ns, command)).ok();
    }

    /** A veth pair: a in nsA, b in nsB, with the given MACs, both up. Created directly in its namespaces. */
    public static void veth(String nsA, String a, String macA, String nsB, String b, String macB) {
        Cmd.run("ip", "link", "add", a, "address", macA, "netns", nsA, "type", "veth",
                "peer", "name", b, "address", macB, "netns", nsB).ok();
        ip(nsA, "link", "set", a, "up");
        ip(nsB, "link", "set", b, "up");
    }

    /** Adds addr/prefix to dev in ns. */
    public static void addr(String ns, String dev, String cidr) {
        if (cidr.indexOf(':') >= 0) {
            ip(ns, "-6", "addr", "add", cidr, "dev", dev, "nodad");
        } else {
            ip(ns, "addr", "add", cidr, "dev", dev);
        }
    }

    /** A permanent neighbour entry: no ARP/NDP ever runs for it. */
    public static void neigh(String ns, String dev, String addr, String mac) {
        ip(ns, "neigh", "replace", addr, "lladdr", mac, "dev", dev, "nud", "permanent");
    }

    public <T extends AutoCloseable> T own(T resource) {
        owned.push(resource);
        return resource;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        OPEN.remove(this);
        List<Throwable> errors = new ArrayList<>();
        NetNs.closeOwned(owned, errors);
        NetNs.removeNamespaces(namespaces.values(), errors);
        namespaces.clear();
        if (!errors.isEmpty()) {
            AssertionError err = new AssertionError("cleaning up the lab failed: " + errors.getFirst(), errors.getFirst());
            errors.stream().skip(1).forEach(err::addSuppressed);
            throw err;
        }
    }
}
