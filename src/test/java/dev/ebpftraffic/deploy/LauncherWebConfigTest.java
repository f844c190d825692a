package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bad --web.config.file stops the launcher at once with exit 1 and one line naming the problem,
 * before anything touches the kernel (so this runs as any user).
 */
class LauncherWebConfigTest {
    @TempDir
    Path dir;

    Cmd.Result launch(String... args) {
        List<String> cmd = new ArrayList<>(List.of(ExporterProcess.launcher().toString(), "--iface", "lo", "--addr", "127.0.0.1:1"));
        cmd.addAll(List.of(args));
        return Cmd.run(cmd);
    }

    static String onlyLine(Cmd.Result r) {
        List<String> lines = (r.stdout() + r.stderr()).lines().toList();
        assertEquals(1, lines.size(), r.stdout() + r.stderr());
        return lines.getFirst();
    }

    @Test
    void missingFile() {
        Path missing = dir.resolve("web.yml");
        Cmd.Result r = launch("--web.config.file", missing.toString());
        assertEquals(1, r.exitCode());
        assertTrue(onlyLine(r).endsWith(" level=error msg=\"invalid --web.config.file " + missing + ": the file does not exist\""),
                onlyLine(r));
    }

    @Test
    void invalidFile() throws IOException {
        Path f = dir.resolve("web.yml");
        Files.writeString(f, "basic_auth_users:\n  prometheus: plaintext\n");
        Cmd.Result r = launch("--web.config.file", f.toString(), "--log.format", "json");
        assertEquals(1, r.exitCode());
        assertTrue(onlyLine(r).endsWith(",\"level\":\"error\",\"msg\":\"invalid --web.config.file " + f
                + ": line 2: basic_auth_users: the password of user \\\"prometheus\\\" is not a bcrypt hash ($2y$, $2a$ or $2b$, "
                + "cost 4-12); make one with `htpasswd -nBC 10 prometheus`\"}"), onlyLine(r));
    }

    @Test
    void badFlagsExit2() {
        Cmd.Result r = launch("--log.format", "xml");
        assertEquals(2, r.exitCode());
        assertEquals("ebpf-traffic-exporter: invalid --log.format \"xml\": use logfmt or json", onlyLine(r));
    }
}
