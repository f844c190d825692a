package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher of `make build` starts the JDK the build used without running scripts/find-jdk.sh
 * (a dozen forks on every start), and looks again only when that JDK is gone or JAVA_HOME is set;
 * EBPF_EXPORTER_JAVA_HOME picks one outright. A copy of the launcher next to a find-jdk.sh that
 * leaves a mark and answers the real JDK: the mark says whether the search ran.
 */
class LauncherJdkTest {
    static final Path ROOT = ExporterProcess.projectRoot();

    @TempDir
    Path dir;
    Path launcher;
    Path mark;
    String built;

    @BeforeEach
    void copyLauncher() throws IOException {
        String text = Files.readString(ROOT.resolve("ebpf-traffic-exporter"));
        Matcher m = Pattern.compile("(?m)^built='([^']*)'$").matcher(text);
        assertTrue(m.find(), "no built= line in the launcher:\n" + text);
        built = m.group(1);
        assertTrue(Files.isExecutable(Path.of(built, "bin/java")), built);
        Files.createDirectories(dir.resolve("scripts"));
        Files.createDirectories(dir.resolve("target"));
        // The jar by a symlink: no AOT cache in the copy, the launcher starts without one.
        Files.createSymbolicLink(dir.resolve("target/ebpf-traffic-exporter.jar"), ROOT.resolve("target/ebpf-traffic-exporter.jar"));
        mark = dir.resolve("searched");
        Path find = dir.resolve("scripts/find-jdk.sh");
        Files.writeString(find, "#!/bin/sh\ntouch '" + mark + "'\necho '" + built + "'\n");
        Files.setPosixFilePermissions(find, PosixFilePermissions.fromString("rwxr-xr-x"));
        launcher = dir.resolve("ebpf-traffic-exporter");
        Files.writeString(launcher, text);
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private String version(String... env) {
        List<String> cmd = new java.util.ArrayList<>(List.of("env", "-u", "JAVA_HOME", "-u", "EBPF_EXPORTER_JAVA_HOME"));
        cmd.addAll(List.of(env));
        cmd.addAll(List.of(launcher.toString(), "--version"));
        Cmd.Result r = Cmd.run(cmd);
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("ebpf-traffic-exporter "), r.stdout());
        return r.stdout();
    }

    @Test
    void theBuildsJdkStartsWithoutASearch() {
        version();
        assertFalse(Files.exists(mark), "find-jdk.sh ran although the build's JDK is there");
    }

    @Test
    void aSetJavaHomeIsLookedAtAgain() {
        version("JAVA_HOME=" + built);
        assertTrue(Files.exists(mark), "find-jdk.sh did not run with JAVA_HOME set");
    }

    @Test
    void aBuildJdkThatIsGoneIsLookedForAgain() throws IOException {
        Files.writeString(launcher, Files.readString(launcher).replace("built='" + built + "'", "built='" + dir.resolve("gone") + "'"));
        version();
        assertTrue(Files.exists(mark), "find-jdk.sh did not run with the build's JDK gone");
    }

    @Test
    void ebpfExporterJavaHomeIsTakenAsIs() {
        version("EBPF_EXPORTER_JAVA_HOME=" + built);
        assertFalse(Files.exists(mark), "find-jdk.sh ran although EBPF_EXPORTER_JAVA_HOME was set");
    }
}
