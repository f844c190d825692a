package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.KernelTestCondition;
import dev.ebpftraffic.testing.Lab;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.PacketSocket;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.TcHooks;
import dev.ebpftraffic.testing.Tun;
import dev.ebpftraffic.testing.Udp;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import static dev.ebpftraffic.testing.Lab.addr;
import static dev.ebpftraffic.testing.Lab.ip;
import static dev.ebpftraffic.testing.Lab.neigh;
import static dev.ebpftraffic.testing.Lab.veth;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Many interfaces, interfaces that come and go, tunnels and an L3 device, end to end: the exporter
 * runs through the launcher inside a "host" namespace of a small topology, so {@code --iface all}
 * there sees only the topology's interfaces:
 *
 * <pre>
 *   ns c1: eth0 10.0.1.11 --veth-- vc1 \
 *                                       br0 10.0.1.1   (ns host)
 *   ns c2: eth0 10.0.1.12 --veth-- vc2 /
 *   ns r:  up0 10.0.2.2   --veth-- up0 10.0.2.1        underlay
 *          vx0 10.0.4.2   ~vxlan~  vx0 10.0.4.1        VNI 42 over the underlay
 *   this JVM: tun fd      --tun--  tun0 10.0.3.1, fd00:3::1   (L3: no Ethernet header)
 * </pre>
 *
 * <p>What this kernel lacks, and what stands in for it (see /proc/config.gz): no 802.1Q VLAN devices
 * (CONFIG_VLAN_8021Q) and no bridge VLAN filtering, so there is no VLAN subinterface here (802.1Q and
 * QinQ frames are sent raw through a watched veth instead, and covered by the BPF_PROG_TEST_RUN tests);
 * no ipip/sit/GRE/WireGuard, so vxlan is the
 * tunnel (inner and outer traffic on two interfaces) and tun is the L3 device (ARPHRD_NONE, what
 * WireGuard also is; ipip/sit/gre differ only in their ARPHRD value, which is unit-tested).
 * Every neighbour is pinned and every UDP destination has a bound socket, so the counts are exact.
 */
@KernelTest
@Timeout(180)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class InterfacesTest {
    static final String C1 = "10.0.1.11";
    static final String C2 = "10.0.1.12";
    static final String BR = "10.0.1.1";
    static final String UP_H = "10.0.2.1";
    static final String UP_R = "10.0.2.2";
    static final String TUN_H = "10.0.3.1";
    static final String TUN_PEER = "10.0.3.2";
    static final String TUN6_H = "fd00:3::1";
    static final String TUN6_PEER = "fd00:3::2";
    static final String VX_H = "10.0.4.1";
    static final String VX_R = "10.0.4.2";
    static final Set<String> ALL_IFACES = Set.of("br0", "vc1", "vc2", "up0", "vx0", "tun0");

    Lab lab;
    String host;
    String c1;
    String c2;
    String r;
    Tun tun;
    final AtomicInteger port = new AtomicInteger(41000);

    String mac(int n) {
        String s = lab.suffix();
        return String.format("02:%s:%s:%s:00:%02x", s.substring(0, 2), s.substring(2, 4), s.substring(4, 6), n);
    }

    @BeforeAll
    void topology() {
        lab = Lab.create();
        try {
            host = lab.ns("host");
            c1 = lab.ns("c1");
            c2 = lab.ns("c2");
            r = lab.ns("r");
            String macBr = mac(1);
            String macC1 = mac(0x11);
            String macC2 = mac(0x12);
            ip(host, "link", "add", "br0", "address", macBr, "type", "bridge");
            ip(host, "link", "set", "br0", "up");
            veth(c1, "eth0", macC1, host, "vc1", mac(0x21));
            veth(c2, "eth0", macC2, host, "vc2", mac(0x22));
            ip(host, "link", "set", "vc1", "master", "br0");
            ip(host, "link", "set", "vc2", "master", "br0");
            Cmd.run("bridge", "-n", host, "fdb", "replace", macC1, "dev", "vc1", "master", "static").ok();
            Cmd.run("bridge", "-n", host, "fdb", "replace", macC2, "dev", "vc2", "master", "static").ok();
            addr(host, "br0", BR + "/24");
            addr(c1, "eth0", C1 + "/24");
            addr(c2, "eth0", C2 + "/24");
            neigh(c1, "eth0", C2, macC2);
            neigh(c1, "eth0", BR, macBr);
            neigh(c2, "eth0", C1, macC1);
            neigh(c2, "eth0", BR, macBr);
            neigh(host, "br0", C1, macC1);
            neigh(host, "br0", C2, macC2);

            String macUpH = mac(0x31);
            String macUpR = mac(0x32);
            veth(host, "up0", macUpH, r, "up0", macUpR);
            addr(host, "up0", UP_H + "/24");
            addr(r, "up0", UP_R + "/24");
            neigh(host, "up0", UP_R, macUpR);
            neigh(r, "up0", UP_H, macUpH);
            String macVxH = mac(0x41);
            String macVxR = mac(0x42);
            ip(host, "link", "add", "vx0", "address", macVxH, "type", "vxlan", "id", "42", "local", UP_H, "remote", UP_R,
                    "dstport", "4789", "dev", "up0");
            ip(r, "link", "add", "vx0", "address", macVxR, "type", "vxlan", "id", "42", "local", UP_R, "remote", UP_H,
                    "dstport", "4789", "dev", "up0");
            ip(host, "link", "set", "vx0", "up");
            ip(r, "link", "set", "vx0", "up");
            addr(host, "vx0", VX_H + "/24");
            addr(r, "vx0", VX_R + "/24");
            neigh(host, "vx0", VX_R, macVxR);
            neigh(r, "vx0", VX_H, macVxH);

            tun = lab.own(Tun.create(host, "tun0"));
            ip(host, "link", "set", "tun0", "up");
            addr(host, "tun0", TUN_H + "/24");
            addr(host, "tun0", TUN6_H + "/64");
        } catch (RuntimeException | Error e) {
            lab.close();
            throw e;
        }
    }

    @AfterAll
    void cleanUp() {
        if (lab != null) {
            lab.close();
        }
    }

    // ---- expectations ---------------------------------------------------------------------------

    /** Expected packets and bytes per interface and "direction src -> dst". */
    static final class Expect {
        final Map<String, Map<String, long[]>> byIface = new TreeMap<>();

        Expect add(String iface, String direction, String src, String dst, long packets, long bytes) {
            long[] v = byIface.computeIfAbsent(iface, x -> new TreeMap<>())
                    .computeIfAbsent(direction + " " + src + " -> " + dst, x -> new long[2]);
            v[0] += packets;
            v[1] += bytes;
            return this;
        }

        Expect only(Set<String> ifaces) {
            Expect e = new Expect();
            byIface.forEach((i, m) -> {
                if (ifaces.contains(i)) {
                    m.forEach((k, v) -> e.byIface.computeIfAbsent(i, x -> new TreeMap<>()).put(k, v.clone()));
                }
            });
            return e;
        }

        Map<String, Map<String, List<Long>>> view() {
            Map<String, Map<String, List<Long>>> out = new TreeMap<>();
            byIface.forEach((i, m) -> m.forEach((k, v) -> out.computeIfAbsent(i, x -> new TreeMap<>()).put(k, List.of(v[0], v[1]))));
            return out;
        }
    }

    static final Set<String> ADDRS = Set.of(C1, C2, BR, UP_H, UP_R, TUN_H, TUN_PEER, TUN6_H, TUN6_PEER, VX_H, VX_R,
            "10.0.6.1", "10.0.6.2", "10.0.7.1", "10.0.7.2", "10.0.8.1", "10.0.8.2", "fd00:8::1", "fd00:8::2",
            "10.0.9.1", "10.0.9.2", "10.0.10.1", "10.0.10.2");

    /** What the scrape says about the topology's addresses, in the shape of Expect.view(). */
    static Map<String, Map<String, List<Long>>> scraped(Metrics m) {
        Map<String, Map<String, long[]>> got = new TreeMap<>();
        for (String name : List.of("network_traffic_packets_total", "network_traffic_bytes_total")) {
            for (Metrics.Sample s : m.samples(name)) {
                if (!ADDRS.contains(s.label("src_ip")) && !ADDRS.contains(s.label("dst_ip"))) {
                    continue;
                }
                long[] v = got.computeIfAbsent(s.label("iface"), x -> new TreeMap<>())
                        .computeIfAbsent(s.label("direction") + " " + s.label("src_ip") + " -> " + s.label("dst_ip"),
                                x -> new long[2]);
                v[name.contains("packets") ? 0 : 1] = (long) s.value();
            }
        }
        Map<String, Map<String, List<Long>>> out = new TreeMap<>();
        got.forEach((i, mm) -> mm.forEach((k, v) -> out.computeIfAbsent(i, x -> new TreeMap<>()).put(k, List.of(v[0], v[1]))));
        return out;
    }

    static Set<String> attached(Metrics m) {
        return m.samples("ebpf_traffic_exporter_attached").stream()
                .map(s -> s.label("iface") + "/" + s.label("hook") + "/" + s.label("mode")).collect(Collectors.toCollection(TreeSet::new));
    }

    static Set<String> hooks(Set<String> ifaces) {
        Set<String> out = new TreeSet<>();
        for (String i : ifaces) {
            out.add(i + "/ingress/tcx");
            out.add(i + "/egress/tcx");
        }
        return out;
    }

    static Map<String, Long> failures(Metrics m) {
        Map<String, Long> out = new TreeMap<>();
        m.samples("ebpf_traffic_exporter_attach_failures_total").forEach(s -> out.put(s.label("reason"), (long) s.value()));
        return out;
    }

    static final Map<String, Long> NO_FAILURES = Map.of("error", 0L, "gone", 0L, "permission_denied", 0L, "unsupported_link_type", 0L);

    /** Starts the launcher in the host namespace on port with args, and waits until hooks are attached. */
    ExporterProcess exporter(String name, int listenPort, Map<String, String> env, Set<String> expectHooks, String... args) {
        List<String> a = new ArrayList<>(List.of(args));
        a.addAll(List.of("--addr", "127.0.0.1:" + listenPort));
        ExporterProcess e = lab.own(ExporterProcess.start(host, listenPort, env, name, List.of(), a.toArray(String[]::new)));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            assertTrue(e.isAlive(), () -> "exporter exited: " + e.stderr());
            try {
                Set<String> got = attached(e.scrape());
                if (got.equals(expectHooks) && e.stderr().contains("msg=\"watching --iface ")) { // start-up done
                    return e;
                }
                last = got.toString();
            } catch (RuntimeException ex) {
                last = ex.toString();
            }
            sleep(100);
        }
        e.close();
        throw new AssertionError(name + ": attached hooks never became " + expectHooks + " (last: " + last + ")\n" + e.stderr());
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void assertCleanLog(ExporterProcess e) {
        List<String> bad = e.stderr().lines().filter(l -> l.contains("level=error") || l.contains("level=warn")).toList();
        assertEquals(List.of(), bad, "warnings or errors in the log:\n" + e.stderr());
    }

    /** Stops e; afterwards each of ifaces has exactly othersLeft TCX programs per hook (another exporter's). */
    static void assertStopsAndDetaches(ExporterProcess e, String ns, Set<String> ifaces, int othersLeft) {
        int code = e.stop();
        assertTrue(code == 0 || code == 143, "exit code " + code + "\n" + e.stderr());
        for (String i : ifaces) {
            assertTrue(e.stderr().contains("msg=\"detached from " + i + "\""), "no detach line for " + i + ":\n" + e.stderr());
            if (othersLeft == 0) {
                TcHooks.assertNothingAttached(ns, i);
            } else {
                assertEquals(othersLeft, TcHooks.tcxPrograms(ns, i, true).size(), i + " ingress: " + TcHooks.tcx(ns, i));
                assertEquals(othersLeft, TcHooks.tcxPrograms(ns, i, false).size(), i + " egress: " + TcHooks.tcx(ns, i));
            }
        }
    }

    // ---- the tests --------------------------------------------------------------------------------

    /**
     * Every interface of the topology with --iface all, and a subset with globs and an exclusion, both
     * at once on the same traffic; exact counts per interface, including the L3 device and both sides
     * of the tunnel.
     */
    @Test
    void allAndGlobsCountEveryInterfaceExactly() {
        ExporterProcess all = exporter("ifaces-all", 9191, Map.of(), hooks(ALL_IFACES), "--iface", "all");
        Set<String> globbed = Set.of("vc1", "tun0", "vx0");
        ExporterProcess glob = exporter("ifaces-glob", 9192, Map.of(), hooks(globbed),
                "--iface", "vc*", "--iface", "tun?,vx0", "--iface-exclude", "vc2");
        assertTrue(all.stderr().contains("attached to tun0 (ifindex "), all.stderr());
        assertTrue(all.stderr().lines().anyMatch(l -> l.contains("attached to tun0") && l.contains("L3 device")),
                "tun0 gets the L3 programs:\n" + all.stderr());
        assertTrue(all.stderr().lines().noneMatch(l -> l.contains("attached to vx0") && l.contains("L3 device")), all.stderr());

        Expect x = new Expect();
        // Bridge: container to container is bridged (never seen by br0), container <-> host goes through br0.
        int p = port.getAndIncrement();
        Udp.send(c1, C1, c2, C2, p, 3, 100);
        x.add("vc1", "inbound", C1, C2, 3, 3 * 142).add("vc2", "outbound", C1, C2, 3, 3 * 142);
        Udp.send(c1, C1, host, BR, port.getAndIncrement(), 2, 60);
        x.add("vc1", "inbound", C1, BR, 2, 2 * 102).add("br0", "inbound", C1, BR, 2, 2 * 102);
        Udp.send(host, BR, c2, C2, port.getAndIncrement(), 1, 10);
        x.add("br0", "outbound", BR, C2, 1, 52).add("vc2", "outbound", BR, C2, 1, 52);
        // vxlan: the inner frame on vx0, the same frame 50 bytes bigger (outer Ethernet, IPv4, UDP, VXLAN) on up0.
        Udp.send(r, VX_R, host, VX_H, port.getAndIncrement(), 3, 200);
        x.add("vx0", "inbound", VX_R, VX_H, 3, 3 * 242).add("up0", "inbound", UP_R, UP_H, 3, 3 * (242 + 50));
        Udp.send(host, VX_H, r, VX_R, port.getAndIncrement(), 2, 80);
        x.add("vx0", "outbound", VX_H, VX_R, 2, 2 * 122).add("up0", "outbound", UP_H, UP_R, 2, 2 * (122 + 50));
        // tun0, L3: bytes are the IP packet, no link-layer header.
        tunTraffic(x);

        assertEquals(x.view(), scraped(all.scrape()), "--iface all");
        assertEquals(x.only(globbed).view(), scraped(glob.scrape()), "--iface vc* --iface tun?,vx0 --iface-exclude vc2");
        // Nothing non-IP or malformed: every neighbour is pinned.
        Metrics m = all.scrape();
        assertEquals(List.of(), m.samples("ebpf_traffic_exporter_skipped_packets_total"), m.text());
        assertEquals(NO_FAILURES, failures(m));
        assertCleanLog(all);
        assertCleanLog(glob);
        for (String i : globbed) {
            assertEquals(2, TcHooks.tcxPrograms(host, i, true).size(), "both exporters on " + i + ": " + TcHooks.tcx(host, i));
        }
        assertStopsAndDetaches(glob, host, globbed, 1);
        // The other exporter's TCX links on vc1/tun0/vx0 were not touched: it still counts there.
        Udp.send(c1, C1, c2, C2, p, 1, 100);
        x.add("vc1", "inbound", C1, C2, 1, 142).add("vc2", "outbound", C1, C2, 1, 142);
        assertEquals(x.view(), scraped(all.scrape()));
        assertStopsAndDetaches(all, host, ALL_IFACES, 0);
    }

    private void tunTraffic(Expect x) {
        int p = port.getAndIncrement();
        try (DatagramChannel sink4 = Udp.sink(host, TUN_H, p, false); DatagramChannel sink6 = Udp.sink(host, TUN6_H, p, true)) {
            byte[] in4 = Frames.ethernet().ipv4(TUN_PEER, TUN_H).udp(5000, p).payload(100).buildL3();
            byte[] in6 = Frames.ethernet().ipv6(TUN6_PEER, TUN6_H).udp(5000, p).payload(50).buildL3();
            for (int i = 0; i < 4; i++) {
                tun.write(in4);
            }
            for (int i = 0; i < 2; i++) {
                tun.write(in6);
            }
            assertEquals(4, Udp.drain(sink4, 500), "IPv4 datagrams written into tun0 that arrived");
            assertEquals(2, Udp.drain(sink6, 500), "IPv6 datagrams written into tun0 that arrived");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        x.add("tun0", "inbound", TUN_PEER, TUN_H, 4, 4 * (20 + 8 + 100));
        x.add("tun0", "inbound", TUN6_PEER, TUN6_H, 2, 2 * (40 + 8 + 50));
        // From the host to the far side of tun0: read back from the fd.
        sendUnanswered(host, TUN_H, TUN_PEER, p + 1000, 3, 30);
        List<byte[]> out = tun.readAll(300).stream().filter(b -> b.length == 20 + 8 + 30 && (b[0] >> 4) == 4).toList();
        assertEquals(3, out.size(), "datagrams the host sent out of tun0");
        x.add("tun0", "outbound", TUN_H, TUN_PEER, 3, 3 * (20 + 8 + 30));
    }

    /** Sends count UDP datagrams from src (in ns) to dst:port with no receiver: for a tun, the fd is the receiver. */
    static void sendUnanswered(String ns, String src, String dst, int port, int count, int payload) {
        Setns.run(ns, () -> {
            try (DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET)) {
                c.bind(new InetSocketAddress(NetNs.parse(src), 0));
                for (int i = 0; i < count; i++) {
                    c.send(ByteBuffer.allocate(payload), new InetSocketAddress(NetNs.parse(dst), port));
                }
            }
        });
    }

    /**
     * Double counting, shown on one packet crossing the bridge from container 1 to container 2: with
     * --iface all it is counted twice (vc1 inbound, vc2 outbound), the bridge device itself never sees
     * it, and watching only the sender's port (or, with all ports watched, summing one direction of
     * the ports) counts it once. README "Choosing interfaces: double counting" recommends selections.
     */
    @Test
    void onePacketAcrossABridgeWithAndWithoutDoubleCounting() {
        ExporterProcess all = exporter("bridge-all", 9193, Map.of(), hooks(ALL_IFACES), "--iface", "all");
        ExporterProcess ports = exporter("bridge-ports", 9194, Map.of(), hooks(Set.of("vc1", "vc2")), "--iface", "vc*");
        ExporterProcess bridge = exporter("bridge-br0", 9195, Map.of(), hooks(Set.of("br0")), "--iface", "br0");
        Udp.send(c1, C1, c2, C2, port.getAndIncrement(), 1, 100);

        Map<String, Map<String, List<Long>>> seenByAll = scraped(all.scrape());
        assertEquals(Map.of(
                "vc1", Map.of("inbound " + C1 + " -> " + C2, List.of(1L, 142L)),
                "vc2", Map.of("outbound " + C1 + " -> " + C2, List.of(1L, 142L))), seenByAll,
                "--iface all: one packet, two series");
        long packets = seenByAll.values().stream().flatMap(m -> m.values().stream()).mapToLong(List::getFirst).sum();
        assertEquals(2, packets, "sum over every interface counts the packet twice");

        Map<String, Map<String, List<Long>>> seenByPorts = scraped(ports.scrape());
        long inbound = seenByPorts.values().stream().flatMap(m -> m.entrySet().stream())
                .filter(e -> e.getKey().startsWith("inbound ")).mapToLong(e -> e.getValue().getFirst()).sum();
        assertEquals(1, inbound, "bridge ports, one direction (sum(...{direction=\"inbound\"})): once");

        assertEquals(Map.of(), scraped(bridge.scrape()), "the bridge device never sees bridged traffic");
        for (ExporterProcess e : List.of(all, ports, bridge)) {
            int code = e.stop();
            assertTrue(code == 0 || code == 143, e.stderr());
        }
    }

    /**
     * A new matching interface is attached within 2 s of appearing; one that vanishes is no error; one
     * that comes back is attached again; on both the rtnetlink event path and the 1 s listing fallback.
     */
    @Test
    void newInterfacesAreAttachedWithinTwoSecondsWithEventsAndWithPolling() {
        for (String variant : List.of("events", "poll", "legacy")) {
            boolean poll = variant.equals("poll");
            legacy = variant.equals("legacy");
            String c = lab.ns("n" + variant);
            Map<String, String> env = poll ? Map.of("EBPF_EXPORTER_LINK_WATCH", "poll") : Map.of();
            ExporterProcess e = exporter("new-" + variant, 9196, env, Set.of(), "--iface", "vn*",
                    "--attach-mode", legacy ? "legacy" : "auto");
            try {
                newInterfaceRounds(c, e, poll);
            } finally {
                Cmd.run("ip", "-n", host, "link", "del", "vn1"); // gone already unless the test failed
                e.close();
                legacy = false;
            }
        }
    }

    /** Whether hooks are expected as legacy clsact filters rather than TCX links. */
    private boolean legacy;

    private boolean attachedToVn1() {
        if (legacy) {
            return !TcHooks.filters(host, "vn1", "ingress").isEmpty() && !TcHooks.filters(host, "vn1", "egress").isEmpty();
        }
        return !TcHooks.tcxPrograms(host, "vn1", true).isEmpty() && !TcHooks.tcxPrograms(host, "vn1", false).isEmpty();
    }

    private void newInterfaceRounds(String c, ExporterProcess e, boolean poll) {
        assertTrue(e.stderr().contains("no interface matches --iface vn* yet; waiting for one to appear"), e.stderr());
        assertEquals(poll, e.stderr().contains("listing interfaces every 1000 ms instead"), e.stderr());
        for (int round = 1; round <= 2; round++) {
            veth(c, "eth0", mac(0x50 + round), host, "vn1", mac(0x60 + round));
            long t0 = System.nanoTime();
            while (!attachedToVn1()) {
                assertTrue(System.nanoTime() - t0 < 2_000_000_000L, "vn1 not attached within 2 s (poll=" + poll + ")\n" + e.stderr());
                sleep(10);
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("[ifaces] vn1 attached " + ms + " ms after it appeared (" + (poll ? "polling" : "link events")
                    + (legacy ? ", legacy clsact" : "") + ", round " + round + ")");
            addr(c, "eth0", "10.0.6.2/24");
            addr(host, "vn1", "10.0.6.1/24");
            neigh(c, "eth0", "10.0.6.1", mac(0x60 + round));
            neigh(host, "vn1", "10.0.6.2", mac(0x50 + round));
            Udp.send(c, "10.0.6.2", host, "10.0.6.1", port.getAndIncrement(), 2, 58);
            Metrics m = e.scrape();
            assertEquals(legacy ? Set.of("vn1/egress/legacy", "vn1/ingress/legacy") : hooks(Set.of("vn1")), attached(m));
            // The recreated vn1 (round 2) continues the counter of the first one.
            assertEquals(List.of(2L * round, 200L * round),
                    scraped(m).get("vn1").get("inbound 10.0.6.2 -> 10.0.6.1"), m.text());
            ip(host, "link", "del", "vn1"); // takes the peer in c with it
            long t1 = System.nanoTime();
            while (!attached(e.scrape()).isEmpty()) {
                assertTrue(System.nanoTime() - t1 < 2_000_000_000L, "vn1 still listed as attached\n" + e.stderr());
                sleep(20);
            }
            assertTrue(e.isAlive(), e.stderr());
            assertTrue(e.stderr().contains("vn1 is gone (ifindex "), e.stderr());
        }
        Metrics m = e.scrape();
        assertEquals(List.of(4L, 400L), scraped(m).get("vn1").get("inbound 10.0.6.2 -> 10.0.6.1"),
                "the counts of a vanished interface stay, under its name");
        assertEquals(NO_FAILURES, failures(m));
        assertEquals(List.of(), ExporterProcess.errorLines(e.stderr()), e.stderr());
        int code = e.stop();
        assertTrue(code == 0 || code == 143, e.stderr());
    }

    /**
     * An interface deleted and recreated (same name, new ifindex) under live traffic: it is attached
     * again within 2 s, its counters continue under the same iface label, never go backwards in any
     * scrape, and end exactly at what the receiver got. The sender keeps sending while the interface
     * is deleted (those sends fail); it pauses only between the recreation and the new attachment, the
     * one moment in which packets could pass uncounted.
     */
    @Test
    void deletedAndRecreatedUnderLiveTrafficCountersContinue() throws Exception {
        String c = lab.ns("c6");
        String macC = mac(0x71);
        String macH = mac(0x72);
        Runnable create = () -> {
            veth(c, "eth0", macC, host, "vr1", macH);
            addr(c, "eth0", "10.0.7.2/24");
            addr(host, "vr1", "10.0.7.1/24");
            neigh(c, "eth0", "10.0.7.1", macH);
            neigh(host, "vr1", "10.0.7.2", macC);
        };
        create.run();
        try {
            recreateUnderLiveTraffic(c, create);
        } finally {
            Cmd.run("ip", "-n", host, "link", "del", "vr1"); // the other tests expect the topology as it was
        }
    }

    private void recreateUnderLiveTraffic(String c, Runnable create) throws Exception {
        ExporterProcess e = exporter("recreate", 9197, Map.of(), hooks(Set.of("vr1")), "--iface", "vr1");
        int p = port.getAndIncrement();
        int payload = 64;
        long frame = 14 + 20 + 8 + payload;
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicBoolean paused = new AtomicBoolean(false);
        AtomicInteger sent = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        List<long[]> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        List<String> scrapeProblems = java.util.Collections.synchronizedList(new ArrayList<>());
        String key = "inbound 10.0.7.2 -> 10.0.7.1";
        try (DatagramChannel sink = Udp.sink(host, null, p, false);
             DatagramChannel out = Setns.call(c, () -> DatagramChannel.open(StandardProtocolFamily.INET))) {
            InetSocketAddress to = new InetSocketAddress(NetNs.parse("10.0.7.1"), p);
            Thread sender = Thread.ofPlatform().name("recreate-sender").start(() -> {
                while (running.get()) {
                    if (!paused.get()) {
                        try {
                            out.send(ByteBuffer.allocate(payload), to);
                            sent.incrementAndGet();
                        } catch (java.io.IOException ex) {
                            failed.incrementAndGet(); // no route while the interface is gone
                        }
                    }
                    sleep(1);
                }
            });
            Thread scraper = Thread.ofPlatform().name("recreate-scraper").start(() -> {
                while (running.get()) {
                    try {
                        Metrics m = e.scrape();
                        Map<String, Map<String, List<Long>>> got = scraped(m);
                        if (got.keySet().stream().anyMatch(i -> !i.equals("vr1"))) {
                            scrapeProblems.add("series on other interfaces: " + got);
                        }
                        List<Long> v = got.getOrDefault("vr1", Map.of()).get(key);
                        if (v != null) {
                            seen.add(new long[] {v.get(0), v.get(1)});
                        }
                    } catch (RuntimeException ex) {
                        scrapeProblems.add(ex.toString());
                    }
                    sleep(50);
                }
            });
            try {
                sleep(1000);
                long before = seen.isEmpty() ? 0 : seen.getLast()[0];
                assertTrue(before > 0, "traffic was counted before the deletion");
                ip(host, "link", "del", "vr1"); // under live traffic
                long t0 = System.nanoTime();
                while (!e.stderr().contains("vr1 is gone (ifindex ")) {
                    assertTrue(System.nanoTime() - t0 < 2_000_000_000L, e.stderr());
                    sleep(10);
                }
                sleep(200); // the sender keeps failing meanwhile
                paused.set(true);
                create.run();
                long t1 = System.nanoTime();
                while (TcHooks.tcxPrograms(host, "vr1", true).isEmpty() || TcHooks.tcxPrograms(host, "vr1", false).isEmpty()) {
                    assertTrue(System.nanoTime() - t1 < 2_000_000_000L, "vr1 not attached again within 2 s\n" + e.stderr());
                    sleep(5);
                }
                System.out.println("[ifaces] recreated vr1 attached " + (System.nanoTime() - t1) / 1_000_000 + " ms after it appeared");
                paused.set(false);
                sleep(1000);
            } finally {
                running.set(false);
                sender.join();
                scraper.join();
            }
            int received = Udp.drain(sink, 300);
            Metrics m = e.scrape();
            List<Long> last = scraped(m).get("vr1").get(key);
            System.out.println("[ifaces] recreate: sent " + sent + ", failed while gone " + failed + ", received " + received
                    + ", exported " + last + ", scrapes " + seen.size());
            assertEquals(List.of(), scrapeProblems);
            assertTrue(failed.get() > 0, "some sends happened while vr1 was gone");
            assertEquals(List.of((long) received, received * frame), last,
                    "the exported counter (one series, iface=vr1) is exactly what arrived, before and after the recreation");
            for (int i = 1; i < seen.size(); i++) {
                long[] a = seen.get(i - 1);
                long[] b = seen.get(i);
                assertTrue(b[0] >= a[0] && b[1] >= a[1], "went backwards between scrapes " + (i - 1) + " and " + i
                        + ": " + List.of(a[0], a[1]) + " -> " + List.of(b[0], b[1]));
            }
            assertEquals(hooks(Set.of("vr1")), attached(m));
            assertEquals(NO_FAILURES, failures(m));
            assertEquals(List.of(), ExporterProcess.errorLines(e.stderr()), e.stderr());
            assertStopsAndDetaches(e, host, Set.of("vr1"), 0);
        }
    }

    /**
     * VLAN and QinQ frames end to end, without VLAN devices (this kernel has none): raw tagged frames
     * sent with an AF_PACKET socket into a veth, so they arrive at the watched end (ingress) and leave
     * it (egress). At ingress the kernel moves the outer tag into the skb's metadata before TC runs
     * (skb_vlan_untag), so an inbound frame counts 4 bytes less than sent, and of a QinQ frame only the
     * inner tag is in the frame the program parses; at egress the frame is counted as written.
     */
    @Test
    void vlanAndQinQFramesOnAVeth() {
        String c = lab.ns("c7");
        veth(c, "eth0", mac(0x81), host, "vt1", mac(0x82));
        try {
            ExporterProcess e = exporter("vlan", 9198, Map.of(), hooks(Set.of("vt1")), "--iface", "vt1");
            byte[] one = Frames.ethernet().vlan(10).ipv4("10.0.8.2", "10.0.8.1").udp(1, 2).payload(100).build();
            byte[] qinq = Frames.ethernet().vlan(Frames.ETH_P_8021AD, 100).vlan(10).ipv4("10.0.8.2", "10.0.8.1")
                    .udp(1, 2).payload(100).build();
            byte[] qinq6 = Frames.ethernet().vlan(Frames.ETH_P_8021AD, 100).vlan(20).ipv6("fd00:8::2", "fd00:8::1")
                    .udp(1, 2).payload(50).build();
            assertEquals(146, one.length);
            assertEquals(150, qinq.length);
            PacketSocket.send(c, "eth0", one, one, qinq, qinq6); // arrive at vt1
            PacketSocket.send(host, "vt1", one, qinq, qinq6);    // leave vt1
            sleep(200);
            Expect x = new Expect()
                    .add("vt1", "inbound", "10.0.8.2", "10.0.8.1", 3, 2 * (146 - 4) + (150 - 4))
                    .add("vt1", "inbound", "fd00:8::2", "fd00:8::1", 1, qinq6.length - 4)
                    .add("vt1", "outbound", "10.0.8.2", "10.0.8.1", 2, 146 + 150)
                    .add("vt1", "outbound", "fd00:8::2", "fd00:8::1", 1, qinq6.length);
            Metrics m = e.scrape();
            assertEquals(x.view(), scraped(m));
            assertEquals(List.of(), m.samples("ebpf_traffic_exporter_skipped_packets_total"), m.text());
            assertStopsAndDetaches(e, host, Set.of("vt1"), 0);
        } finally {
            Cmd.run("ip", "-n", host, "link", "del", "vt1");
        }
    }
    /** Whether this kernel can create a link of this type (tried in the host namespace, then removed). */
    boolean kernelHas(String... linkAddArgs) {
        List<String> c = new ArrayList<>(List.of("ip", "-n", host, "link", "add"));
        c.addAll(List.of(linkAddArgs));
        Cmd.Result r = Cmd.run(c);
        if (r.exitCode() == 0) {
            Cmd.run("ip", "-n", host, "link", "del", linkAddArgs[0]);
            return true;
        }
        System.out.println("[ifaces] this kernel cannot create " + String.join(" ", linkAddArgs) + ": "
                + r.stderr().strip() + " -- skipped, see the class comment for what stands in");
        return false;
    }

    /**
     * Tests of devices some kernels lack (this CI machine's among them). They are left out of the
     * default run (pom.xml excludedGroups) rather than skipped, so a CI run never passes by skipping;
     * `make test-kernel-devices` runs them on a kernel that has the devices, and there they fail,
     * not skip, if the device cannot be made under CI=true.
     */
    static final String KERNEL_DEVICES = "kernel-devices";

    static void requireDevice(boolean available, String why) {
        if (available) {
            return;
        }
        if (KernelTestCondition.isCi()) {
            throw new AssertionError("cannot run under CI=true: " + why);
        }
        Assumptions.abort(why);
    }

    /**
     * A VLAN subinterface on the underlay, where the kernel has 802.1Q devices (this test machine's
     * kernel has not: CONFIG_VLAN_8021Q is off, so this test is skipped there). The same packet is
     * counted on up0.100 and on its parent up0, with the same bytes (veth offloads the tag).
     */
    @Test
    @Tag(KERNEL_DEVICES)
    void vlanSubinterfaceWhereTheKernelHasOne() {
        requireDevice(kernelHas("probevlan0", "link", "up0", "type", "vlan", "id", "99"),
                "this kernel has no 802.1Q VLAN devices (CONFIG_VLAN_8021Q)");
        try {
            ip(host, "link", "add", "link", "up0", "name", "up0.100", "type", "vlan", "id", "100");
            ip(r, "link", "add", "link", "up0", "name", "up0.100", "type", "vlan", "id", "100");
            ip(host, "link", "set", "up0.100", "up");
            ip(r, "link", "set", "up0.100", "up");
            addr(host, "up0.100", "10.0.9.1/24");
            addr(r, "up0.100", "10.0.9.2/24");
            neigh(host, "up0.100", "10.0.9.2", mac(0x32));
            neigh(r, "up0.100", "10.0.9.1", mac(0x31));
            ExporterProcess e = exporter("vlan-dev", 9199, Map.of(), hooks(Set.of("up0", "up0.100")), "--iface", "up0*");
            Udp.send(r, "10.0.9.2", host, "10.0.9.1", port.getAndIncrement(), 2, 100);
            Udp.send(host, "10.0.9.1", r, "10.0.9.2", port.getAndIncrement(), 1, 100);
            Expect x = new Expect();
            for (String i : List.of("up0", "up0.100")) {
                x.add(i, "inbound", "10.0.9.2", "10.0.9.1", 2, 2 * 142).add(i, "outbound", "10.0.9.1", "10.0.9.2", 1, 142);
            }
            assertEquals(x.view(), scraped(e.scrape()));
            assertStopsAndDetaches(e, host, Set.of("up0", "up0.100"), 0);
        } finally {
            Cmd.run("ip", "-n", host, "link", "del", "up0.100");
            Cmd.run("ip", "-n", r, "link", "del", "up0.100");
        }
    }

    /**
     * An ipip tunnel over the underlay, where the kernel has one (this test machine's kernel has not:
     * CONFIG_NET_IPIP is off, so this test is skipped there): an ARPHRD_TUNNEL device gets the L3
     * programs; inner addresses and IP-only bytes on ipip0, outer ones (+ Ethernet + 20) on up0.
     */
    @Test
    @Tag(KERNEL_DEVICES)
    void ipipTunnelWhereTheKernelHasOne() {
        requireDevice(kernelHas("probeipip0", "type", "ipip", "local", "10.0.2.1", "remote", "10.0.2.9"),
                "this kernel has no ipip tunnels (CONFIG_NET_IPIP)");
        try {
            ip(host, "link", "add", "ipip0", "type", "ipip", "local", UP_H, "remote", UP_R);
            ip(r, "link", "add", "ipip0", "type", "ipip", "local", UP_R, "remote", UP_H);
            ip(host, "link", "set", "ipip0", "up");
            ip(r, "link", "set", "ipip0", "up");
            ip(host, "addr", "add", "10.0.10.1", "peer", "10.0.10.2", "dev", "ipip0");
            ip(r, "addr", "add", "10.0.10.2", "peer", "10.0.10.1", "dev", "ipip0");
            ExporterProcess e = exporter("ipip", 9199, Map.of(), hooks(Set.of("up0", "ipip0")), "--iface", "up0,ipip0");
            assertTrue(e.stderr().lines().anyMatch(l -> l.contains("attached to ipip0") && l.contains("L3 device")), e.stderr());
            Udp.send(r, "10.0.10.2", host, "10.0.10.1", port.getAndIncrement(), 2, 100);
            Expect x = new Expect()
                    .add("ipip0", "inbound", "10.0.10.2", "10.0.10.1", 2, 2 * (20 + 8 + 100))
                    .add("up0", "inbound", UP_R, UP_H, 2, 2 * (14 + 20 + 20 + 8 + 100));
            assertEquals(x.view(), scraped(e.scrape()));
            assertStopsAndDetaches(e, host, Set.of("up0", "ipip0"), 0);
        } finally {
            Cmd.run("ip", "-n", host, "link", "del", "ipip0");
            Cmd.run("ip", "-n", r, "link", "del", "ipip0");
        }
    }
}
