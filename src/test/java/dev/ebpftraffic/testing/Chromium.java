package dev.ebpftraffic.testing;

import dev.ebpftraffic.live.LiveJson;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Debian's headless Chromium, started inside a network namespace ({@code ip netns exec}) so
 * that it reaches an exporter listening there, driven over the Chrome DevTools protocol on
 * {@code --remote-debugging-pipe} (fd 3: commands in, fd 4: answers out, NUL-separated JSON)
 * through two FIFOs. No port is opened, nothing leaves the namespace, no driver is needed.
 * close() kills the browser and removes its profile directory.
 */
public final class Chromium implements AutoCloseable {
    public static final String BINARY = "/usr/bin/chromium";

    private final Process process;
    private final Path dir;
    private final OutputStream commands;
    private final InputStream answers;
    private final Thread reader;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<Map<String, Object>>> pending = new ConcurrentHashMap<>();
    /** Console errors and uncaught exceptions of the page. */
    private final List<String> pageErrors = Collections.synchronizedList(new ArrayList<>());
    private String session;

    private Chromium(Process process, Path dir, OutputStream commands, InputStream answers) {
        this.process = process;
        this.dir = dir;
        this.commands = commands;
        this.answers = answers;
        this.reader = Thread.ofPlatform().daemon(true).name("cdp-reader").start(this::readLoop);
    }

    /** Starts Chromium in namespace ns with a fresh profile and a page of width x height CSS pixels. */
    public static Chromium start(String ns, int width, int height) {
        require(BINARY, "chromium");
        Path dir;
        try {
            dir = Files.createTempDirectory(ExporterProcess.logDir(), "chromium-");
            Path in = dir.resolve("cdp-in");
            Path out = dir.resolve("cdp-out");
            Cmd.run("mkfifo", in.toString(), out.toString()).ok();
            Path log = ExporterProcess.logDir().resolve(dir.getFileName() + ".log");
            String cmd = "exec " + BINARY + " --headless --no-sandbox --disable-gpu --disable-quic"
                    + " --disable-background-networking --disable-component-update --disable-sync --no-first-run"
                    + " --no-default-browser-check --disable-extensions --disable-default-apps --mute-audio"
                    + " --disable-features=Translate,MediaRouter,OptimizationHints --hide-scrollbars"
                    + " --ignore-certificate-errors --force-device-scale-factor=1 --window-size=" + width + "," + height
                    + " --user-data-dir=" + dir.resolve("profile") + " --remote-debugging-pipe about:blank"
                    + " 3<" + in + " 4>" + out;
            Process p = new ProcessBuilder("ip", "netns", "exec", ns, "sh", "-c", cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            // The shell opens fd 3 (our writer) and then fd 4 (our reader): open them in that order.
            CompletableFuture<OutputStream> w = CompletableFuture.supplyAsync(() -> open(() -> Files.newOutputStream(in)));
            OutputStream commands = w.get(20, TimeUnit.SECONDS);
            InputStream answers = CompletableFuture.supplyAsync(() -> open(() -> Files.newInputStream(out)))
                    .get(20, TimeUnit.SECONDS);
            return new Chromium(p, dir, commands, answers);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (Exception e) {
            throw new AssertionError("cannot start " + BINARY + ": " + e, e);
        }
    }

    /** Fails under CI=true, else skips the test, when a Debian package the test needs is missing. */
    public static void require(String binary, String pkg) {
        if (Files.isExecutable(Path.of(binary))) {
            return;
        }
        String why = binary + " is missing: install the Debian package " + pkg + " (make deps does)";
        if (KernelTestCondition.isCi()) {
            throw new AssertionError(why);
        }
        throw new org.opentest4j.TestAbortedException("skipped: " + why);
    }

    private interface Opener<T> {
        T open() throws IOException;
    }

    private static <T> T open(Opener<T> o) {
        try {
            return o.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void readLoop() {
        ByteArrayOutputStream msg = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        try {
            int n;
            while ((n = answers.read(buf)) > 0) {
                for (int i = 0; i < n; i++) {
                    if (buf[i] != 0) {
                        msg.write(buf[i]);
                        continue;
                    }
                    dispatch(msg.toString(StandardCharsets.UTF_8));
                    msg.reset();
                }
            }
        } catch (IOException e) {
            // the browser went away
        }
        pending.values().forEach(f -> f.completeExceptionally(new IOException("Chromium closed the pipe")));
    }

    @SuppressWarnings("unchecked")
    private void dispatch(String json) {
        Map<String, Object> m = (Map<String, Object>) LiveJson.parse(json);
        Object id = m.get("id");
        if (id != null) {
            CompletableFuture<Map<String, Object>> f = pending.remove(((Number) id).intValue());
            if (f != null) {
                f.complete(m);
            }
            return;
        }
        String method = (String) m.get("method");
        Map<String, Object> params = (Map<String, Object>) m.get("params");
        if ("Runtime.exceptionThrown".equals(method)) {
            pageErrors.add("exception: " + params.get("exceptionDetails"));
        } else if ("Runtime.consoleAPICalled".equals(method) && "error".equals(params.get("type"))) {
            pageErrors.add("console.error: " + params.get("args"));
        } else if ("Log.entryAdded".equals(method)) {
            Map<String, Object> e = (Map<String, Object>) params.get("entry");
            if ("error".equals(e.get("level"))) {
                pageErrors.add("log: " + e.get("text") + " " + e.get("url"));
            }
        }
    }

    /** Sends a command (to the attached page once {@link #openPage} ran) and returns its result. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> send(String method, Map<String, Object> params) {
        int id = ids.incrementAndGet();
        StringBuilder b = new StringBuilder("{\"id\":").append(id).append(",\"method\":");
        json(b, method);
        b.append(",\"params\":");
        json(b, params);
        if (session != null && !method.startsWith("Target.") && !method.startsWith("Browser.")) {
            b.append(",\"sessionId\":");
            json(b, session);
        }
        b.append('}');
        CompletableFuture<Map<String, Object>> f = new CompletableFuture<>();
        pending.put(id, f);
        try {
            synchronized (commands) {
                commands.write(b.toString().getBytes(StandardCharsets.UTF_8));
                commands.write(0);
                commands.flush();
            }
            Map<String, Object> answer = f.get(30, TimeUnit.SECONDS);
            if (answer.get("error") != null) {
                throw new AssertionError("CDP " + method + " failed: " + answer.get("error"));
            }
            return (Map<String, Object>) answer.get("result");
        } catch (AssertionError e) {
            throw e;
        } catch (Exception e) {
            throw new AssertionError("CDP " + method + ": " + e + "; browser log:\n" + log(), e);
        }
    }

    /** Opens a page target, attaches to it and enables the domains the tests use. */
    @SuppressWarnings("unchecked")
    public void openPage(Map<String, String> extraHeaders) {
        String target = (String) send("Target.createTarget", Map.of("url", "about:blank")).get("targetId");
        session = (String) send("Target.attachToTarget", Map.of("targetId", target, "flatten", true)).get("sessionId");
        send("Page.enable", Map.of());
        send("Runtime.enable", Map.of());
        send("Log.enable", Map.of());
        send("Network.enable", Map.of());
        if (!extraHeaders.isEmpty()) {
            send("Network.setExtraHTTPHeaders", Map.of("headers", Map.copyOf(extraHeaders)));
        }
    }

    public void navigate(String url) {
        Map<String, Object> r = send("Page.navigate", Map.of("url", url));
        if (r.get("errorText") != null) {
            throw new AssertionError("navigating to " + url + ": " + r.get("errorText"));
        }
    }

    /** Evaluates a JavaScript expression in the page (promises awaited) and returns its JSON value. */
    @SuppressWarnings("unchecked")
    public Object eval(String expression) {
        Map<String, Object> r = send("Runtime.evaluate", Map.of("expression", expression, "returnByValue", true,
                "awaitPromise", true));
        if (r.get("exceptionDetails") != null) {
            throw new AssertionError("JavaScript failed: " + expression + "\n" + r.get("exceptionDetails"));
        }
        return ((Map<String, Object>) r.get("result")).get("value");
    }

    /** Polls a boolean expression until it is true; fails with the last state after timeoutMillis. */
    public void await(String expression, long timeoutMillis, String what) {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000;
        while (true) {
            if (Boolean.TRUE.equals(eval(expression))) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + " (" + expression + "); page text:\n"
                        + eval("document.body ? document.body.innerText : ''") + "\npage errors: " + pageErrors);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /** A PNG of the page as it is now. */
    public byte[] screenshot() {
        String data = (String) send("Page.captureScreenshot", Map.of("format", "png", "captureBeyondViewport", true))
                .get("data");
        return Base64.getDecoder().decode(data);
    }

    /**
     * A PNG of the page as it is now, also written to target/live-view/NAME; with -Dlive.updateDocs=true
     * and docs (a picture the README shows) to docs/NAME as well.
     */
    public byte[] screenshot(String name, boolean docs) throws IOException {
        byte[] png = screenshot();
        Path root = ExporterProcess.projectRoot();
        Files.createDirectories(root.resolve("target/live-view"));
        Files.write(root.resolve("target/live-view").resolve(name), png);
        if (docs && Boolean.getBoolean("live.updateDocs")) {
            Files.createDirectories(root.resolve("docs"));
            Files.write(root.resolve("docs").resolve(name), png);
        }
        return png;
    }

    public List<String> pageErrors() {
        return List.copyOf(pageErrors);
    }

    public String log() {
        try {
            return Files.readString(ExporterProcess.logDir().resolve(dir.getFileName() + ".log"));
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }

    /** Minimal JSON for CDP parameters: maps, lists, strings, numbers, booleans. */
    static void json(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof String s) {
            b.append('"');
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    default -> {
                        if (c < 0x20) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                    }
                }
            }
            b.append('"');
        } else if (v instanceof Map<?, ?> m) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                json(b, e.getKey().toString());
                b.append(':');
                json(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof List<?> l) {
            b.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    b.append(',');
                }
                json(b, l.get(i));
            }
            b.append(']');
        } else {
            b.append(v); // numbers, booleans
        }
    }

    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                try {
                    send("Browser.close", Map.of());
                } catch (AssertionError e) {
                    // killed below
                }
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            try {
                process.waitFor(5, TimeUnit.SECONDS);
                commands.close();
                answers.close();
            } catch (IOException | InterruptedException e) {
                // best effort
            }
            deleteTree(dir.resolve("profile"));
        }
    }

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) {
            return;
        }
        try (var walk = Files.walk(p)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
        } catch (IOException e) {
            // leave it in target/
        }
    }
}
