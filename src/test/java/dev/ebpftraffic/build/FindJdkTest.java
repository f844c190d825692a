package dev.ebpftraffic.build;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JDK the build accepts is the JDK it compiles for: the pom's release, its enforcer's minimum and
 * scripts/find-jdk.sh's minimum are one number, and find-jdk.sh refuses a JDK one version below it.
 */
class FindJdkTest {
    static final Path ROOT = ExporterProcess.projectRoot();
    static final Path FIND_JDK = ROOT.resolve("scripts/find-jdk.sh");

    static int group(String text, String regex, String what) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), () -> what + " not found (" + regex + ")");
        return Integer.parseInt(m.group(1));
    }

    static int release() throws IOException {
        return group(Files.readString(ROOT.resolve("pom.xml")), "<maven\\.compiler\\.release>(\\d+)</maven\\.compiler\\.release>", "pom release");
    }

    @Test
    void pomReleaseEnforcerAndFindJdkAgree() throws IOException {
        String pom = Files.readString(ROOT.resolve("pom.xml"));
        int release = release();
        int enforcer = group(pom, "<requireJavaVersion>\\s*<version>\\[(\\d+),\\)</version>", "enforcer requireJavaVersion");
        int findJdk = group(Files.readString(FIND_JDK), "MIN=\\$\\{MIN_JAVA_VERSION:-(\\d+)}", "find-jdk.sh MIN");
        assertEquals(release, enforcer, "enforcer minimum vs maven.compiler.release");
        assertEquals(release, findJdk, "find-jdk.sh minimum vs maven.compiler.release");
    }

    /** A JDK home that find-jdk.sh takes for version `version` (a release file and an executable bin/javac). */
    static Path fakeJdk(Path dir, int version) throws IOException {
        Files.createDirectories(dir.resolve("bin"));
        Files.writeString(dir.resolve("release"), "JAVA_VERSION=\"" + version + ".0.1\"\n");
        Path javac = Files.writeString(dir.resolve("bin/javac"), "#!/bin/sh\nexit 1\n");
        Files.setPosixFilePermissions(javac, PosixFilePermissions.fromString("rwxr-xr-x"));
        return dir;
    }

    /**
     * find-jdk.sh with only the fake trees to choose from: JAVA_HOME, JVM_DIR, and a PATH that holds the
     * tools the script uses but no java or javac.
     */
    static Cmd.Result findJdk(Path javaHome, Path jvmDir) throws IOException {
        Path bin = Files.createDirectories(jvmDir.resolveSibling("bin"));
        for (String tool : new String[] {"sed", "sort", "cut", "dirname", "readlink"}) {
            Path real = Files.exists(Path.of("/usr/bin", tool)) ? Path.of("/usr/bin", tool) : Path.of("/bin", tool);
            Path wrapper = Files.writeString(bin.resolve(tool), "#!/bin/sh\nexec " + real + " \"$@\"\n");
            Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return Cmd.run("env", "-i", "PATH=" + bin, "JAVA_HOME=" + javaHome, "JVM_DIR=" + jvmDir,
                "/bin/sh", FIND_JDK.toString());
    }

    @Test
    void aJdkOneVersionBelowTheReleaseIsRefusedClearly(@TempDir Path tmp) throws IOException {
        int release = release();
        Path jvm = Files.createDirectories(tmp.resolve("jvm"));
        Path old = fakeJdk(jvm.resolve("jdk-" + (release - 1)), release - 1);
        Cmd.Result r = findJdk(old, jvm);
        assertEquals(1, r.exitCode(), r::toString);
        assertEquals("", r.stdout(), r::toString);
        assertTrue(r.stderr().strip().startsWith("no JDK >= " + release + " found"), r::toString);
        assertEquals(1, r.stderr().strip().lines().count(), () -> "one line: " + r);
    }

    @Test
    void aJdkOfTheReleaseIsChosen(@TempDir Path tmp) throws IOException {
        int release = release();
        Path jvm = Files.createDirectories(tmp.resolve("jvm"));
        Path old = fakeJdk(jvm.resolve("jdk-" + (release - 1)), release - 1);
        Path ok = fakeJdk(jvm.resolve("jdk-" + release), release);
        Cmd.Result r = findJdk(old, jvm);
        assertEquals(0, r.exitCode(), r::toString);
        assertEquals(ok.toString(), r.stdout().strip());
    }
}
