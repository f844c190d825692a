package dev.ebpftraffic.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The exporter started through the ./ebpf-traffic-exporter launcher inside a network namespace
 * (optionally behind a prefix such as setpriv). close() stops it with SIGTERM, then SIGKILL.
 */
public final class ExporterProcess implements AutoCloseable {
    public final Process process;
    public final Path log;
    private final String ns;

    private ExporterProcess(Process process, Path log, String ns) {
        this.process = process;
        this.log = log;
        this.ns = ns;
    }

    public static Path projectRoot() {
        return Path.of(System.getProperty("project.root", ".")).toAbsolutePath();
    }

    public static Path launcher() {
        Path l = projectRoot().resolve("ebpf-traffic-exporter");
        if (!Files.isExecutable(l)) {
            throw new AssertionError(l + " is missing: run `make build` first");
        }
        return l;
    }

    /** ip netns exec NS [prefix...] LAUNCHER args... */
    public static ExporterProcess start(String ns, List<String> prefix, Path launcher, String... args) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(prefix);
        cmd.add(launcher.toString());
        cmd.addAll(List.of(args));
        try {
            Path log = Files.createTempFile("exporter", ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            return new ExporterProcess(p, log, ns);
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd + ": " + e.getMessage(), e);
        }
    }

    public String logText() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read the log: " + e.getMessage() + ")";
        }
    }

    /** Polls URL with curl (args before the URL) inside the namespace until it answers 200; fails after the timeout. */
    public void awaitReady(String url, long timeoutMillis, String... curlArgs) {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < deadline) {
            if (!process.isAlive()) {
                throw new AssertionError("the exporter exited with " + process.exitValue() + ":\n" + logText());
            }
            List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2"));
            cmd.addAll(List.of(curlArgs));
            cmd.add(url);
            if (Cmd.run(null, VethLab.in(ns, cmd.toArray(new String[0]))).out().equals("200")) {
                return;
            }
            sleep(100);
        }
        throw new AssertionError("the exporter did not become ready at " + url + " within " + timeoutMillis + " ms:\n" + logText());
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit code. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
    }
}
