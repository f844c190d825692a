package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The installed launcher keeps the Kubernetes client's jar off the class path unless a --kubernetes flag
 * is given: an exporter without the flag, attached, scraped and idle, has not opened that jar (the JDK
 * opens every jar of the class path at its first service lookup and keeps its central directory on the
 * heap), while its own jar is open; with the flag, the client is there (a kubeconfig that does not
 * does not parse is the client's error, not a missing class).
 */
@KernelTest
class LauncherKubernetesJarKernelTest {
    static final int PORT = 9474;
    static final String ADDR = "127.0.0.1:" + PORT;

    static List<String> openFiles(long pid) throws IOException {
        List<String> files = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    files.add(Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        files.addAll(Files.readAllLines(Path.of("/proc/" + pid + "/maps")));
        return files;
    }

    /** The class path the installed launcher gives the JVM for these flags (the JVM prints it with -XshowSettings). */
    static List<String> classPath(Install in, String... flags) {
        List<String> cmd = new ArrayList<>(List.of("env", "JDK_JAVA_OPTIONS=-XshowSettings:properties", in.launcher().toString()));
        cmd.addAll(List.of(flags));
        cmd.add("--version");
        Cmd.Result r = Cmd.run(cmd);
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        List<String> lines = r.stderr().lines().toList();
        List<String> cp = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).strip().startsWith("java.class.path = ")) {
                cp.add(lines.get(i).strip().substring("java.class.path = ".length()));
                for (int j = i + 1; j < lines.size() && !lines.get(j).contains(" = "); j++) {
                    cp.add(lines.get(j).strip());
                }
            }
        }
        return cp;
    }

    @Test
    void theClientsJarIsOnTheClassPathOnlyWhenTheModeIsOn() {
        try (Install in = new Install()) {
            String jar = in.launcher().resolveSibling("target/ebpf-traffic-exporter.jar").toString();
            String kubeJar = in.launcher().resolveSibling("target/ebpf-traffic-exporter-kubernetes.jar").toString();
            assertEquals(List.of(jar), classPath(in));
            assertEquals(List.of(jar), classPath(in, "--kubernetes", "off"));
            assertEquals(List.of(jar), classPath(in, "--kubernetes=off"));
            assertEquals(List.of(jar, kubeJar), classPath(in, "--kubernetes", "labels"));
            assertEquals(List.of(jar, kubeJar), classPath(in, "--kubernetes=aggregate"));
            assertEquals(List.of(jar, kubeJar), classPath(in, "--log.level", "warn", "--kubernetes", "aggregate"));
        }
    }

    @Test
    void theClientsJarIsOpenedOnlyWithTheFlag() throws IOException {
        try (Install in = new Install()) {
            Path jar = in.launcher().resolveSibling("target/ebpf-traffic-exporter.jar");
            Path kubeJar = in.launcher().resolveSibling("target/ebpf-traffic-exporter-kubernetes.jar");
            assertTrue(Files.size(kubeJar) > 1_000_000, "make install did not install " + kubeJar);
            try (NetNs net = NetNs.pair()) {
                net.addPair("10.78.0.1", "10.78.0.2", 24);
                ExporterProcess exp = net.own(ExporterProcess.start(in.launcher(), net.a, PORT, Map.of(), "kube-jar-off",
                        List.of(), "--iface", net.ifA, "--addr", ADDR));
                exp.awaitAttached(Duration.ofSeconds(30));
                exp.scrape();
                List<String> open = openFiles(exp.pid());
                assertTrue(open.stream().anyMatch(f -> f.endsWith(jar.toString())), "the exporter's own jar is not open: " + open);
                assertFalse(open.stream().anyMatch(f -> f.contains(kubeJar.getFileName().toString())),
                        "an exporter without --kubernetes opened " + kubeJar + ": " + open);
                exp.stop();
            }
            // With the flag the client is on the class path: the start fails on a kubeconfig that is not one,
            // with the client's parse error, before anything touches the kernel.
            Path bad = in.root.resolve("bad-kubeconfig");
            Files.writeString(bad, "clusters: [\n");
            Cmd.Result r = Cmd.run(List.of(in.launcher().toString(), "--iface", "lo", "--addr", ADDR,
                    "--kubernetes", "labels", "--kubernetes.kubeconfig", bad.toString()));
            assertEquals(1, r.exitCode(), r.stdout() + r.stderr());
            assertTrue(r.stderr().contains("--kubernetes.kubeconfig " + bad + ": "), r.stderr());
            assertFalse(r.stderr().contains("needs the Kubernetes client"), r.stderr());
        }
    }
}
