package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.SteadyUdp;
import dev.ebpftraffic.testing.TcHooks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
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

    /** A bpffs mount of the test's own under /tmp: unmounting it drops whatever stayed pinned. */
    static final class Bpffs implements AutoCloseable {
        final Path mount;

        Bpffs() {
            try {
                mount = Files.createTempDirectory("ete-test-bpffs-");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Cmd.run("mount", "-t", "bpf", "bpf", mount.toString()).ok();
        }

        @Override
        public void close() {
            Cmd.run("umount", mount.toString());
            try {
                Files.deleteIfExists(mount);
            } catch (IOException ignored) {
                // left in /tmp: an empty directory
            }
        }
    }

    /** Scrapes whichever exporter is current every 200 ms and keeps every sample of the stream's series. */
    static final class Scraper implements AutoCloseable {
        private volatile ExporterProcess current;
        private final java.util.function.Function<Metrics, Map<String, long[]>> sample;
        private volatile boolean stop;
        private final Map<String, List<long[]>> series = new LinkedHashMap<>(); // labels -> {bytes, packets} per scrape
        private int scrapes;
        private final Thread thread = new Thread(this::run, "scraper");

        Scraper(ExporterProcess first) {
            this(first, RestartTest::streamSeries);
        }

        /** sample: the series to follow in one scrape, labels to {bytes, packets}. */
        Scraper(ExporterProcess first, java.util.function.Function<Metrics, Map<String, long[]>> sample) {
            this.sample = sample;
            current = first;
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            while (!stop) {
                scrapeOnce();
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        synchronized void scrapeOnce() {
            ExporterProcess e = current;
            if (e == null || !e.isAlive()) {
                return;
            }
            Metrics m;
            try {
                m = e.scrapeOnce(); // one request per sample, as Prometheus does (a new series shows 0 first)
            } catch (Throwable t) {
                return; // down between stop and start: Prometheus' scrape fails too
            }
            scrapes++;
            sample.apply(m).forEach((k, v) -> series.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
        }

        int scrapes() {
            return scrapes;
        }

        synchronized java.util.Set<String> seriesNames() {
            return series.keySet();
        }

        synchronized List<String> packets() {
            List<String> out = new ArrayList<>();
            series.values().forEach(l -> out.add(l.stream().map(v -> Long.toString(v[1])).toList().toString()));
            return out;
        }

        void switchTo(ExporterProcess e) {
            current = e;
        }

        /** sum over series of increase() over all samples: [bytes, packets, resets]. */
        synchronized long[] increase() {
            return increase(k -> true);
        }

        /** The same over the series whose labels pass the filter. */
        synchronized long[] increase(java.util.function.Predicate<String> labels) {
            long[] total = new long[3];
            for (Map.Entry<String, List<long[]>> e : series.entrySet()) {
                if (!labels.test(e.getKey())) {
                    continue;
                }
                List<long[]> samples = e.getValue();
                for (int i = 1; i < samples.size(); i++) {
                    for (int f = 0; f < 2; f++) {
                        long prev = samples.get(i - 1)[f];
                        long cur = samples.get(i)[f];
                        total[f] += cur >= prev ? cur - prev : cur; // a drop is a counter reset
                        if (f == 0 && cur < prev) {
                            total[2]++;
                        }
                    }
                }
            }
            return total;
        }

        @Override
        public void close() {
            stop = true;
            thread.interrupt();
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The stream's pair series in one scrape: labels to {bytes, packets}. */
    private static Map<String, long[]> streamSeries(Metrics m) {
        Map<String, long[]> now = new LinkedHashMap<>();
        for (Metrics.Sample s : m.samples("network_traffic_bytes_total")) {
            if (V4A.equals(s.label("src_ip")) && V4B.equals(s.label("dst_ip"))) {
                now.computeIfAbsent(s.labels().toString(), k -> new long[2])[0] = (long) s.value();
            }
        }
        for (Metrics.Sample s : m.samples("network_traffic_packets_total")) {
            if (V4A.equals(s.label("src_ip")) && V4B.equals(s.label("dst_ip"))) {
                now.computeIfAbsent(s.labels().toString(), k -> new long[2])[1] = (long) s.value();
            }
        }
        return now;
    }

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

    /** `ebpf-traffic-exporter uninstall` in b for these pins and state file; it must succeed. */
    static Cmd.Result uninstall(NetNs net, Path pins, Path state) {
        Cmd.Result u = Cmd.run(List.of("ip", "netns", "exec", net.b, ExporterProcess.launcher().toString(),
                "uninstall", "--bpf.pin-path", pins.toString(), "--state.file", state.toString()));
        assertEquals(0, u.exitCode(), u.toString());
        return u;
    }

    /** Removes a test's state directory (flat: the state file, its lock and temp files). */
    static void deleteDirectory(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
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
        Path stateDir = Files.createTempDirectory("ete-test-state-");
        try (NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            net.addPair(V4A, V4B, 24);
            Path pins = fs.mount.resolve("ete-test-" + id);
            Path state = stateDir.resolve("state");
            boolean selfCrash = signal.endsWith("-write");
            Map<String, String> env = selfCrash ? Map.of("EBPF_TRAFFIC_EXPORTER_TEST_CRASH", signal) : Map.of();
            ExporterProcess exporter = start(net, "restart-" + signal + "-1", env, pins, state);
            List<String> logs = new ArrayList<>();
            try (Scraper scraper = new Scraper(exporter)) {
                SteadyUdp udp = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41000, PAYLOAD, PER_SECOND));
                try {
                    for (int round = 2; round <= 3; round++) {
                        int code;
                        if (selfCrash) {
                            code = exporter.waitForExit(Duration.ofSeconds(20)); // halts by itself after 1.5 s
                        } else {
                            sleep(1500);
                            code = signal.equals("SIGTERM") ? exporter.stop() : exporter.kill();
                        }
                        logs.add(exporter.stderr());
                        assertEquals(signal.equals("SIGTERM") ? 143 : 137, code == 0 ? 143 : code,
                                "exit code after " + signal + "\n" + exporter.stderr());
                        if (signal.equals("SIGTERM")) {
                            assertEquals(List.of(), ExporterProcess.errorLines(exporter.stderr()), exporter.stderr());
                            assertTrue(exporter.stderr().contains("left attached (pinned) to " + net.ifB), exporter.stderr());
                        }
                        if (selfCrash) {
                            // The window was hit: entries the dead process moved into its totals are still in the kernel.
                            assertEquals(java.util.Set.of(0, 1), epochsPinned(pins.resolve("flows4")),
                                    "epochs of the pinned flows4 entries after a crash " + signal);
                        }
                        // While no exporter runs, the pinned links keep counting into the pinned maps.
                        assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "TCX ingress while down");
                        sleep(700);
                        // The last one runs to the end: no crash.
                        exporter = start(net, "restart-" + signal + "-" + round, round < 3 ? env : Map.of(), pins, state);
                        scraper.switchTo(exporter);
                        String err = exporter.stderr();
                        assertTrue(err.contains("reusing the pinned maps"), err);
                        assertTrue(err.contains("counters continue, with what the kernel counted meanwhile"), err);
                        assertFalse(err.contains("is not the last one"), err);
                        assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "one program at TCX ingress");
                    }
                    sleep(1500);
                } finally {
                    udp.stop(); // every datagram arrived: sent() is exact
                }
                sleep(600);
                scraper.scrapeOnce(); // after the stream: the last sample holds everything
                long[] inc = scraper.increase();
                logs.add(exporter.stderr());
                String ctx = signal + ": " + scraper.scrapes + " scrapes, " + inc[2] + " resets, series "
                        + scraper.series.keySet() + ", packets per scrape " + scraper.packets() + "\n" + String.join("\n---\n", logs);
                assertTrue(udp.sent() > PER_SECOND * 4, "too little traffic: " + udp.sent());
                assertEquals(udp.sent(), inc[1], "packets: sum(increase()) over the run vs sent; " + ctx);
                assertEquals(udp.frameBytes(), inc[0], "bytes: sum(increase()) over the run vs sent; " + ctx);
                assertEquals(0, inc[2], "no counter reset across restarts; " + ctx);
            }

            // Clean removal: stop, uninstall, and nothing stays pinned or attached.
            int code = exporter.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "kept attached after SIGTERM");
            Cmd.Result u = uninstall(net, pins, state);
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
        } finally {
            deleteDirectory(stateDir);
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
        Path stateDir = Files.createTempDirectory("ete-test-state-");
        Path state = stateDir.resolve("state");
        try (NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            net.addPair(V4A, V4B, 24);
            Path pins = fs.mount.resolve("ete-test-layout");
            ExporterProcess first = start(net, "restart-layout-1", pins, state, "--map-size", "1024");
            SteadyUdp one = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41001, PAYLOAD, PER_SECOND));
            sleep(1000);
            one.stop();
            assertEquals(List.of(one.sent(), one.frameBytes()), List.of(streamTotals(first)[0], streamTotals(first)[1]));
            int code = first.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);

            ExporterProcess second = start(net, "restart-layout-2", pins, state, "--map-size", "2048");
            String err = second.stderr();
            // type 1: BPF_MAP_TYPE_HASH (the flows maps are shared by all CPUs)
            assertTrue(err.contains("pinned maps in " + pins + " do not fit (flows4 has type 1, key "), err);
            assertTrue(err.contains("max_entries 1024, flags 0x0, this version needs type 1, key "), err);
            assertEquals(1, err.lines().filter(l -> l.contains("do not fit")).count(), err);
            assertTrue(err.contains("the kernel maps are new"), err);
            assertEquals(2048, (long) second.scrape().samples("ebpf_traffic_exporter_flow_map_capacity").getFirst().value());
            SteadyUdp two = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41002, PAYLOAD, PER_SECOND));
            sleep(1000);
            two.stop();
            // The counter continues from the state file: no reset, and the new maps add only new traffic.
            long[] after = streamTotals(second);
            assertEquals(one.sent() + two.sent(), after[0], "packets after the layout change");
            assertEquals(one.frameBytes() + two.frameBytes(), after[1], "bytes after the layout change");
            code = second.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            uninstall(net, pins, state);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        } finally {
            deleteDirectory(stateDir);
        }
    }

    /**
     * Pins of an older build (here: no "overflow" pin, as before the overflow array was pinned) do not
     * fit: one log line, fresh maps, and the counters continue from the state file.
     */
    @Test
    void pinsOfAnOlderBuildStartFreshMaps() throws IOException {
        Path stateDir = Files.createTempDirectory("ete-test-state-");
        Path state = stateDir.resolve("state");
        try (NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            net.addPair(V4A, V4B, 24);
            Path pins = fs.mount.resolve("ete-test-older");
            ExporterProcess first = start(net, "restart-older-1", pins, state);
            SteadyUdp one = net.own(SteadyUdp.start(net.a, V4A, net.b, V4B, 41003, PAYLOAD, PER_SECOND));
            sleep(1000);
            one.stop();
            assertEquals(List.of(one.sent(), one.frameBytes()), List.of(streamTotals(first)[0], streamTotals(first)[1]));
            int code = first.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            Files.delete(pins.resolve("overflow"));

            ExporterProcess second = start(net, "restart-older-2", pins, state);
            String err = second.stderr();
            assertEquals(1, err.lines().filter(l -> l.contains("do not fit (overflow is not pinned)")).count(), err);
            assertTrue(err.contains("the kernel maps are new"), err);
            assertTrue(Files.exists(pins.resolve("overflow")), "the new overflow map is pinned");
            long[] after = streamTotals(second);
            assertEquals(one.sent(), after[0], "packets after the fresh start");
            assertEquals(one.frameBytes(), after[1], "bytes after the fresh start");
            code = second.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            uninstall(net, pins, state);
            assertFalse(Files.exists(pins), "pin directory still there: " + pins);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        } finally {
            deleteDirectory(stateDir);
        }
    }

    @Test
    void aDeletedInterfaceLeavesNoPinnedLink() throws IOException {
        Path stateDir = Files.createTempDirectory("ete-test-state-");
        Path state = stateDir.resolve("state");
        String extra = "x" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 28); // unique, < 16 chars
        try (NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            Path pins = fs.mount.resolve("ete-test-churn");
            Cmd.run("ip", "-n", net.b, "link", "add", extra, "type", "veth", "peer", "name", extra + "p").ok();
            Cmd.run("ip", "-n", net.b, "link", "set", extra, "up").ok();
            String ifindex = Cmd.run("ip", "netns", "exec", net.b, "cat", "/sys/class/net/" + extra + "/ifindex").ok().stdout().strip();
            ExporterProcess e = start(net, "restart-churn", pins, state, "--iface", extra);
            Path in = pins.resolve("links").resolve("tcx_" + ifindex + "_ingress");
            Path eg = pins.resolve("links").resolve("tcx_" + ifindex + "_egress");
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (!(Files.exists(in) && Files.exists(eg)) && System.nanoTime() < deadline) {
                sleep(100);
            }
            assertTrue(Files.exists(in) && Files.exists(eg), "links of " + extra + " not pinned: " + e.stderr());
            Cmd.run("ip", "-n", net.b, "link", "del", extra).ok();
            deadline = System.nanoTime() + 20_000_000_000L;
            while ((Files.exists(in) || Files.exists(eg)) && System.nanoTime() < deadline) {
                sleep(100);
            }
            assertFalse(Files.exists(in) || Files.exists(eg), "the deleted interface's links stay pinned: " + e.stderr());
            int code = e.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            uninstall(net, pins, state);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        } finally {
            deleteDirectory(stateDir);
        }
    }

    @Test
    void aSecondExporterOnTheSameStateFileIsRefused() throws IOException {
        Path stateDir = Files.createTempDirectory("ete-test-state-");
        Path state = stateDir.resolve("state");
        try (NetNs net = NetNs.pair(); Bpffs fs = new Bpffs()) {
            Path pins = fs.mount.resolve("ete-test-lock");
            ExporterProcess first = start(net, "restart-lock-1", pins, state);
            Cmd.Result second = ExporterProcess.run(net.b, "restart-lock-2", List.of(), "--iface", net.ifB,
                    "--addr", "127.0.0.1:9092", "--bpf.pin-path", pins.toString(), "--state.file", state.toString());
            assertEquals(1, second.exitCode(), second.toString());
            assertTrue(second.stderr().contains("another exporter is running with --state.file"), second.stderr());
            assertTrue(first.isAlive());
            int code = first.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            uninstall(net, pins, state);
            TcHooks.assertNothingAttached(net.b, net.ifB);
        } finally {
            deleteDirectory(stateDir);
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
