package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The installed launcher (`make install`) with its AOT cache, without it, and with a damaged one:
 * the same output and exit code every time, no warning from the JVM, and the cache used only when
 * it is whole (the JVM's class-load log, written to a file, says where each class came from).
 */
class LauncherAotCacheTest {
    static Install install;

    @TempDir
    Path dir;

    @BeforeAll
    static void installIt() {
        install = new Install();
    }

    @AfterAll
    static void removeIt() {
        if (install != null) {
            install.close();
        }
    }

    Path cache() {
        return install.launcher().resolveSibling("target/ebpf-traffic-exporter.aot");
    }

    /** Runs `launcher --version` with class loading logged to a file; returns [output, the log]. */
    String[] version(String tag, String... flags) throws IOException {
        Path log = dir.resolve(tag + ".log");
        List<String> cmd = new java.util.ArrayList<>(List.of("env", "JDK_JAVA_OPTIONS=-Xlog:class+load=info:file=" + log,
                install.launcher().toString()));
        cmd.addAll(List.of(flags));
        cmd.add("--version");
        Cmd.Result r = Cmd.run(cmd);
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        // The launcher's JVM notes the JDK_JAVA_OPTIONS it picked up; nothing else may be on stderr.
        String err = r.stderr().lines().filter(l -> !l.startsWith("NOTE: Picked up JDK_JAVA_OPTIONS")).reduce("", String::concat);
        assertEquals("", err, tag);
        return new String[] {r.stdout(), Files.readString(log)};
    }

    static boolean mainFromCache(String classLoadLog) {
        return classLoadLog.lines().anyMatch(l -> l.contains(" dev.ebpftraffic.app.Main ") && l.contains("source: shared objects file"));
    }

    @Test
    void sameOutputWithWholeDamagedOrMissingCache() throws IOException {
        assertTrue(Files.isRegularFile(cache()) && Files.size(cache()) > 1_000_000, "make install did not install the AOT cache at " + cache());
        String[] whole = version("whole");
        assertTrue(whole[0].matches("ebpf-traffic-exporter \\S+ \\(java 25[^)]*\\)\\n"), whole[0]);
        assertTrue(mainFromCache(whole[1]), "the whole cache was not used");

        byte[] bytes = Files.readAllBytes(cache());
        Files.write(cache(), Arrays.copyOf(bytes, bytes.length / 2)); // truncated
        String[] truncated = version("truncated");
        assertEquals(whole[0], truncated[0]);
        assertFalse(mainFromCache(truncated[1]), "a truncated cache was used");

        byte[] flipped = bytes.clone();
        for (int i = 0; i < 64; i++) { // the header: magic, version, CRCs
            flipped[i] ^= (byte) 0x5a;
        }
        Files.write(cache(), flipped);
        String[] corrupt = version("corrupt");
        assertEquals(whole[0], corrupt[0]);
        assertFalse(mainFromCache(corrupt[1]), "a corrupt cache was used");

        Files.delete(cache());
        String[] missing = version("missing");
        assertEquals(whole[0], missing[0]);
        assertFalse(mainFromCache(missing[1]));

        Files.write(cache(), bytes); // back: it is used again
        assertTrue(mainFromCache(version("restored")[1]));
    }

    /** A --kubernetes flag appends the client's jar to the class path; the cache (trained without it) is still used. */
    @Test
    void theCacheIsUsedWithTheKubernetesJar() throws IOException {
        String[] plain = version("plain");
        String[] kube = version("kubernetes", "--kubernetes", "labels");
        assertEquals(plain[0], kube[0]);
        assertTrue(mainFromCache(kube[1]), "the cache was not used with --kubernetes");
    }
}
