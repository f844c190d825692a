package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.SteadyUdp;
import dev.ebpftraffic.testing.TestCgroups;
import dev.ebpftraffic.workload.Cgroup2Mount;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-workload family survives restarts exactly, as RestartTest checks for the per-IP family: a
 * constant UDP stream between two sockets made in a test cgroup named like a systemd service flows
 * while the exporter (--workloads cgroup, --bpf.pin-path, --state.file; started with nsenter so it
 * sees the host's cgroup2 mount) is restarted twice by SIGTERM, SIGKILL at a random moment, or dies by
 * itself right before or right after a state write. The pinned cgroup links keep counting while it is
 * away. A scraper reads /metrics every 200 ms; sum(increase()) of the service's series must equal what
 * was sent, to the packet and byte, in each direction, with no reset. Then `uninstall` removes the
 * pinned cgroup links (the kernel detaches them).
 */
@KernelTest
@Timeout(180)
class WorkloadRestartKernelTest {
    private static final String A = "10.87.0.1";
    private static final String B = "10.87.0.2";
    private static final int PAYLOAD = 200;
    private static final long IP_BYTES = 20 + 8 + PAYLOAD; // the workload family counts IP datagrams
    private static final double PER_SECOND = 250;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"SIGTERM", "SIGKILL", "before-write", "after-write"})
    void workloadIncreaseOverRestartsEqualsTrafficSent(String signal) throws IOException {
        Cgroup2Mount m = Cgroup2Mount.find();
        Path root = assertInstanceOf(Cgroup2Mount.Found.class, m, "cgroup v2: " + m).mountPoint();
        Path origin = ownGroup(root);
        String id = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        String service = "ete-restart-" + id + ".service";
        Path stateDir = Files.createTempDirectory("ete-test-state-");
        try (NetNs net = NetNs.pair(); RestartTest.Bpffs fs = new RestartTest.Bpffs(); TestCgroups cgroups = TestCgroups.under(root)) {
            net.addPair(A, B, 24);
            Path group = cgroups.create("system.slice/" + service);
            Path pins = fs.mount.resolve("ete-test-wl-" + id);
            Path state = stateDir.resolve("state");
            boolean selfCrash = signal.endsWith("-write");
            Map<String, String> env = selfCrash ? Map.of("EBPF_TRAFFIC_EXPORTER_TEST_CRASH", signal) : Map.of();
            ExporterProcess exporter = start(net, "wl-restart-" + signal + "-1", env, pins, state);
            // Both sockets belong to the service's cgroup for their life; nothing else is made while this JVM is in it.
            SteadyUdp udp;
            TestCgroups.move(ProcessHandle.current().pid(), group);
            try {
                udp = net.own(SteadyUdp.start(net.a, A, net.b, B, 42000, PAYLOAD, PER_SECOND));
            } finally {
                TestCgroups.move(ProcessHandle.current().pid(), origin);
            }
            List<String> logs = new ArrayList<>();
            List<Integer> linkIds = new ArrayList<>();
            try (RestartTest.Scraper scraper = new RestartTest.Scraper(exporter, metrics -> serviceSeries(metrics, service))) {
                try {
                    for (int round = 2; round <= 3; round++) {
                        int code;
                        if (selfCrash) {
                            code = exporter.waitForExit(Duration.ofSeconds(20)); // halts by itself after 1.5 s
                        } else {
                            RestartTest.sleep(1500);
                            code = signal.equals("SIGTERM") ? exporter.stop() : exporter.kill();
                        }
                        logs.add(exporter.stderr());
                        assertEquals(signal.equals("SIGTERM") ? 143 : 137, code == 0 ? 143 : code,
                                "exit code after " + signal + "\n" + exporter.stderr());
                        if (signal.equals("SIGTERM")) {
                            assertEquals(List.of(), ExporterProcess.errorLines(exporter.stderr()), exporter.stderr());
                        }
                        if (selfCrash) {
                            // The window was hit: the workloads entries handed out (before-write: not yet saved;
                            // after-write: saved, not yet deleted) are still in the kernel beside the current epoch's.
                            assertEquals(Set.of(0, 1), workloadEpochs(pins.resolve("workloads")),
                                    "epochs of the pinned workloads entries after a crash " + signal);
                        }
                        // While no exporter runs, the pinned cgroup links stay attached and keep counting.
                        List<Integer> ids = List.of(linkId(pins, "cgroup_ingress"), linkId(pins, "cgroup_egress"));
                        if (!linkIds.isEmpty()) {
                            assertEquals(linkIds, ids, "the next process takes the pinned links over, it does not make new ones");
                        }
                        linkIds = ids;
                        RestartTest.sleep(700);
                        exporter = start(net, "wl-restart-" + signal + "-" + round, round < 3 ? env : Map.of(), pins, state);
                        scraper.switchTo(exporter);
                        String err = exporter.stderr();
                        assertTrue(err.contains("reusing the pinned maps"), err);
                        assertTrue(err.contains("counters continue, with what the kernel counted meanwhile"), err);
                        assertFalse(err.contains("is not the last one"), err);
                    }
                    RestartTest.sleep(1500);
                } finally {
                    udp.stop(); // every datagram arrived: sent() is exact
                }
                RestartTest.sleep(600);
                scraper.scrapeOnce();
                scraper.scrapeOnce(); // the second flip hands out what the first one's epoch still held
                long[] out = scraper.increase(l -> l.contains("direction=outbound"));
                long[] in = scraper.increase(l -> l.contains("direction=inbound"));
                logs.add(exporter.stderr());
                String ctx = signal + ": " + scraper.scrapes() + " scrapes, series " + scraper.seriesNames() + "\n"
                        + String.join("\n---\n", logs);
                assertTrue(udp.sent() > PER_SECOND * 4, "too little traffic: " + udp.sent());
                assertEquals(udp.sent(), out[1], "outbound packets: sum(increase()) vs sent; " + ctx);
                assertEquals(udp.sent() * IP_BYTES, out[0], "outbound bytes; " + ctx);
                assertEquals(udp.sent(), in[1], "inbound packets: sum(increase()) vs sent; " + ctx);
                assertEquals(udp.sent() * IP_BYTES, in[0], "inbound bytes; " + ctx);
                assertEquals(0, out[2] + in[2], "no counter reset across restarts; " + ctx);
            }

            int code = exporter.stop();
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
            assertEquals(linkIds, List.of(linkId(pins, "cgroup_ingress"), linkId(pins, "cgroup_egress")), "kept after SIGTERM");
            Cmd.Result u = RestartTest.uninstall(net, pins, state);
            assertTrue(u.stdout().contains("removed " + pins.resolve("links").resolve("cgroup_ingress")), u.stdout());
            assertTrue(u.stdout().contains("removed " + pins.resolve("workloads")), u.stdout());
            assertFalse(Files.exists(pins), "pin directory still there: " + pins);
            for (int linkId : linkIds) {
                // The pin was the link's last reference: the kernel freed it, so it is detached from the root.
                assertNotEquals(0, Cmd.run("bpftool", "link", "show", "id", Integer.toString(linkId)).exitCode(),
                        "link " + linkId + " still exists after uninstall");
            }
        } finally {
            RestartTest.deleteDirectory(stateDir);
        }
    }

    private static ExporterProcess start(NetNs net, String name, Map<String, String> env, Path pins, Path state) {
        ExporterProcess e = net.own(ExporterProcess.startSeeingCgroups(net.b, env, name, "--iface", net.ifB,
                "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup", "--max-series", "0",
                "--bpf.pin-path", pins.toString(), "--state.file", state.toString()));
        e.awaitAttached(Duration.ofSeconds(30));
        return e;
    }

    /** The service's series in one scrape: labels to {bytes, packets}. */
    private static Map<String, long[]> serviceSeries(Metrics m, String service) {
        Map<String, long[]> now = new LinkedHashMap<>();
        for (Metrics.Sample s : m.samples(WorkloadAttributionKernelTest.WB)) {
            if (service.equals(s.label("workload"))) {
                now.computeIfAbsent(s.labels().toString(), k -> new long[2])[0] = (long) s.value();
            }
        }
        for (Metrics.Sample s : m.samples(WorkloadAttributionKernelTest.WP)) {
            if (service.equals(s.label("workload"))) {
                now.computeIfAbsent(s.labels().toString(), k -> new long[2])[1] = (long) s.value();
            }
        }
        return now;
    }

    private static Path ownGroup(Path mount) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return mount.resolve(line.substring(4));
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
    }

    /** The kernel's id of a pinned cgroup link, which must be a cgroup link. */
    private static int linkId(Path pins, String name) {
        String out = Cmd.run("bpftool", "-j", "link", "show", "pinned", pins.resolve("links").resolve(name).toString()).ok().stdout();
        assertTrue(out.contains("\"type\":\"cgroup\""), out);
        Matcher mm = Pattern.compile("\"id\":(\\d+)").matcher(out);
        assertTrue(mm.find(), out);
        return Integer.parseInt(mm.group(1));
    }

    /** The epoch bytes (offset 10 of struct workload_key) of a pinned workloads map's entries. */
    private static Set<Integer> workloadEpochs(Path map) {
        String out = Cmd.run("bpftool", "-j", "map", "dump", "pinned", map.toString()).ok().stdout();
        Set<Integer> epochs = new TreeSet<>();
        Matcher mm = Pattern.compile("\"key\":\\[((?:\"0x[0-9a-f]{2}\",?){16})\\]").matcher(out);
        while (mm.find()) {
            String[] bytes = mm.group(1).split(",");
            epochs.add(Integer.parseInt(bytes[10].replace("\"", "").substring(2), 16) & 1);
        }
        return epochs;
    }
}
