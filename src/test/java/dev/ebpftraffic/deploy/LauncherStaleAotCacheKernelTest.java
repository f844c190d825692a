package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The installed launcher with an AOT cache that no longer matches its jar (the jar replaced after
 * the cache was made, as an upgrade that forgot `make aot-cache` leaves it): the JVM refuses the
 * cache, and the exporter starts, attaches and counts exactly all the same, with nothing about the
 * cache on its output.
 */
@KernelTest
class LauncherStaleAotCacheKernelTest {
    static final int PORT = 9467;
    static final String ADDR = "127.0.0.1:" + PORT;
    static final String EXP_V4 = "10.77.0.1";
    static final String PEER_V4 = "10.77.0.2";

    @TempDir
    Path dir;

    @Test
    void aStaleCacheIsRefusedAndTheExporterServesExactCounts() throws IOException {
        try (Install in = new Install()) {
            Path jar = in.launcher().resolveSibling("target/ebpf-traffic-exporter.jar");
            Path cache = in.launcher().resolveSibling("target/ebpf-traffic-exporter.aot");
            assertTrue(Files.size(cache) > 1_000_000, "make install did not install the AOT cache at " + cache);
            // The JVM matches a cache to its jar by size and modification time: a newer jar is another jar.
            Files.setLastModifiedTime(jar, FileTime.from(Instant.now().plusSeconds(3600)));
            Path log = dir.resolve("class-load.log");
            try (NetNs net = NetNs.pair()) {
                net.addPair(EXP_V4, PEER_V4, 24);
                ExporterProcess exp = net.own(ExporterProcess.start(in.launcher(), net.a, PORT,
                        Map.of("JDK_JAVA_OPTIONS", "-Xlog:class+load=info:file=" + log), "stale-aot-cache", List.of(),
                        "--iface", net.ifA, "--addr", ADDR));
                exp.awaitAttached(Duration.ofSeconds(30));

                net.exec(net.b, "ping", "-c", "4", "-i", "0.2", "-W", "2", EXP_V4).ok();
                exp.scrape(); // the first scrape that exports a series shows it at 0
                String scrape = exp.scrape().text();
                String in4 = "{direction=\"inbound\",dst_ip=\"10.77.0.1\",iface=\"" + net.ifA
                        + "\",ip_type=\"private\",src_ip=\"10.77.0.2\"}";
                assertTrue(scrape.contains("network_traffic_packets_total" + in4 + " 4\n"), scrape);
                assertTrue(scrape.contains("network_traffic_bytes_total" + in4 + " 392\n"), scrape);

                String classes = Files.readString(log);
                assertTrue(classes.contains(" dev.ebpftraffic.app.Main "), "no class-load log: " + log);
                assertFalse(classes.lines().anyMatch(l -> l.contains(" dev.ebpftraffic.app.Main ")
                        && l.contains("source: shared objects file")), "the stale cache was used");
                exp.stop();
                // Only the exporter's own lines (and the JVM's note of JDK_JAVA_OPTIONS): no AOT/CDS warning.
                List<String> foreign = exp.stderr().lines()
                        .filter(l -> !l.startsWith("time=") && !l.startsWith("NOTE: Picked up JDK_JAVA_OPTIONS")).toList();
                assertEquals(List.of(), foreign, exp.stderr());
                assertEquals("", exp.stdout());
            }
        }
    }
}
