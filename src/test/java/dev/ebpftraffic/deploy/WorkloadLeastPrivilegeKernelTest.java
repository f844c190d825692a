package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.workload.Cgroup2Mount;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-workload attribution with only the systemd unit's capabilities (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON,
 * uid nobody, no new privileges), started with nsenter so the host's cgroup2 mount is visible: the
 * cgroup_skb programs attach to the cgroup v2 root (--workloads cgroup would fail otherwise) and are gone
 * after a normal stop.
 */
@KernelTest
@Timeout(120)
class WorkloadLeastPrivilegeKernelTest {
    static final int PORT = 9466;

    @Test
    void attachesToTheCgroupRootWithTheUnitsCapabilities() {
        Path root = assertInstanceOf(Cgroup2Mount.Found.class, Cgroup2Mount.find()).mountPoint();
        try (Install in = new Install(); NetNs net = NetNs.pair()) {
            List<String> caps = LeastPrivilegeKernelTest.unitCaps(in);
            ExporterProcess exp = net.own(ExporterProcess.startSeeingCgroups(in.launcher(), net.a, PORT,
                    LeastPrivilegeKernelTest.setpriv(caps), "workloads-least-privilege",
                    "--iface", net.ifA, "--addr", "127.0.0.1:" + PORT, "--workloads", "cgroup"));
            exp.awaitReady("http://127.0.0.1:" + PORT + "/-/ready", Duration.ofSeconds(30));
            String shown = Cmd.run("bpftool", "cgroup", "show", root.toString()).ok().stdout();
            assertTrue(shown.contains("cgroup_wl_"), shown + "\n" + exp.stderr());
            assertTrue(exp.stderr().contains("per-workload traffic: attached to the cgroup v2 root"), exp.stderr());
            exp.stop(); // SIGTERM: the JVM runs its shutdown hooks (exit 143) and closes the links
            String after = Cmd.run("bpftool", "cgroup", "show", root.toString()).ok().stdout();
            assertFalse(after.contains("cgroup_wl_"), after);
        }
    }
}
