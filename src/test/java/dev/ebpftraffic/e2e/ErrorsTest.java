package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.TcHooks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Start-up failures through the launcher: each exits with the documented code and exactly one
 * error line on stderr that says what to fix (no stack trace), and leaves nothing attached.
 */
@KernelTest
@Timeout(120)
class ErrorsTest {
    private static final List<String> NOBODY = List.of("setpriv", "--reuid=65534", "--regid=65534",
            "--clear-groups", "--inh-caps=-all", "--bounding-set=-all");
    private static NetNs net;

    @BeforeAll
    static void setUp() {
        net = NetNs.pair();
        net.addPair("10.99.0.1", "10.99.0.2", 24);
    }

    @AfterAll
    static void tearDown() {
        if (net != null) {
            net.close();
        }
    }

    @AfterEach
    void nothingAttached() {
        TcHooks.assertNothingAttached(net.b, net.ifB);
    }

    private static Cmd.Result run(String name, List<String> wrapper, String... extra) {
        List<String> args = new ArrayList<>(List.of("--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
        args.addAll(List.of(extra));
        return ExporterProcess.run(net.b, name, wrapper, args.toArray(String[]::new));
    }

    /** Exit 1, exactly one level=error line containing what, no stack trace. */
    private static void assertFailsWith(Cmd.Result r, String what) {
        assertEquals(1, r.exitCode(), r.toString());
        List<String> errors = ExporterProcess.errorLines(r.stderr());
        assertEquals(1, errors.size(), "want exactly one error line:\n" + r.stderr());
        assertTrue(errors.getFirst().contains(what), "error line does not say \"" + what + "\": " + errors.getFirst());
        assertFalse(r.stderr().contains("\tat ") || r.stderr().contains("Exception"), "stack trace:\n" + r.stderr());
        assertFalse(r.stderr().contains("libbpf: libbpf:"), "libbpf prefix printed twice:\n" + r.stderr());
        assertEquals("", r.stdout());
    }

    @Test
    void interfaceThatDoesNotExist() {
        Cmd.Result r = ExporterProcess.run(net.b, "no-iface", List.of(),
                "--iface", "nosuch0", "--addr", ExporterProcess.LISTEN);
        assertFailsWith(r, "does not exist");
        assertTrue(r.stderr().contains("nosuch0") && r.stderr().contains("--iface"), r.stderr());
    }

    @ParameterizedTest
    @ValueSource(strings = {"9091", "[::1", ":99999", "127.0.0.1:", "::1:9091"})
    void malformedListenAddress(String addr) {
        Cmd.Result r = ExporterProcess.run(net.b, "bad-addr", List.of(), "--iface", net.ifB, "--addr", addr);
        assertEquals(2, r.exitCode(), r.toString());
        List<String> lines = r.stderr().lines().toList();
        assertEquals(1, lines.size(), "want exactly one line:\n" + r.stderr());
        assertTrue(lines.getFirst().startsWith("ebpf-traffic-exporter: invalid --addr \"" + addr + "\""), lines.getFirst());
        assertEquals("", r.stdout());
    }

    @Test
    void portAlreadyInUse() throws Exception {
        try (ServerSocket taken = Setns.call(net.b, () -> {
            ServerSocket s = new ServerSocket();
            s.bind(new InetSocketAddress("127.0.0.1", ExporterProcess.PORT));
            return s;
        })) {
            Cmd.Result r = run("port-in-use", List.of());
            assertFailsWith(r, "address already in use");
            assertTrue(r.stderr().contains(ExporterProcess.LISTEN), r.stderr());
        }
    }

    @Test
    void withoutPrivileges() {
        // The unprivileged JVM can read the JDK and the jar: --version works as nobody.
        Cmd.Result v = ExporterProcess.run(net.b, "nobody-version", NOBODY, "--version");
        assertEquals(0, v.exitCode(), v.toString());
        assertTrue(v.stdout().startsWith("ebpf-traffic-exporter "), v.stdout());

        Cmd.Result r = run("nobody", NOBODY);
        assertFailsWith(r, "permission denied");
        assertTrue(r.stderr().contains("run as root"), r.stderr());
        assertEquals(1, r.stderr().lines().count(), "only the error line, no libbpf warnings before it:\n" + r.stderr());
        // With --log.level debug, libbpf's messages are there (at debug).
        Cmd.Result d = run("nobody-debug", NOBODY, "--log.level", "debug");
        assertEquals(1, d.exitCode(), d.toString());
        assertTrue(d.stderr().lines().anyMatch(l -> l.contains("level=debug msg=\"libbpf: ")), d.stderr());
    }

    @Test
    void withoutLibbpf() {
        Cmd.Result r = run("no-libbpf", List.of(), "--libbpf-path", "/nonexistent/libbpf.so.1");
        assertFailsWith(r, "cannot load /nonexistent/libbpf.so.1");
        assertTrue(r.stderr().contains("libbpf1"), "says what to install: " + r.stderr());
    }

    @Test
    void kernelWithoutBpf() throws Exception {
        Path src = ExporterProcess.projectRoot().resolve("src/test/c/no_bpf_syscall.c");
        Path bin = ExporterProcess.projectRoot().resolve("target/e2e-bin/no_bpf_syscall");
        Files.createDirectories(bin.getParent());
        Cmd.run("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin.toString(), src.toString()).ok();
        // The shim works: bpftool under it cannot use bpf(2) at all.
        Cmd.Result probe = Cmd.run(bin.toString(), "bpftool", "prog", "show");
        assertTrue(probe.exitCode() != 0 && (probe.stderr() + probe.stdout()).contains("Function not implemented"),
                probe.toString());

        Cmd.Result r = run("no-bpf", List.of(bin.toString()));
        assertFailsWith(r, "no BPF support");
    }
}
