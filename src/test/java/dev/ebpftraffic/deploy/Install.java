package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** `make install DESTDIR=...` into a world-readable temporary root, and the unit it installed. */
public final class Install implements AutoCloseable {
    public static final String PREFIX = "/opt/ebpf-traffic-exporter";
    public static final String UNIT = "/etc/systemd/system/ebpf-traffic-exporter.service";
    public final Path root;

    public Install() {
        try {
            root = Files.createTempDirectory("ebpf-install");
            Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        Cmd.Result r = Cmd.run(ExporterProcess.projectRoot(), Duration.ofSeconds(120), List.of("make", "-s", "install", "DESTDIR=" + root));
        if (r.exitCode() != 0) {
            close();
            throw new AssertionError("make install failed: " + r.stderr() + r.stdout());
        }
    }

    public Path launcher() {
        return root.resolve(PREFIX.substring(1)).resolve("ebpf-traffic-exporter");
    }

    public Path unit() {
        return root.resolve(UNIT.substring(1));
    }

    /** The [Service] settings of the installed unit (the last value of a key wins). */
    public Map<String, String> service() {
        Map<String, String> out = new LinkedHashMap<>();
        try {
            boolean inService = false;
            for (String line : Files.readAllLines(unit())) {
                String l = line.strip();
                if (l.startsWith("[")) {
                    inService = l.equals("[Service]");
                } else if (inService && !l.isEmpty() && !l.startsWith("#")) {
                    int eq = l.indexOf('=');
                    out.put(l.substring(0, eq), l.substring(eq + 1));
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    @Override
    public void close() {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }
}
