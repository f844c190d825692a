package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Bpffs;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Restarts;
import dev.ebpftraffic.testing.SeriesScraper;
import dev.ebpftraffic.testing.StateDir;
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
        try (StateDir sd = new StateDir(); NetNs net = NetNs.pair(); Bpffs fs = new Bpffs(); TestCgroups cgroups = TestCgroups.under(root)) {
            net.addPair(A, B, 24);
            Path group = cgroups.create("system.slice/" + service);
            Path pins = fs.mount.resolve("ete-test-wl-" + id);
            Path state = sd.file;
            List<Integer> linkIds = new ArrayList<>();
            Restarts run = new Restarts(signal)
                    // The workloads entries handed out (before-write: not yet saved; after-write: saved, not yet deleted).
                    .crashLeavesBothEpochs("workloads", () -> workloadEpochs(pins.resolve("workloads")))
                    .whileDown(stopped -> {
                        // While no exporter runs, the pinned cgroup links stay attached and keep counting.
                        List<Integer> ids = List.of(linkId(pins, "cgroup_ingress"), linkId(pins, "cgroup_egress"));
                        if (!linkIds.isEmpty()) {
                            assertEquals(linkIds, ids, "the next process takes the pinned links over, it does not make new ones");
                        }
                        linkIds.clear();
                        linkIds.addAll(ids);
                    });
            ExporterProcess exporter = start(net, "wl-restart-" + signal + "-1", run.env(), pins, state);
            // Both sockets belong to the service's cgroup for their life; nothing else is made while this JVM is in it.
            SteadyUdp udp;
            TestCgroups.move(ProcessHandle.current().pid(), group);
            try {
                udp = net.own(SteadyUdp.start(net.a, A, net.b, B, 42000, PAYLOAD, PER_SECOND));
            } finally {
                TestCgroups.move(ProcessHandle.current().pid(), origin);
            }
            try (SeriesScraper scraper = new SeriesScraper(exporter, SeriesScraper.families(WorkloadAttributionKernelTest.WB,
                    WorkloadAttributionKernelTest.WP, s -> service.equals(s.label("workload"))))) {
                // Two last scrapes: the second flip hands out what the first one's epoch still held.
                exporter = run.twice("wl-restart-" + signal, exporter, udp, scraper,
                        (name, env) -> start(net, name, env, pins, state), 2);
                String ctx = run.context(scraper);
                assertTrue(udp.sent() > PER_SECOND * 4, "too little traffic: " + udp.sent());
                Restarts.assertExact("outbound", udp.sent(), udp.sent() * IP_BYTES,
                        scraper.increase(l -> l.contains("direction=outbound")), ctx);
                Restarts.assertExact("inbound", udp.sent(), udp.sent() * IP_BYTES,
                        scraper.increase(l -> l.contains("direction=inbound")), ctx);
            }

            Restarts.stop(exporter);
            assertEquals(linkIds, List.of(linkId(pins, "cgroup_ingress"), linkId(pins, "cgroup_egress")), "kept after SIGTERM");
            Cmd.Result u = Restarts.uninstall(net.b, pins, state);
            assertTrue(u.stdout().contains("removed " + pins.resolve("links").resolve("cgroup_ingress")), u.stdout());
            assertTrue(u.stdout().contains("removed " + pins.resolve("workloads")), u.stdout());
            assertFalse(Files.exists(pins), "pin directory still there: " + pins);
            for (int linkId : linkIds) {
                // The pin was the link's last reference: the kernel freed it, so it is detached from the root.
                assertNotEquals(0, Cmd.run("bpftool", "link", "show", "id", Integer.toString(linkId)).exitCode(),
                        "link " + linkId + " still exists after uninstall");
            }
        }
    }

    private static ExporterProcess start(NetNs net, String name, Map<String, String> env, Path pins, Path state) {
        ExporterProcess e = net.own(ExporterProcess.startSeeingCgroups(net.b, env, name, "--iface", net.ifB,
                "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup", "--max-series", "0",
                "--bpf.pin-path", pins.toString(), "--state.file", state.toString()));
        e.awaitAttached(Duration.ofSeconds(30));
        return e;
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
