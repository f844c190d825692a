package dev.ebpftraffic.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The exporter started through the repository's launcher (./ebpf-traffic-exporter, built by
 * `make build`) inside a network namespace: {@code ip netns exec NS [wrapper...] LAUNCHER args}.
 * ip netns exec and the launcher both exec, so the process is the exporter's JVM itself and
 * SIGTERM/SIGKILL reach it directly. stdout and stderr go to target/e2e-logs/.
 */
public final class ExporterProcess implements AutoCloseable {
    /** Where every exporter listens, inside its own namespace. */
    public static final int PORT = 9091;
    public static final String LISTEN = "127.0.0.1:" + PORT;
    private static final AtomicInteger SEQ = new AtomicInteger();

    private final String ns;
    private final int port;
    private final String name;
    private final Process process;
    private final Path out;
    private final Path err;

    private ExporterProcess(String ns, int port, String name, Process process, Path out, Path err) {
        this.ns = ns;
        this.port = port;
        this.name = name;
        this.process = process;
        this.out = out;
        this.err = err;
    }

    public static Path projectRoot() {
        String root = System.getProperty("project.root");
        if (root == null) {
            throw new AssertionError("system property project.root is not set (surefire sets it; run through scripts/mvn)");
        }
        return Path.of(root).toAbsolutePath();
    }

    /** ./ebpf-traffic-exporter in the repository root; fails when `make build` was not run. */
    public static Path launcher() {
        Path l = projectRoot().resolve("ebpf-traffic-exporter");
        if (!Files.isExecutable(l) || !Files.exists(projectRoot().resolve("target/ebpf-traffic-exporter.jar"))) {
            throw new AssertionError(l + " or target/ebpf-traffic-exporter.jar is missing: run `make build` first");
        }
        return l;
    }

    public static Path logDir() {
        Path d = projectRoot().resolve("target/e2e-logs");
        try {
            Files.createDirectories(d);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return d;
    }

    /** Starts the launcher with args in ns; does not wait for anything. */
    public static ExporterProcess start(String ns, String name, String... args) {
        return start(ns, name, List.of(), args);
    }

    /**
     * Starts {@code ip netns exec ns wrapper... LAUNCHER args...}. The wrapper (setpriv, a seccomp
     * shim) must exec the launcher, so that signals reach the JVM.
     */
    public static ExporterProcess start(String ns, String name, List<String> wrapper, String... args) {
        return start(ns, PORT, Map.of(), name, wrapper, args);
    }

    /**
     * As {@link #start(String, String, List, String...)}, for an exporter listening on port (its args
     * must say so) and with extra environment variables.
     */
    public static ExporterProcess start(String ns, int port, Map<String, String> env, String name, List<String> wrapper,
                                        String... args) {
        return start(launcher(), ns, port, env, name, wrapper, args);
    }

    /**
     * As {@link #start(String, int, Map, String, List, String...)}, with another launcher than the
     * repository's: the one `make install` laid out, which the least-privilege test runs as the unit does.
     */
    public static ExporterProcess start(Path launcher, String ns, int port, Map<String, String> env, String name,
                                        List<String> wrapper, String... args) {
        List<String> prefix = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        prefix.addAll(wrapper);
        return start(prefix, launcher, ns, port, env, name, args);
    }

    /**
     * Starts the launcher in ns with {@code nsenter --net=/var/run/netns/NS}: unlike ip netns exec, it
     * does not remount /sys, so the exporter sees the host's cgroup2 mount (per-workload traffic).
     */
    public static ExporterProcess startSeeingCgroups(String ns, String name, String... args) {
        return startSeeingCgroups(launcher(), ns, PORT, List.of(), name, args);
    }

    /** As {@link #startSeeingCgroups(String, String, String...)} with extra environment variables. */
    public static ExporterProcess startSeeingCgroups(String ns, Map<String, String> env, String name, String... args) {
        return start(List.of("nsenter", "--net=/var/run/netns/" + ns), launcher(), ns, PORT, env, name, args);
    }

    /** As {@link #startSeeingCgroups(String, String, String...)} with another launcher, port and a wrapper (setpriv). */
    public static ExporterProcess startSeeingCgroups(Path launcher, String ns, int port, List<String> wrapper, String name,
                                                     String... args) {
        List<String> prefix = new ArrayList<>(List.of("nsenter", "--net=/var/run/netns/" + ns));
        prefix.addAll(wrapper);
        return start(prefix, launcher, ns, port, Map.of(), name, args);
    }

    private static ExporterProcess start(List<String> prefix, Path launcher, String ns, int port, Map<String, String> env,
                                         String name, String... args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(launcher.toString());
        cmd.addAll(List.of(args));
        String base = name + "-" + SEQ.incrementAndGet();
        Path out = logDir().resolve(base + ".out");
        Path err = logDir().resolve(base + ".err");
        try {
            Files.writeString(logDir().resolve(base + ".cmd"), String.join(" ", cmd) + "\n");
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            pb.environment().putAll(env);
            Process p = pb.start();
            return new ExporterProcess(ns, port, base, p, out, err);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + cmd, e);
        }
    }

    /** Runs the launcher to completion (for start-up failures) and returns what it did. */
    public static Cmd.Result run(String ns, String name, List<String> wrapper, String... args) {
        try (ExporterProcess p = start(ns, name, wrapper, args)) {
            int code = p.waitForExit(Duration.ofSeconds(30));
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
            cmd.addAll(wrapper);
            cmd.add(launcher().toString());
            cmd.addAll(List.of(args));
            return new Cmd.Result(cmd, code, p.stdout(), p.stderr());
        }
    }

    /**
     * Polls /metrics (from inside the namespace) until ebpf_traffic_exporter_attached shows both
     * hooks; fails with the exporter's log if it exits or takes longer than timeout.
     */
    public Metrics awaitAttached(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no scrape yet";
        while (true) {
            if (!process.isAlive()) {
                throw new AssertionError("exporter " + name + " exited with " + process.exitValue()
                        + " before attaching; stderr:\n" + stderr());
            }
            try {
                Metrics m = Metrics.scrape(ns, "127.0.0.1", port);
                List<Metrics.Sample> hooks = m.samples("ebpf_traffic_exporter_attached");
                if (hooks.stream().anyMatch(s -> "ingress".equals(s.label("hook")))
                        && hooks.stream().anyMatch(s -> "egress".equals(s.label("hook")))) {
                    return m;
                }
                last = "attached=" + hooks;
            } catch (RuntimeException e) {
                last = e.toString();
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("exporter " + name + " not attached after " + timeout + " (" + last
                        + "); stderr:\n" + stderr());
            }
            sleep(100);
        }
    }

    /**
     * Polls url with curl inside the namespace (curlArgs before the URL: CA, client certificate,
     * basic auth) until it answers 200; fails with the exporter's log if it exits or takes longer
     * than timeout. For exporters that awaitAttached cannot scrape: TLS, auth, another metrics path.
     */
    public void awaitReady(String url, Duration timeout, String... curlArgs) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> curl = new ArrayList<>(List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2"));
        curl.addAll(List.of(curlArgs));
        curl.add(url);
        String last = "no request yet";
        while (true) {
            if (!process.isAlive()) {
                throw new AssertionError("exporter " + name + " exited with " + process.exitValue()
                        + " before " + url + " answered 200; stderr:\n" + stderr());
            }
            Cmd.Result r = Cmd.run(NetNs.in(ns, curl.toArray(new String[0])));
            if (r.stdout().equals("200")) {
                return;
            }
            last = "HTTP " + r.stdout() + ", curl exit " + r.exitCode();
            if (System.nanoTime() > deadline) {
                throw new AssertionError("exporter " + name + ": " + url + " did not answer 200 within " + timeout
                        + " (" + last + "); stderr:\n" + stderr());
            }
            sleep(100);
        }
    }

    /**
     * A settled scrape: a series shows 0 in the first scrape that exports it (so that increase()
     * counts its first traffic), so this scrapes twice and returns the second.
     */
    public Metrics scrape() {
        Metrics.scrape(ns, "127.0.0.1", port);
        return Metrics.scrape(ns, "127.0.0.1", port);
    }

    /** One scrape, as a Prometheus server would see it. */
    public Metrics scrapeOnce() {
        return Metrics.scrape(ns, "127.0.0.1", port);
    }

    /** "127.0.0.1:PORT" of this exporter. */
    public String listen() {
        return "127.0.0.1:" + port;
    }

    /** SIGTERM, then waits for the exit; returns the exit code. */
    public int stop() {
        process.destroy();
        return waitForExit(Duration.ofSeconds(20));
    }

    /** SIGKILL, then waits for the exit. */
    public int kill() {
        process.destroyForcibly();
        return waitForExit(Duration.ofSeconds(20));
    }

    public int waitForExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("exporter " + name + " did not exit within " + timeout + "; stderr:\n" + stderr());
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public String stderr() {
        return read(err);
    }

    public String stdout() {
        return read(out);
    }

    /** The logfmt lines with level=error. */
    public static List<String> errorLines(String stderr) {
        return stderr.lines().filter(l -> l.contains(" level=error ")).toList();
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Kills the exporter if it still runs (a test that stops it on purpose calls stop() first). */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
