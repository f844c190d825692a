package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.IncreaseOracle;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.LinkStats;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Snapshot;
import dev.ebpftraffic.testing.Traffic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A spoofed-source flood: src/test/c/flood.c sends 1,000,000 IPv4/UDP frames from 250,000 distinct
 * sources in 10.128.0.0/14 to one address of b, through an AF_PACKET socket with sendmmsg, with a
 * destination MAC that is not b's: b's stack drops them as PACKET_OTHERHOST after the TC ingress
 * hook, so nothing answers. The exporter runs with --map-size 4096 and --max-series 1000.
 *
 * <p>While the flood runs, another thread scrapes without pause: every scrape answers 200 within
 * a few seconds and never has more than --max-series network_traffic_packets_total series. Every
 * scrape goes into an increase() oracle (pairs fold, unfold and expire: users read increase()):
 * after the flood, the increase of the inbound packets to the flood's destination over all series
 * (its own pairs plus the src_ip="other" series of its ip_type) is exactly the frames sent, and the
 * bytes exactly frames x frame length; b's veth received exactly those frames, so no drop hides in the sums.
 * The kernel map overflowed (the overflow path really ran), and the exporter's memory stays bounded.
 */
@KernelTest
@Timeout(120)
class FloodTest {
    private static final int MAP_SIZE = 4096;
    private static final int MAX_SERIES = 1000;
    private static final int SOURCES = 250_000;
    private static final int ROUNDS = 4;
    private static final long FRAMES = (long) SOURCES * ROUNDS;
    private static final int FRAME_LEN = 60;
    private static final String SRC_BASE = "10.128.0.0";
    private static final String DST = "10.99.0.2";
    private static final String NOT_B_MAC = "02:00:5e:10:00:99";
    private static final long RSS_LIMIT_KB = 300 * 1024;
    private static final Duration SCRAPE_LIMIT = Duration.ofSeconds(5);
    private static final String OVERFLOW = "ebpf_traffic_exporter_flow_map_overflow_packets_total";
    private static final String TRACKED = "ebpf_traffic_exporter_series_tracked";

    @Test
    void floodOfDistinctSourcesIsCountedExactlyWithinTheSeriesBudget() throws Exception {
        Path flood = compileFlood();
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.99.0.1", DST, 24);
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "flood",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                    "--map-size", Integer.toString(MAP_SIZE), "--max-series", Integer.toString(MAX_SERIES)));
            exporter.awaitAttached(Duration.ofSeconds(30));
            long javaPid = jvmPid(exporter.pid());
            LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(1500), Duration.ofSeconds(20));
            Snapshot before = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
            long rssBefore = rssKb(javaPid);

            String ipType = Traffic.ipType(DST);
            Predicate<Metrics.Sample> flow = s -> net.ifB.equals(s.label("iface")) && "inbound".equals(s.label("direction"))
                    && (DST.equals(s.label("dst_ip"))
                        || ("other".equals(s.label("src_ip")) && "other".equals(s.label("dst_ip")) && ipType.equals(s.label("ip_type"))));
            Scraper scraper = new Scraper(exporter, javaPid, flow);
            scraper.feed(exporter.scrapeOnce()); // the oracle's baseline, before the first frame
            Thread t = Thread.ofPlatform().name("flood-scraper").daemon(true).start(scraper);
            Cmd.Result sent;
            try {
                sent = Cmd.run(Duration.ofSeconds(60), List.of("ip", "netns", "exec", net.a, flood.toString(), net.ifA,
                        NOT_B_MAC, net.macA, DST, SRC_BASE, Integer.toString(SOURCES), Integer.toString(ROUNDS),
                        Integer.toString(FRAME_LEN))).ok();
            } finally {
                scraper.stop.set(true);
                t.join(Duration.ofSeconds(30));
            }
            System.out.println("[flood] " + sent.stdout().trim());
            assertTrue(sent.stdout().startsWith("sent " + FRAMES + " frames from " + SOURCES + " sources"), sent.toString());

            // Final reads: the flood is over; a few more scrapes show what the last ones had not yet
            // (a series shows 0 in its first scrape), every one of them into the oracle.
            LinkStats.awaitQuiet(net.b, net.ifB, Duration.ofMillis(500), Duration.ofSeconds(20));
            for (int i = 0; i < 3; i++) {
                scraper.feed(exporter.scrapeOnce());
            }
            Snapshot after = Snapshot.take(exporter, net.b, net.ifB, Duration.ofSeconds(10));
            scraper.observe(after.metrics(), 0);
            long rssAfter = rssKb(javaPid);
            Metrics m = after.metrics();

            System.out.printf("[flood] %d scrapes during the flood (all HTTP 200), slowest %d ms; most traffic series %d"
                            + " (budget %d); most series tracked %d; exporter VmRSS %d MB before, %d MB max during, %d MB after%n",
                    scraper.scrapes.get(), scraper.slowestMs.get(), scraper.maxSeries.get(), MAX_SERIES,
                    scraper.maxTracked.get(), rssBefore / 1024, scraper.maxRssKb.get() / 1024, rssAfter / 1024);

            assertEquals(List.of(), scraper.failures, "scrapes during the flood");
            assertTrue(scraper.scrapes.get() >= 2, "scrapes completed during the flood: " + scraper.scrapes.get());
            assertTrue(scraper.maxSeries.get() <= MAX_SERIES, "traffic series in one scrape: " + scraper.maxSeries.get());
            long trackedBound = MAX_SERIES + 4L * MAP_SIZE; // README: max-series + 4 x map-size (two maps)
            assertTrue(scraper.maxTracked.get() > MAX_SERIES, "the budget was binding: pairs were folded into \"other\"");
            assertTrue(scraper.maxTracked.get() <= trackedBound, "series_tracked " + scraper.maxTracked.get() + " > " + trackedBound);
            assertTrue(Math.max(scraper.maxRssKb.get(), rssAfter) < RSS_LIMIT_KB,
                    "exporter VmRSS " + Math.max(scraper.maxRssKb.get(), rssAfter) + " kB, limit " + RSS_LIMIT_KB + " kB");

            // The kernel delivered every frame to b's ingress, and nothing else arrived meanwhile.
            assertEquals(FRAMES, after.link().rxPackets() - before.link().rxPackets(), "veth rx packets");
            assertEquals(FRAMES * FRAME_LEN, after.link().rxBytes() - before.link().rxBytes(), "veth rx bytes");

            // Exact totals as increase() reads them: the flood's own pairs plus "other" of its ip_type,
            // inbound on b's veth, over every scrape.
            long packets = scraper.packets.increase();
            long bytes = scraper.bytes.increase();
            assertEquals(0, before.metrics().sum(Traffic.PACKETS, flow), "no traffic to " + DST + " before the flood");
            long ownPairs = m.samples(s -> s.name().equals(Traffic.PACKETS) && DST.equals(s.label("dst_ip"))).size();
            long overflow = m.sum(OVERFLOW, s -> "inbound".equals(s.label("direction")) && ipType.equals(s.label("ip_type")));
            System.out.printf("[flood] exported inbound to %s: %d packets, %d bytes (%d own pair series + other);"
                            + " kernel map overflow %d packets; drained %s; evicted %s%n",
                    DST, packets, bytes, ownPairs, overflow, value(m, "ebpf_traffic_exporter_flow_map_drained_total"),
                    value(m, "ebpf_traffic_exporter_series_evicted_total"));
            assertEquals(FRAMES, packets, "exported inbound packets to " + DST + " over all series");
            assertEquals(FRAMES * FRAME_LEN, bytes, "exported inbound bytes to " + DST + " over all series");
            assertTrue(overflow > 0, "the flood overflowed the " + MAP_SIZE + "-entry kernel map");
            // --map-size sizes both kernel maps, and the self-metric says so per family.
            assertEquals(Map.of("ipv4", (double) MAP_SIZE, "ipv6", (double) MAP_SIZE),
                    m.samples("ebpf_traffic_exporter_flow_map_capacity").stream()
                            .collect(java.util.stream.Collectors.toMap(s -> s.label("family"), Metrics.Sample::value)));
            assertTrue(m.samples(Traffic.PACKETS).size() <= MAX_SERIES, "series after the flood");
            assertTrue(exporter.isAlive(), "exporter alive after the flood");
        }
    }

    private static String value(Metrics m, String name) {
        return m.samples(name).stream().map(s -> String.valueOf((long) s.value())).findFirst().orElse("-");
    }

    /** Scrapes in a loop until stopped; records failures, slowest scrape, most series, most RSS. */
    private static final class Scraper implements Runnable {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong scrapes = new AtomicLong();
        final AtomicLong slowestMs = new AtomicLong();
        final AtomicLong maxSeries = new AtomicLong();
        final AtomicLong maxTracked = new AtomicLong();
        final AtomicLong maxRssKb = new AtomicLong();
        final List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        final IncreaseOracle packets = new IncreaseOracle();
        final IncreaseOracle bytes = new IncreaseOracle();
        private final ExporterProcess exporter;
        private final long pid;
        private final Predicate<Metrics.Sample> flow;

        Scraper(ExporterProcess exporter, long pid, Predicate<Metrics.Sample> flow) {
            this.exporter = exporter;
            this.pid = pid;
            this.flow = flow;
        }

        /** One scrape's series of the flow into the increase() oracles. */
        synchronized void feed(Metrics m) {
            for (String family : List.of(Traffic.PACKETS, Traffic.BYTES)) {
                Map<String, Long> values = new java.util.HashMap<>();
                for (Metrics.Sample s : m.samples(x -> x.name().equals(family) && flow.test(x))) {
                    values.put(new java.util.TreeMap<>(s.labels()).toString(), (long) s.value());
                }
                (family.equals(Traffic.PACKETS) ? packets : bytes).scrape(values);
            }
        }

        @Override
        public void run() {
            while (!stop.get()) {
                long t0 = System.nanoTime();
                try {
                    Metrics m = exporter.scrapeOnce(); // every scrape, as Prometheus would see them
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    feed(m);
                    observe(m, ms);
                    scrapes.incrementAndGet();
                    if (ms > SCRAPE_LIMIT.toMillis()) {
                        failures.add("scrape took " + ms + " ms");
                    }
                } catch (RuntimeException | AssertionError e) {
                    failures.add("scrape failed after " + (System.nanoTime() - t0) / 1_000_000 + " ms: " + e);
                }
                try {
                    maxRssKb.accumulateAndGet(rssKb(pid), Math::max);
                } catch (RuntimeException | AssertionError e) {
                    failures.add("reading VmRSS: " + e);
                }
            }
        }

        void observe(Metrics m, long ms) {
            slowestMs.accumulateAndGet(ms, Math::max);
            maxSeries.accumulateAndGet(m.samples(Traffic.PACKETS).size(), Math::max);
            m.samples(TRACKED).forEach(s -> maxTracked.accumulateAndGet((long) s.value(), Math::max));
        }
    }

    /** Compiles src/test/c/flood.c into target/e2e-bin/flood. */
    private static Path compileFlood() throws IOException {
        Path src = ExporterProcess.projectRoot().resolve("src/test/c/flood.c");
        Path bin = ExporterProcess.projectRoot().resolve("target/e2e-bin/flood");
        Files.createDirectories(bin.getParent());
        Cmd.run("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin.toString(), src.toString()).ok();
        return bin;
    }

    /**
     * The exporter's JVM: `ip netns exec` and the launcher exec, so normally the started process
     * itself; if a version of ip forks instead, its java child.
     */
    private static long jvmPid(long pid) {
        if (isJava(pid)) {
            return pid;
        }
        Optional<ProcessHandle> child = ProcessHandle.of(pid).stream().flatMap(ProcessHandle::descendants)
                .filter(p -> isJava(p.pid())).findFirst();
        return child.orElseThrow(() -> new AssertionError("no java process under pid " + pid)).pid();
    }

    private static boolean isJava(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "comm")).trim().equals("java");
        } catch (IOException e) {
            return false;
        }
    }

    private static final Pattern VM_RSS = Pattern.compile("(?m)^VmRSS:\\s+(\\d+) kB");

    /** VmRSS of pid in kB. */
    static long rssKb(long pid) {
        try {
            Matcher m = VM_RSS.matcher(Files.readString(Path.of("/proc", Long.toString(pid), "status")));
            if (!m.find()) {
                throw new AssertionError("no VmRSS for pid " + pid);
            }
            return Long.parseLong(m.group(1));
        } catch (IOException e) {
            throw new AssertionError("cannot read /proc/" + pid + "/status: " + e, e);
        }
    }
}
