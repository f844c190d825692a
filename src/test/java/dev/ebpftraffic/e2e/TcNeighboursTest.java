package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.TcHooks;
import dev.ebpftraffic.testing.Traffic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exporter among other TC users, end to end through the launcher: filters other software adds
 * to the clsact qdisc the exporter created survive its exit; two exporters on one interface in
 * legacy mode both count exactly; a hook taken away from under a running exporter (legacy filter or
 * qdisc deleted, TCX link detached with bpftool) is noticed, attached again and counted in
 * ebpf_traffic_exporter_reattachments_total; while someone else's filter holds our handle, the
 * exporter does not take it back and is not ready.
 */
@KernelTest
@Timeout(180)
class TcNeighboursTest {
    private static final String V4A = "10.89.0.1";
    private static final String V4B = "10.89.0.2";
    private static final String V6A = "fd00:89::1";
    private static final String V6B = "fd00:89::2";
    /** Priority of the exporter's legacy filters (0xeb9f). */
    private static final String OUR_PREF = "60319";
    private static final String REATTACHMENTS = "ebpf_traffic_exporter_reattachments_total";
    private static final int SECOND_PORT = 9092;

    private static NetNs net() {
        NetNs net = NetNs.pair();
        net.addPair(V4A, V4B, 24);
        net.addPair(V6A, V6B, 64);
        return net;
    }

    private static ExporterProcess start(NetNs net, String name, String mode) {
        return net.own(ExporterProcess.start(net.b, name, "--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                "--attach-mode", mode));
    }

    private static ExporterProcess startSecond(NetNs net, String name, String mode) {
        return net.own(ExporterProcess.start(net.b, SECOND_PORT, Map.of(), name, List.of(), "--iface", net.ifB,
                "--addr", "127.0.0.1:" + SECOND_PORT, "--attach-mode", mode));
    }

    /** Known traffic in both directions and families. */
    private static void someTraffic(Traffic t, int port) {
        t.udp(true, V4A, V4B, port, Map.of(64, 5, 512, 3));
        t.udp(false, V4B, V4A, port + 1, Map.of(10, 2));
        t.udp(true, V6A, V6B, port + 2, Map.of(100, 4));
        t.udp(false, V6B, V6A, port + 3, Map.of(30, 3));
    }

    /** `tc filter show` at point, every line. */
    private static List<String> tcShow(NetNs net, String point) {
        return Cmd.run("tc", "-n", net.b, "filter", "show", "dev", net.ifB, point).ok().stdout().lines()
                .map(String::strip).toList();
    }

    /** The handle of the exporter's filter running prog (tc_ingress / tc_egress), one per exporter. */
    private static List<String> ourHandles(NetNs net, String point, String prog) {
        List<String> out = new ArrayList<>();
        Pattern p = Pattern.compile("pref " + OUR_PREF + " bpf chain 0 handle (0x[0-9a-f]+) " + prog + "\\b");
        for (String l : tcShow(net, point)) {
            Matcher m = p.matcher(l);
            if (m.find()) {
                out.add(m.group(1));
            }
        }
        return out;
    }

    private static long reattachments(Metrics m, String iface) {
        return m.sum(REATTACHMENTS, s -> iface.equals(s.label("iface")));
    }

    private static Set<String> hooks(Metrics m) {
        return m.samples("ebpf_traffic_exporter_attached").stream()
                .map(s -> s.label("iface") + "/" + s.label("hook") + "/" + s.label("mode")).collect(Collectors.toSet());
    }

    /** HTTP status of /-/ready of the exporter on port. */
    private static String ready(NetNs net, int port) {
        return net.exec(net.b, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                "http://127.0.0.1:" + port + "/-/ready").stdout();
    }

    /** Scrapes until reattachments_total{iface} reaches n (and both hooks are attached). */
    private static Metrics awaitReattachments(ExporterProcess e, String iface, long n, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no scrape";
        while (System.nanoTime() < deadline) {
            try {
                Metrics m = e.scrape();
                long r = m.has(REATTACHMENTS) ? reattachments(m, iface) : -1;
                if (r == n && hooks(m).size() == 2) {
                    return m;
                }
                last = REATTACHMENTS + "=" + r + ", attached=" + hooks(m);
            } catch (RuntimeException ex) {
                last = ex.toString();
            }
            sleep(100);
        }
        throw new AssertionError("the exporter did not re-attach within " + timeout + " (" + last + "); stderr:\n" + e.stderr());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static void assertStoppedCleanly(ExporterProcess e, String iface) {
        int code = e.stop();
        String err = e.stderr();
        assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code + "\n" + err);
        assertTrue(err.contains("detached from " + iface), "no \"detached\" log line:\n" + err);
        assertEquals(List.of(), ExporterProcess.errorLines(err), err);
    }

    /** The id of the exporter's TCX link at ingress, from its /proc/PID/fdinfo. */
    private static int tcxIngressLinkId(ExporterProcess e) throws IOException {
        List<Integer> ids = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + e.pid() + "/fdinfo"))) {
            for (Path fd : fds.toList()) {
                String info;
                try {
                    info = Files.readString(fd);
                } catch (IOException gone) {
                    continue; // closed meanwhile
                }
                if (info.contains("link_type:\ttcx") && info.contains("attach_type:\t46")) {
                    Matcher m = Pattern.compile("link_id:\\s+(\\d+)").matcher(info);
                    assertTrue(m.find(), info);
                    ids.add(Integer.parseInt(m.group(1)));
                }
            }
        }
        assertEquals(1, ids.size(), "TCX ingress links of the exporter: " + ids);
        return ids.getFirst();
    }

    @Test
    void legacyLeavesItsQdiscWhenAnotherToolAddedFiltersAfterStart() {
        try (NetNs net = net()) {
            TcHooks.assertNothingAttached(net.b, net.ifB);
            ExporterProcess exporter = start(net, "legacy-foreign-later", "legacy");
            exporter.awaitAttached(Duration.ofSeconds(30));
            assertTrue(TcHooks.hasClsact(net.b, net.ifB), "the exporter created the clsact qdisc");

            // "Another tool" adds u32 filters that never match (a documentation address), so ours still run.
            for (String point : List.of("ingress", "egress")) {
                Cmd.run("tc", "-n", net.b, "filter", "add", "dev", net.ifB, point, "pref", "10", "protocol", "ip",
                        "u32", "match", "ip", "dst", "192.0.2.1/32", "flowid", "1:1").ok();
            }
            List<String> foreignIn = tcShow(net, "ingress").stream().filter(l -> !l.contains("pref " + OUR_PREF)).toList();
            List<String> foreignEg = tcShow(net, "egress").stream().filter(l -> !l.contains("pref " + OUR_PREF)).toList();
            assertTrue(foreignIn.stream().anyMatch(l -> l.contains(" u32 ")), foreignIn.toString());
            assertEquals(1, ourHandles(net, "ingress", "tc_ingress").size(), tcShow(net, "ingress").toString());
            Traffic t = new Traffic(net);
            someTraffic(t, 41000);
            t.assertExact(exporter.scrape(), net.ifB);

            assertStoppedCleanly(exporter, net.ifB);
            assertTrue(TcHooks.hasClsact(net.b, net.ifB), "the clsact qdisc (with the other tool's filters) was removed");
            assertEquals(foreignIn, tcShow(net, "ingress"), "ingress filters after the exporter's exit");
            assertEquals(foreignEg, tcShow(net, "egress"), "egress filters after the exporter's exit");
            assertTrue(exporter.stderr().contains("left the clsact qdisc on " + net.ifB + " in place"), exporter.stderr());
        }
    }

    @Test
    void twoLegacyExportersOnOneInterfaceBothCountExactly() {
        try (NetNs net = net()) {
            TcHooks.assertNothingAttached(net.b, net.ifB);
            ExporterProcess first = start(net, "legacy-first", "legacy");
            first.awaitAttached(Duration.ofSeconds(30));
            ExporterProcess second = startSecond(net, "legacy-second", "legacy");
            second.awaitAttached(Duration.ofSeconds(30));
            Traffic t = new Traffic(net);
            for (int i = 0; i < 10; i++) {
                t.udp(true, V4A, V4B, 42000, Map.of(64, 1000));
            }
            t.udp(true, V4A, V4B, 42000, Map.of(65, 1));
            t.udp(false, V4B, V4A, 42001, Map.of(10, 7));
            assertEquals(10_001, t.expected().get(new Traffic.Key("inbound", V4A, V4B)).packets());
            t.assertExact(first.scrape(), net.ifB);
            t.assertExact(second.scrape(), net.ifB);
            assertEquals("200", ready(net, ExporterProcess.PORT));
            assertEquals("200", ready(net, SECOND_PORT));
            assertEquals(0, reattachments(first.scrape(), net.ifB), "nothing was taken from the first exporter");
            for (String[] p : List.of(new String[] {"ingress", "tc_ingress"}, new String[] {"egress", "tc_egress"})) {
                List<String> handles = ourHandles(net, p[0], p[1]);
                assertEquals(2, handles.size(), "one filter per exporter at " + p[0] + ": " + tcShow(net, p[0]));
                assertNotEquals(handles.get(0), handles.get(1), "both exporters use one handle at " + p[0]);
            }


            // The second leaves; the first still counts, then leaves the interface as it found it.
            assertStoppedCleanly(second, net.ifB);
            assertEquals(1, ourHandles(net, "ingress", "tc_ingress").size(), tcShow(net, "ingress").toString());
            t.udp(true, V4A, V4B, 42002, Map.of(70, 9));
            t.assertExact(first.scrape(), net.ifB);
            assertStoppedCleanly(first, net.ifB);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    @Test
    void legacyRemovesTheFilterAKilledExporterLeftUnderAnotherHandle() {
        try (NetNs net = net()) {
            ExporterProcess first = start(net, "legacy-slot1", "legacy");
            first.awaitAttached(Duration.ofSeconds(30));
            ExporterProcess second = startSecond(net, "legacy-slot2", "legacy");
            second.awaitAttached(Duration.ofSeconds(30));
            List<String> both = ourHandles(net, "ingress", "tc_ingress");
            assertEquals(2, both.size(), tcShow(net, "ingress").toString());
            assertEquals(137, second.kill(), "exit code after SIGKILL");
            assertStoppedCleanly(first, net.ifB);
            List<String> left = ourHandles(net, "ingress", "tc_ingress");
            assertEquals(1, left.size(), "the killed exporter's filter stays: " + tcShow(net, "ingress"));

            ExporterProcess third = start(net, "legacy-after-kill", "legacy");
            third.awaitAttached(Duration.ofSeconds(30));
            for (String[] p : List.of(new String[] {"ingress", "tc_ingress"}, new String[] {"egress", "tc_egress"})) {
                List<String> now = ourHandles(net, p[0], p[1]);
                assertEquals(1, now.size(), "only the running exporter's filter at " + p[0] + ": " + tcShow(net, p[0]));
                assertNotEquals(left.getFirst(), now.getFirst(), "the leftover is still at " + p[0]);
            }
            assertTrue(third.stderr().contains("removed the ingress filter (handle " + left.getFirst() + ")"), third.stderr());
            Traffic t = new Traffic(net);
            someTraffic(t, 45000);
            t.assertExact(third.scrape(), net.ifB);
            assertStoppedCleanly(third, net.ifB);
            assertEquals(List.of(), ourHandles(net, "ingress", "tc_ingress"));
            assertEquals(List.of(), ourHandles(net, "egress", "tc_egress"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"legacy-filter-deleted", "legacy-qdisc-deleted", "tcx-link-detached"})
    void hookTakenAwayIsAttachedAgainAndCountsExactly(String how) throws IOException {
        String mode = how.startsWith("legacy") ? "legacy" : "tcx";
        try (NetNs net = net()) {
            ExporterProcess exporter = start(net, "taken-" + how, mode);
            exporter.awaitAttached(Duration.ofSeconds(30));
            Traffic t = new Traffic(net);
            someTraffic(t, 43000);
            Metrics before = exporter.scrape();
            t.assertExact(before, net.ifB);
            assertEquals(List.of(net.ifB + " 0.0"), before.samples(REATTACHMENTS).stream()
                    .map(x -> x.label("iface") + " " + x.value()).toList(), "the counter is exported at 0 from the start");

            switch (how) {
                case "legacy-filter-deleted" -> {
                    String h = ourHandles(net, "ingress", "tc_ingress").getFirst();
                    Cmd.run("tc", "-n", net.b, "filter", "del", "dev", net.ifB, "ingress", "pref", OUR_PREF,
                            "handle", h, "bpf").ok();
                }
                case "legacy-qdisc-deleted" -> Cmd.run("tc", "-n", net.b, "qdisc", "del", "dev", net.ifB, "clsact").ok();
                default -> Cmd.run("bpftool", "link", "detach", "id", Integer.toString(tcxIngressLinkId(exporter))).ok();
            }
            Metrics m = awaitReattachments(exporter, net.ifB, 1, Duration.ofSeconds(15));
            assertEquals(Set.of(net.ifB + "/ingress/" + mode, net.ifB + "/egress/" + mode), hooks(m));
            if (mode.equals("tcx")) {
                assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), TcHooks.tcx(net.b, net.ifB));
            } else {
                assertEquals(1, ourHandles(net, "ingress", "tc_ingress").size(), tcShow(net, "ingress").toString());
                assertEquals(1, ourHandles(net, "egress", "tc_egress").size(), tcShow(net, "egress").toString());
            }

            sleep(3000); // a few seconds later, and a few periodic checks later
            someTraffic(t, 43010);
            m = exporter.scrape();
            t.assertExact(m, net.ifB);
            assertEquals(1, reattachments(m, net.ifB), m.samples(REATTACHMENTS).toString());
            assertEquals("200", ready(net, ExporterProcess.PORT));
            String err = exporter.stderr();
            assertTrue(err.contains("hook on " + net.ifB + " is gone") && err.contains("hook on " + net.ifB + " again"), err);

            assertStoppedCleanly(exporter, net.ifB);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    @Test
    void legacyNeverTakesBackAHandleHeldByAnotherFilterAndIsNotReadyMeanwhile() {
        try (NetNs net = net()) {
            ExporterProcess exporter = start(net, "legacy-handle-taken", "legacy");
            exporter.awaitAttached(Duration.ofSeconds(30));
            assertEquals("200", ready(net, ExporterProcess.PORT));
            String h = ourHandles(net, "ingress", "tc_ingress").getFirst();

            // Someone replaces our ingress filter with theirs (classic BPF, never matches), at our handle.
            Cmd.run("tc", "-n", net.b, "filter", "replace", "dev", net.ifB, "ingress", "pref", OUR_PREF,
                    "handle", h, "bpf", "bytecode", "1,6 0 0 0,").ok();
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!ready(net, ExporterProcess.PORT).equals("503") && System.nanoTime() < deadline) {
                sleep(100);
            }
            assertEquals("503", ready(net, ExporterProcess.PORT), "ready while the ingress hook is someone else's");
            sleep(4500); // two periodic checks: still theirs, still not ready
            List<String> in = tcShow(net, "ingress");
            assertTrue(in.stream().anyMatch(l -> l.contains("handle " + h + " ") && l.contains("bytecode")), "their filter was replaced: " + in);
            assertEquals("503", ready(net, ExporterProcess.PORT));
            Metrics m = exporter.scrape();
            assertEquals(Set.of(net.ifB + "/egress/legacy"), hooks(m), "attached while the ingress filter is theirs");
            assertEquals(0, m.has(REATTACHMENTS) ? reattachments(m, net.ifB) : 0);

            // They remove it: the handle is free again, and ours comes back.
            Cmd.run("tc", "-n", net.b, "filter", "del", "dev", net.ifB, "ingress", "pref", OUR_PREF, "handle", h, "bpf").ok();
            awaitReattachments(exporter, net.ifB, 1, Duration.ofSeconds(15));
            assertEquals("200", ready(net, ExporterProcess.PORT));
            Traffic t = new Traffic(net);
            someTraffic(t, 44000);
            t.assertExact(exporter.scrape(), net.ifB);
            assertTrue(exporter.stderr().contains("another filter replaced our filter"), exporter.stderr());
            assertStoppedCleanly(exporter, net.ifB);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }
}
