package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/systemd: the unit as `make install` lays it out, checked by systemd's own tools offline
 * (no running systemd is needed): `systemd-analyze verify` (syntax, unknown keys, ExecStart exists)
 * and `systemd-analyze security --offline` (the exposure score of the sandboxing).
 */
class SystemdUnitTest {
    @Test
    void unitSettings() {
        try (Install in = new Install()) {
            Map<String, String> s = in.service();
            assertEquals("ebpf-exporter", s.get("User"));
            assertEquals("CAP_BPF CAP_NET_ADMIN CAP_PERFMON", s.get("AmbientCapabilities"));
            assertEquals("CAP_BPF CAP_NET_ADMIN CAP_PERFMON", s.get("CapabilityBoundingSet"));
            assertEquals("yes", s.get("NoNewPrivileges"));
            assertEquals(Install.PREFIX + "/ebpf-traffic-exporter $ARGS", s.get("ExecStart"));
            assertTrue(Files.isExecutable(in.launcher()));
            assertTrue(Files.isRegularFile(in.root.resolve("usr/lib/sysusers.d/ebpf-traffic-exporter.conf")));
            assertTrue(Files.isRegularFile(in.root.resolve("etc/default/ebpf-traffic-exporter")));
        }
    }

    @Test
    void systemdAnalyzeVerifyAndSecurity() throws IOException {
        String analyze = Cmd.require("systemd-analyze", "systemd");
        try (Install in = new Install()) {
            // verify --root needs the system's own units (targets, slices) under the root too.
            Path units = in.root.resolve("usr/lib/systemd");
            Files.createDirectories(units);
            Cmd.run("cp", "-a", "/usr/lib/systemd/system", units.toString()).ok();
            Cmd.Result v = Cmd.run(analyze, "verify", "--root=" + in.root, Install.UNIT);
            assertEquals(0, v.exitCode(), v.stderr() + v.stdout());
            assertEquals("", v.stderr() + v.stdout(), "systemd-analyze verify printed warnings");

            // Exposure 0 (sandboxed) .. 10 (unsafe); --threshold is in tenths. Today 1.8 ("OK").
            Cmd.Result sec = Cmd.run(List.of(analyze, "security", "--offline=true", "--threshold=20", in.unit().toString()));
            assertEquals(0, sec.exitCode(), sec.stdout() + sec.stderr());
            assertTrue(sec.stdout().contains("Overall exposure level for ebpf-traffic-exporter.service: 1.8 OK"), sec.stdout());
        }
    }
}
