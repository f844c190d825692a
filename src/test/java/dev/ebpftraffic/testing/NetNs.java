package dev.ebpftraffic.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Two fresh network namespaces, a (client) and b (host), joined by a veth pair ifA <-> ifB.
 * Names carry a random suffix. IPv6 is made quiet (no link-local address, no RA/RS, no DAD) and
 * every address pair added with {@link #addPair} gets permanent neighbour entries on both
 * sides, so ARP and NDP add nothing to the measured pairs. The only frames the stack still
 * sends on its own are MLD reports (src ::, dst ff02::16) after addresses are added.
 *
 * <p>close() stops whatever was registered (exporters, processes), kills any process still in
 * the namespaces, and deletes the namespaces (which removes the veth), even after failures.
 */
public final class NetNs implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Still open; removed by a shutdown hook if the test JVM is stopped (e.g. a surefire timeout). */
    private static final java.util.Set<NetNs> OPEN = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(NetNs::closeForShutdown), "netns-cleanup"));
    }

    public final String a;
    public final String b;
    public final String ifA;
    public final String ifB;
    public final String macA;
    public final String macB;
    private final List<String> created = new ArrayList<>();
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();
    private final Map<InetAddress, InetAddress> pairs = new LinkedHashMap<>();
    private boolean closed;

    private NetNs() {
        byte[] r = new byte[3];
        RANDOM.nextBytes(r);
        String hex = HexFormat.of().formatHex(r);
        a = "e2e-a-" + hex;
        b = "e2e-b-" + hex;
        ifA = "e2a" + hex;      // 9 characters, well under IFNAMSIZ
        ifB = "e2b" + hex;
        String mac = String.format("02:%02x:%02x:%02x:00:", r[0], r[1], r[2]);
        macA = mac + "0a";
        macB = mac + "0b";
    }

    /** Creates namespaces a and b, the veth pair between them, lo and both ends up. */
    public static NetNs pair() {
        KernelTestCondition.check();
        NetNs n = new NetNs();
        OPEN.add(n);
        try {
            n.setUp();
            return n;
        } catch (RuntimeException | Error e) {
            n.closeQuietly(e);
            throw e;
        }
    }

    private void setUp() {
        for (String ns : List.of(a, b)) {
            Cmd.run("ip", "netns", "add", ns).ok();
            created.add(ns);
            // Before the veth exists, so that it inherits them: no link-local address (addr_gen_mode 1),
            // hence no router solicitation and no link-local MLD source; no RA, no DAD.
            sysctls(ns, Map.of(
                    "net/ipv6/conf/all/accept_ra", "0",
                    "net/ipv6/conf/default/accept_ra", "0",
                    "net/ipv6/conf/all/router_solicitations", "0",
                    "net/ipv6/conf/default/router_solicitations", "0",
                    "net/ipv6/conf/all/accept_dad", "0",
                    "net/ipv6/conf/default/accept_dad", "0",
                    "net/ipv6/conf/default/dad_transmits", "0",
                    "net/ipv6/conf/default/addr_gen_mode", "1"));
        }
        // Created directly inside the namespaces: the veth never exists in the root namespace.
        Cmd.run("ip", "link", "add", ifA, "address", macA, "netns", a, "type", "veth",
                "peer", "name", ifB, "address", macB, "netns", b).ok();
        for (String[] e : List.of(new String[] {a, ifA}, new String[] {b, ifB})) {
            String ns = e[0];
            String dev = e[1];
            sysctls(ns, Map.of(
                    "net/ipv6/conf/" + dev + "/accept_ra", "0",
                    "net/ipv6/conf/" + dev + "/router_solicitations", "0",
                    "net/ipv6/conf/" + dev + "/accept_dad", "0",
                    "net/ipv6/conf/" + dev + "/addr_gen_mode", "1"));
            Cmd.run("ip", "-n", ns, "link", "set", "lo", "up").ok();
            Cmd.run("ip", "-n", ns, "link", "set", dev, "up").ok();
        }
    }

    /** Writes sysctls (paths under /proc/sys) inside namespace ns. */
    public static void sysctls(String ns, Map<String, String> values) {
        Setns.run(ns, () -> {
            for (Map.Entry<String, String> e : values.entrySet()) {
                Path p = Path.of("/proc/sys", e.getKey());
                try {
                    Files.writeString(p, e.getValue());
                } catch (IOException ex) {
                    throw new IOException("cannot set " + p + "=" + e.getValue() + " in netns " + ns + ": " + ex, ex);
                }
            }
        });
    }

    /**
     * Adds addrA/prefix on ifA and addrB/prefix on ifB (IPv6 with nodad) and pins both neighbours
     * (nud permanent), so no ARP/NDP ever runs between them.
     */
    public void addPair(String addrA, String addrB, int prefix) {
        InetAddress ia = parse(addrA);
        InetAddress ib = parse(addrB);
        addAddress(a, ifA, addrA, prefix);
        addAddress(b, ifB, addrB, prefix);
        Cmd.run("ip", "-n", a, "neigh", "replace", addrB, "lladdr", macB, "dev", ifA, "nud", "permanent").ok();
        Cmd.run("ip", "-n", b, "neigh", "replace", addrA, "lladdr", macA, "dev", ifB, "nud", "permanent").ok();
        pairs.put(ia, ib);
    }

    private static void addAddress(String ns, String dev, String addr, int prefix) {
        if (addr.indexOf(':') >= 0) {
            Cmd.run("ip", "-n", ns, "-6", "addr", "add", addr + "/" + prefix, "dev", dev, "nodad").ok();
        } else {
            Cmd.run("ip", "-n", ns, "addr", "add", addr + "/" + prefix, "dev", dev).ok();
        }
    }

    /** Every address added with addPair, a side to b side. */
    public Map<InetAddress, InetAddress> pairs() {
        return Map.copyOf(pairs);
    }

    public static InetAddress parse(String literal) {
        try {
            return InetAddress.getByName(literal); // literals only: no lookup happens
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    /** Runs a command inside namespace ns. */
    public Cmd.Result exec(String ns, String... command) {
        return Cmd.run(in(ns, command));
    }

    /**
     * {@code ip netns exec ns command...} as a list, for a command the test starts itself and lets
     * run in the background (a load generator, a Prometheus server).
     */
    public static List<String> in(String ns, String... command) {
        List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        c.addAll(List.of(command));
        return c;
    }

    /** Registers something (an exporter, a process, a BPF link) to close before the namespaces go. */
    public <T extends AutoCloseable> T own(T resource) {
        owned.push(resource);
        return resource;
    }

    @Override
    public void close() {
        closeQuietly(null);
    }

    private void closeForShutdown() {
        try {
            close();
        } catch (RuntimeException | Error e) {
            System.err.println("netns cleanup at exit: " + e);
        }
    }

    private synchronized void closeQuietly(Throwable primary) {
        if (closed) {
            return;
        }
        closed = true;
        OPEN.remove(this);
        List<Throwable> errors = new ArrayList<>();
        closeOwned(owned, errors);
        removeNamespaces(created, errors);
        created.clear();
        if (errors.isEmpty()) {
            return;
        }
        if (primary != null) {
            errors.forEach(primary::addSuppressed);
            return;
        }
        AssertionError err = new AssertionError("cleaning up netns " + a + "/" + b + " failed: " + errors.getFirst(),
                errors.getFirst());
        errors.stream().skip(1).forEach(err::addSuppressed);
        throw err;
    }

    /** Closes what a test handed over with own(), newest first; failures go to errors. Lab uses it too. */
    static void closeOwned(Deque<AutoCloseable> owned, List<Throwable> errors) {
        while (!owned.isEmpty()) {
            try {
                owned.pop().close();
            } catch (Exception | Error e) {
                errors.add(e);
            }
        }
    }

    /**
     * Kills every process still in the namespaces (they would keep them, and their links, alive)
     * and deletes them; failures go to errors, and the rest is still cleaned. Lab uses it too.
     */
    static void removeNamespaces(java.util.Collection<String> namespaces, List<Throwable> errors) {
        long self = ProcessHandle.current().pid();
        for (String ns : namespaces) {
            try {
                Cmd.Result pids = Cmd.run("ip", "netns", "pids", ns);
                for (String line : pids.stdout().split("\\s+")) {
                    if (!line.isBlank() && Long.parseLong(line.trim()) != self) {
                        ProcessHandle.of(Long.parseLong(line.trim())).ifPresent(ProcessHandle::destroyForcibly);
                    }
                }
            } catch (RuntimeException | Error e) {
                errors.add(e);
            }
        }
        for (String ns : namespaces) {
            try {
                Cmd.run("ip", "netns", "del", ns).ok();
            } catch (RuntimeException | Error e) {
                errors.add(e);
            }
        }
    }
}
