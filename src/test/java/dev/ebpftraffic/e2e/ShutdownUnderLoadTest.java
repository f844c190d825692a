package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.HttpGet;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Traffic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGTERM while scrapes and live-view queries (whose sampler refreshes every second) hammer the
 * exporter: the real BpfObject and BpfFlowReader close under load. No scrape or refresh may reach
 * a closed map fd or the reader's freed arena; either would be logged as a failed map read (the
 * arena throws IllegalStateException, a closed fd gives EBADF) or as a failed close.
 */
@KernelTest
@Timeout(180)
class ShutdownUnderLoadTest {
    private static final String V4A = "10.89.0.1";
    private static final String V4B = "10.89.0.2";
    /** flood.c's destination MAC, not b's (as in FloodTest). */
    private static final String NOT_B_MAC = "02:00:5e:10:00:99";

    @Test
    void sigtermUnderScrapesAndLiveQueriesTouchesNothingClosed() throws Exception {
        Path flood = ExporterProcess.projectRoot().resolve("target/e2e-bin/flood");
        Files.createDirectories(flood.getParent());
        Cmd.run("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", flood.toString(),
                ExporterProcess.projectRoot().resolve("src/test/c/flood.c").toString()).ok();
        try (NetNs net = NetNs.pair()) {
            net.addPair(V4A, V4B, 24);
            for (int round = 0; round < 2; round++) {
                ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "shutdown-load-" + round,
                        "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
                exporter.awaitAttached(Duration.ofSeconds(30));
                new Traffic(net).udp(true, V4A, V4B, 41000 + round, Map.of(64, 20, 512, 5));
                // A full flows map (16384 IPv4 pairs at the default --map-size): each refresh reads for a
                // while, so SIGTERM finds reads in progress.
                Cmd.run(Duration.ofSeconds(60), List.of("ip", "netns", "exec", net.a, flood.toString(), net.ifA,
                        NOT_B_MAC, net.macA, V4B, "10.128.0.0", "20000", "1", "60")).ok();

                AtomicInteger answered = new AtomicInteger();
                List<Thread> hammers = new ArrayList<>();
                for (String path : List.of("/metrics", "/metrics", "/api/v1/top?n=5", "/api/v1/top?n=5&sort=bytes")) {
                    hammers.add(Thread.ofPlatform().start(() -> {
                        while (exporter.isAlive()) {
                            try {
                                if (HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT, path).status() == 200) {
                                    answered.incrementAndGet();
                                }
                            } catch (RuntimeException | AssertionError e) {
                                // refused or cut off: the exporter is going away
                            }
                        }
                    }));
                }
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (answered.get() < 40 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertTrue(answered.get() >= 40, "the hammer got only " + answered.get() + " answers");

                int code = exporter.stop();
                for (Thread t : hammers) {
                    t.join(30_000);
                }
                String err = exporter.stderr();
                assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code + "\n" + err);
                assertTrue(err.contains("detached from " + net.ifB), "no \"detached\" log line:\n" + err);
                assertEquals(List.of(), ExporterProcess.errorLines(err), err);
                for (String bad : List.of("reading the BPF maps failed", "closing ", "IllegalStateException",
                        "Exception in thread", "still running after", "SIGSEGV", "hs_err")) {
                    assertFalse(err.contains(bad), "\"" + bad + "\" in the log of round " + round + ":\n" + err);
                }
            }
        }
    }
}
