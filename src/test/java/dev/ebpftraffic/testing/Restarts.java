package dev.ebpftraffic.testing;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Restarts of an exporter with --bpf.pin-path and --state.file under traffic, the way the restart
 * tests do them: ended by SIGTERM, by SIGKILL at a random moment, or dying by itself right before
 * ("before-write") or right after ("after-write") a state write that follows a read which moved
 * kernel entries (EBPF_TRAFFIC_EXPORTER_TEST_CRASH), then started again over the same pins and
 * state file. Each test says how it starts an exporter and what it checks while none runs.
 */
public final class Restarts {
    private final String signal;
    private final boolean selfCrash;
    private final Map<String, String> env;
    private final List<String> logs = new ArrayList<>();
    private Supplier<Set<Integer>> crashEpochs;
    private String crashMap;
    private Consumer<ExporterProcess> whileDown = e -> { };
    private Consumer<ExporterProcess> started = e -> { };

    /** signal: SIGTERM, SIGKILL, before-write or after-write. */
    public Restarts(String signal) {
        this.signal = signal;
        this.selfCrash = signal.endsWith("-write");
        this.env = selfCrash ? Map.of("EBPF_TRAFFIC_EXPORTER_TEST_CRASH", signal) : Map.of();
    }

    /** The environment of every exporter but the last: with a self crash, the crash it makes. */
    public Map<String, String> env() {
        return env;
    }

    public String signal() {
        return signal;
    }

    /**
     * After a self crash the window was hit: the pinned map (named for messages) holds entries of
     * both epochs, those the dead process moved out (saved or not) beside the current epoch's.
     */
    public Restarts crashLeavesBothEpochs(String map, Supplier<Set<Integer>> epochs) {
        this.crashMap = map;
        this.crashEpochs = epochs;
        return this;
    }

    /** Checks while no exporter runs, given the one that just ended (the pinned links keep counting). */
    public Restarts whileDown(Consumer<ExporterProcess> check) {
        this.whileDown = check;
        return this;
    }

    /** Checks after each restart, beside the log lines every restart must have. */
    public Restarts started(Consumer<ExporterProcess> check) {
        this.started = check;
        return this;
    }

    /**
     * Two restarts of first, 1.5 s apart while udp flows: each ends as the signal says, then
     * start(name, env) makes the next one (the last runs to the end: no crash), and the scraper
     * follows it. Then udp stops, and after 600 ms the scraper takes finalScrapes more samples so that
     * the last one holds everything. Returns the exporter that runs at the end.
     */
    public ExporterProcess twice(String name, ExporterProcess first, SteadyUdp udp, SeriesScraper scraper,
                                 BiFunction<String, Map<String, String>, ExporterProcess> start, int finalScrapes) {
        ExporterProcess exporter = first;
        try {
            for (int round = 2; round <= 3; round++) {
                end(exporter);
                whileDown.accept(exporter);
                sleep(700);
                exporter = start.apply(name + "-" + round, round < 3 ? env : Map.of());
                scraper.switchTo(exporter);
                String err = exporter.stderr();
                assertTrue(err.contains("reusing the pinned maps"), err);
                assertTrue(err.contains("counters continue, with what the kernel counted meanwhile"), err);
                assertFalse(err.contains("is not the last one"), err);
                started.accept(exporter);
            }
            sleep(1500);
        } finally {
            udp.stop(); // every datagram arrived: sent() is exact
        }
        sleep(600);
        for (int i = 0; i < finalScrapes; i++) {
            scraper.scrapeOnce();
        }
        logs.add(exporter.stderr());
        return exporter;
    }

    /** Ends the exporter as the signal says and checks its exit code (and, after SIGTERM, a log without errors). */
    private void end(ExporterProcess exporter) {
        int code;
        if (selfCrash) {
            code = exporter.waitForExit(Duration.ofSeconds(20)); // halts by itself after 1.5 s
        } else {
            sleep(1500);
            code = signal.equals("SIGTERM") ? exporter.stop() : exporter.kill();
        }
        logs.add(exporter.stderr());
        assertEquals(signal.equals("SIGTERM") ? 143 : 137, code == 0 ? 143 : code,
                "exit code after " + signal + "\n" + exporter.stderr());
        if (signal.equals("SIGTERM")) {
            assertEquals(List.of(), ExporterProcess.errorLines(exporter.stderr()), exporter.stderr());
        }
        if (selfCrash) {
            assertEquals(Set.of(0, 1), crashEpochs.get(), "epochs of the pinned " + crashMap + " entries after a crash " + signal);
        }
    }

    /** For failure messages: the scrapes, the series, and every exporter's log. */
    public String context(SeriesScraper scraper) {
        return signal + ": " + scraper.scrapes() + " scrapes, " + scraper.increase()[2] + " resets, series "
                + scraper.seriesNames() + ", packets per scrape " + scraper.packets() + "\n" + String.join("\n---\n", logs);
    }

    /** sum(increase()) of {bytes, packets, resets} is exactly what was sent, with no reset. */
    public static void assertExact(String what, long packets, long bytes, long[] increase, String context) {
        assertEquals(packets, increase[1], what + " packets: sum(increase()) over the run vs sent; " + context);
        assertEquals(bytes, increase[0], what + " bytes: sum(increase()) over the run vs sent; " + context);
        assertEquals(0, increase[2], what + ": no counter reset across restarts; " + context);
    }

    /** SIGTERM: the exporter exits 0 or 143. */
    public static void stop(ExporterProcess e) {
        int code = e.stop();
        assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code);
    }

    /** `ebpf-traffic-exporter uninstall` in ns for these pins and state file; it must succeed. */
    public static Cmd.Result uninstall(String ns, Path pins, Path state) {
        Cmd.Result u = Cmd.run(List.of("ip", "netns", "exec", ns, ExporterProcess.launcher().toString(),
                "uninstall", "--bpf.pin-path", pins.toString(), "--state.file", state.toString()));
        assertEquals(0, u.exitCode(), u.toString());
        return u;
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
