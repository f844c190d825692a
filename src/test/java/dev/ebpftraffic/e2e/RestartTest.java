package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Bpffs;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Restarts;
import dev.ebpftraffic.testing.SeriesScraper;
import dev.ebpftraffic.testing.StateDir;
import dev.ebpftraffic.testing.SteadyUdp;
import dev.ebpftraffic.testing.TcHooks;
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
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Restarts lose nothing: a constant UDP stream flows while the exporter (with --bpf.pin-path and
 * --state.file) is stopped and started again, twice. A scraper reads /metrics every 200 ms, like
 * Prometheus, and increase() over the whole run is computed per series the way Prometheus does it
 * (a value lower than the previous one is a reset, counted from 0). Summed, it must equal what was
 * sent, to the packet and byte: for SIGTERM and, by design, for SIGKILL too. Then `uninstall`
 * must leave nothing pinned and nothing attached.
 */
@KernelTest
@Timeout(180)
class RestartTest {
    private static final String V4A = "10.89.0.1";
    private static final String V4B = "10.89.0.2";
    private static final int PAYLOAD = 200;
    private static final double PER_SECOND = 250;

    /** The stream's pair series in one scrape: labels to {bytes, packets}. */
    private static final java.util.function.Function<Metrics, Map<String, long[]>> STREAM = SeriesScraper.families(
            "network_traffic_bytes_total", "network_traffic_packets_total",
            s -> V4A.equals(s.label("src_ip")) && V4B.equals(s.label("dst_ip")));

    private static ExporterProcess start(NetNs net, String name, Path pins, Path state, String... extra) {
        return start(net, name, Map.of(), pins, state, extra);
    }

    private static ExporterProcess start(NetNs net, String name, Map<String, String> env, Path pins, Path state, String... extra) {
        List<String> args = new ArrayList<>(List.of("--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                "--bpf.pin-path", pins.toString(), "--state.file", state.toString()));
        args.addAll(List.of(extra));
        ExporterProcess e = net.own(ExporterProcess.start(net.b, ExporterProcess.PORT, env, name, List.of(), args.toArray(String[]::new)));
        e.awaitAttached(Duration.ofSeconds(30));
        return e;
    }

    /**
     * SIGTERM; SIGKILL at a random moment; and the process dying by itself (like SIGKILL) right
     * before a state write that follows a read which moved kernel entries into userspace, or right
     * after it, before those entries are deleted from the kernel (EBPF_TRAFFIC_EXPORTER_TEST_CRASH).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"SIGTERM", "SIGKILL", "before-write", "after-write"})
    void increaseOverRestartsEqualsTrafficSent(String signal) throws IOException {
        String id = Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);
        try (StateDir sd = new StateDir(); NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            net.addPair(V4A, V4B, 24);
            Path pins = fs.mount.resolve("ete-test-" + id);
            Path state = sd.file;
            Restarts run = new Restarts(signal)
                    .crashLeavesBothEpochs("flows4", () -> epochsPinned(pins.resolve("flows4")))
                    .whileDown(stopped -> {
                        if (signal.equals("SIGTERM")) {
                            assertTrue(stopped.stderr().contains("left attached (pinned) to " + net.ifB), stopped.stderr());
                        }
                        // While no exporter runs, the pinned links keep counting into the pinned maps.
                        assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "TCX ingress while down");
                    })
                    .started(e -> assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "one program at TCX ingress"));
            ExporterProcess exporter = start(net, "restart-" + signal + "-1", run.env(), pins, state);
            try (SeriesScraper scraper = new SeriesScraper(exporter, STREAM)) {
                SteadyUdp udp = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41000, PAYLOAD, PER_SECOND));
                exporter = run.twice("restart-" + signal, exporter, udp, scraper,
                        (name, env) -> start(net, name, env, pins, state), 1);
                assertTrue(udp.sent() > PER_SECOND * 4, "too little traffic: " + udp.sent());
                Restarts.assertExact("stream", udp.sent(), udp.frameBytes(), scraper.increase(), run.context(scraper));
            }

            // Clean removal: stop, uninstall, and nothing stays pinned or attached.
            Restarts.stop(exporter);
            assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "kept attached after SIGTERM");
            Cmd.Result u = Restarts.uninstall(net.b, pins, state);
            assertTrue(u.stdout().contains("removed " + pins.resolve("flows4")), u.stdout());
            assertFalse(Files.exists(pins), "pin directory still there: " + pins);
            assertFalse(Files.exists(state), "state file still there");
            try (var left = Files.list(fs.mount)) {
                // progs.debug and maps.debug belong to bpffs itself (its preloaded iterators); tc, ip and
                // xdp are iproute2's work directories: a `tc` run under `ip netns exec` (whose /sys hides
                // /sys/fs/bpf) by any process on the machine picks the first bpffs in /proc/mounts, this one
                assertEquals(List.of(), left.filter(p -> !p.getFileName().toString().endsWith(".debug"))
                                .filter(p -> !List.of("tc", "ip", "xdp").contains(p.getFileName().toString())).toList(),
                        "left pinned in bpffs");
            }
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    /** The epoch bits (bit 30 of the key's first, little-endian u32) of a pinned flows map's entries. */
    private static java.util.Set<Integer> epochsPinned(Path map) {
        String out = Cmd.run("bpftool", "-j", "map", "dump", "pinned", map.toString()).ok().stdout();
        java.util.Set<Integer> epochs = new java.util.TreeSet<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "\"key\":\\[\"0x([0-9a-f]{2})\",\"0x([0-9a-f]{2})\",\"0x([0-9a-f]{2})\",\"0x([0-9a-f]{2})\"").matcher(out);
        while (m.find()) {
            int b3 = Integer.parseInt(m.group(4), 16);
            epochs.add(b3 >> 6 & 1);
        }
        return epochs;
    }

    /** The stream's series: {packets, bytes}, after a scrape that shows its totals (a new series shows 0 first). */
    private static long[] streamTotals(ExporterProcess e) {
        e.scrape();
        Metrics m = e.scrape();
        return new long[]{
                m.sum("network_traffic_packets_total", s -> V4A.equals(s.label("src_ip")) && V4B.equals(s.label("dst_ip"))),
                m.sum("network_traffic_bytes_total", s -> V4A.equals(s.label("src_ip")) && V4B.equals(s.label("dst_ip")))};
    }

    @Test
    void aNewMapLayoutStartsFreshMapsAndTheCountersContinue() throws IOException {
        try (StateDir sd = new StateDir(); NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            Path state = sd.file;
            net.addPair(V4A, V4B, 24);
            Path pins = fs.mount.resolve("ete-test-layout");
            ExporterProcess first = start(net, "restart-layout-1", pins, state, "--map-size", "1024");
            SteadyUdp one = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41001, PAYLOAD, PER_SECOND));
            Restarts.sleep(1000);
            one.stop();
            assertEquals(List.of(one.sent(), one.frameBytes()), List.of(streamTotals(first)[0], streamTotals(first)[1]));
            Restarts.stop(first);

            ExporterProcess second = start(net, "restart-layout-2", pins, state, "--map-size", "2048");
            String err = second.stderr();
            // type 1: BPF_MAP_TYPE_HASH (the flows maps are shared by all CPUs)
            assertTrue(err.contains("pinned maps in " + pins + " do not fit (flows4 has type 1, key "), err);
            assertTrue(err.contains("max_entries 1024, flags 0x0, this version needs type 1, key "), err);
            assertEquals(1, err.lines().filter(l -> l.contains("do not fit")).count(), err);
            assertTrue(err.contains("the kernel maps are new"), err);
            assertEquals(2048, (long) second.scrape().samples("ebpf_traffic_exporter_flow_map_capacity").getFirst().value());
            SteadyUdp two = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41002, PAYLOAD, PER_SECOND));
            Restarts.sleep(1000);
            two.stop();
            // The counter continues from the state file: no reset, and the new maps add only new traffic.
            long[] after = streamTotals(second);
            assertEquals(one.sent() + two.sent(), after[0], "packets after the layout change");
            assertEquals(one.frameBytes() + two.frameBytes(), after[1], "bytes after the layout change");
            Restarts.stop(second);
            Restarts.uninstall(net.b, pins, state);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    /**
     * Pins of an older build (here: no "overflow" pin, as before the overflow array was pinned) do not
     * fit: one log line, fresh maps, and the counters continue from the state file.
     */
    @Test
    void pinsOfAnOlderBuildStartFreshMaps() throws IOException {
        try (StateDir sd = new StateDir(); NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            Path state = sd.file;
            net.addPair(V4A, V4B, 24);
            Path pins = fs.mount.resolve("ete-test-older");
            ExporterProcess first = start(net, "restart-older-1", pins, state);
            SteadyUdp one = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41003, PAYLOAD, PER_SECOND));
            Restarts.sleep(1000);
            one.stop();
            assertEquals(List.of(one.sent(), one.frameBytes()), List.of(streamTotals(first)[0], streamTotals(first)[1]));
            Restarts.stop(first);
            Files.delete(pins.resolve("overflow"));

            ExporterProcess second = start(net, "restart-older-2", pins, state);
            String err = second.stderr();
            assertEquals(1, err.lines().filter(l -> l.contains("do not fit (overflow is not pinned)")).count(), err);
            assertTrue(err.contains("the kernel maps are new"), err);
            assertTrue(Files.exists(pins.resolve("overflow")), "the new overflow map is pinned");
            long[] after = streamTotals(second);
            assertEquals(one.sent(), after[0], "packets after the fresh start");
            assertEquals(one.frameBytes(), after[1], "bytes after the fresh start");
            Restarts.stop(second);
            Restarts.uninstall(net.b, pins, state);
            assertFalse(Files.exists(pins), "pin directory still there: " + pins);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    @Test
    void aDeletedInterfaceLeavesNoPinnedLink() throws IOException {
        String extra = "x" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 28); // unique, < 16 chars
        try (StateDir sd = new StateDir(); NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            Path state = sd.file;
            Path pins = fs.mount.resolve("ete-test-churn");
            Cmd.run("ip", "-n", net.b, "link", "add", extra, "type", "veth", "peer", "name", extra + "p").ok();
            Cmd.run("ip", "-n", net.b, "link", "set", extra, "up").ok();
            String ifindex = Cmd.run("ip", "netns", "exec", net.b, "cat", "/sys/class/net/" + extra + "/ifindex").ok().stdout().strip();
            ExporterProcess e = start(net, "restart-churn", pins, state, "--iface", extra);
            Path in = pins.resolve("links").resolve("tcx_" + ifindex + "_ingress");
            Path eg = pins.resolve("links").resolve("tcx_" + ifindex + "_egress");
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (!(Files.exists(in) && Files.exists(eg)) && System.nanoTime() < deadline) {
                Restarts.sleep(100);
            }
            assertTrue(Files.exists(in) && Files.exists(eg), "links of " + extra + " not pinned: " + e.stderr());
            Cmd.run("ip", "-n", net.b, "link", "del", extra).ok();
            deadline = System.nanoTime() + 20_000_000_000L;
            while ((Files.exists(in) || Files.exists(eg)) && System.nanoTime() < deadline) {
                Restarts.sleep(100);
            }
            assertFalse(Files.exists(in) || Files.exists(eg), "the deleted interface's links stay pinned: " + e.stderr());
            Restarts.stop(e);
            Restarts.uninstall(net.b, pins, state);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    @Test
    void aSecondExporterOnTheSameStateFileIsRefused() throws IOException {
        try (StateDir sd = new StateDir(); NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            Path state = sd.file;
            Path pins = fs.mount.resolve("ete-test-lock");
            ExporterProcess first = start(net, "restart-lock-1", pins, state);
            Cmd.Result second = ExporterProcess.run(net.b, "restart-lock-2", List.of(), "--iface", net.ifB,
                    "--addr", "127.0.0.1:9092", "--bpf.pin-path", pins.toString(), "--state.file", state.toString());
            assertEquals(1, second.exitCode(), second.toString());
            assertTrue(second.stderr().contains("another exporter is running with --state.file"), second.stderr());
            assertTrue(first.isAlive());
            Restarts.stop(first);
            Restarts.uninstall(net.b, pins, state);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        }
    }

    @Test
    void pinPathWithoutStateFileIsAUsageError() {
        try (NetNs net = NetNs.pair()) {
            Cmd.Result r = ExporterProcess.run(net.b, "restart-usage", List.of(), "--iface", net.ifB,
                    "--bpf.pin-path", "/sys/fs/bpf/ete-test-x");
            assertEquals(2, r.exitCode(), r.toString());
            assertTrue(r.stderr().contains("--bpf.pin-path needs --state.file"), r.stderr());
        }
    }
}
