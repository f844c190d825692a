package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.workload.Cgroup2Mount;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --workloads through the launcher: `ip netns exec` remounts /sys, which hides the cgroup2 mount, as a
 * container without the host's cgroupfs would. auto then runs without the feature after one log line;
 * cgroup fails start-up with one error line; a bad value is a one-line usage error, exit 2. Nothing is
 * left on the cgroup root.
 */
@KernelTest
@Timeout(120)
class WorkloadFlagKernelTest {
    static NetNs net;
    static Path root;

    @BeforeAll
    static void setUp() {
        Cgroup2Mount m = Cgroup2Mount.find();
        root = assertInstanceOf(Cgroup2Mount.Found.class, m, "cgroup v2: " + m).mountPoint();
        net = NetNs.pair();
    }

    @AfterAll
    static void tearDown() {
        if (net != null) {
            net.close();
        }
    }

    private static String attachedToRoot() {
        return Cmd.run("bpftool", "cgroup", "show", root.toString()).ok().stdout();
    }

    @Test
    void autoWithoutVisibleCgroupV2RunsWithoutTheFeature() {
        try (ExporterProcess e = ExporterProcess.start(net.b, "workloads-auto", "--iface", net.ifB, "--addr", ExporterProcess.LISTEN)) {
            Metrics m = e.awaitAttached(Duration.ofSeconds(30));
            assertFalse(m.has("network_workload_traffic_bytes_total"), m.text());
            assertFalse(attachedToRoot().contains("cgroup_wl_"), attachedToRoot());
            List<String> lines = e.stderr().lines().filter(l -> l.contains("per-workload traffic is off")).toList();
            assertEquals(1, lines.size(), e.stderr());
            assertTrue(lines.getFirst().contains("level=info") && lines.getFirst().contains("nsenter"), lines.getFirst());
        }
    }

    @Test
    void cgroupModeWithoutVisibleCgroupV2FailsWithOneLine() {
        Cmd.Result r = ExporterProcess.run(net.b, "workloads-cgroup", List.of(), "--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                "--workloads", "cgroup");
        assertEquals(1, r.exitCode(), r.toString());
        List<String> errors = ExporterProcess.errorLines(r.stderr());
        assertEquals(1, errors.size(), r.stderr());
        assertTrue(errors.getFirst().contains("--workloads cgroup needs it"), errors.getFirst());
        assertFalse(r.stderr().contains("\tat "), r.stderr());
        assertFalse(attachedToRoot().contains("cgroup_wl_"), attachedToRoot());
    }

    /** SIGKILL: no clean-up runs, but the kernel closes the exporter's cgroup links with its fds. */
    @Test
    void killedExporterLeavesNothingOnTheCgroupRoot() throws InterruptedException {
        try (ExporterProcess e = ExporterProcess.startSeeingCgroups(net.b, "workloads-kill", "--iface", net.ifB,
                "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup")) {
            e.awaitAttached(Duration.ofSeconds(30));
            assertTrue(attachedToRoot().contains("cgroup_wl_"), attachedToRoot() + e.stderr());
            e.kill();
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (attachedToRoot().contains("cgroup_wl_") && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertFalse(attachedToRoot().contains("cgroup_wl_"), attachedToRoot());
        }
    }

    @Test
    void badValueIsAUsageError() {
        Cmd.Result r = ExporterProcess.run(net.b, "workloads-bad", List.of(), "--iface", net.ifB, "--workloads", "on");
        assertEquals(2, r.exitCode(), r.toString());
        List<String> lines = r.stderr().lines().toList();
        assertEquals(List.of("ebpf-traffic-exporter: invalid --workloads \"on\": use auto, cgroup or off"), lines);
    }
}
