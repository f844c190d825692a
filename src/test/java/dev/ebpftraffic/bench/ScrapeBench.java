package dev.ebpftraffic.bench;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Scrape cost with N distinct pairs, in this JVM (start it with the launcher's flags):
 * latency p50/p90/max of a full scrape (map read from a fake reader of N entries, aggregation,
 * snapshots, text exposition), bytes allocated per scrape, and RSS. bench/scrape.sh drives it.
 *
 * Usage: ScrapeBench N [scrapes] [both|streaming]: "streaming" renders only as the exporter does,
 * so its RSS is the exporter's with N series.
 */
public final class ScrapeBench {
    /** A kernel map of n entries whose counters grow a little at every read. */
    static final class SyntheticMap implements FlowReader {
        final FlowKey[] keys;
        long round;

        SyntheticMap(int n) {
            keys = new FlowKey[n];
            for (int i = 0; i < n; i++) {
                IpAddress src = IpAddress.ofIpv4(0x0A000000 | (i & 0xFFFFFF)); // 10.0.0.0/8
                IpAddress dst = IpAddress.ofIpv4(0xC0A80105);                   // 192.168.1.5
                keys[i] = FlowKey.of(2, i % 2 == 0 ? Direction.INBOUND : Direction.OUTBOUND, src, dst);
            }
        }

        @Override
        public void readFlows(Sink<FlowKey> sink) {
            round++;
            for (int i = 0; i < keys.length; i++) {
                sink.accept(keys[i], round * (1 + (i & 7)), round * 1500L * (1 + (i & 7)));
            }
        }

        @Override
        public void readStats(Sink<StatKey> sink) {
        }

        @Override
        public boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
            return false;
        }

        @Override
        public int flowCapacity() {
            return keys.length;
        }
    }

    static final class CountingStream extends OutputStream {
        long n;

        @Override
        public void write(int b) {
            n++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            n += len;
        }
    }

    public static void main(String[] args) throws IOException {
        int n = Integer.parseInt(args[0]);
        int scrapes = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        SyntheticMap map = new SyntheticMap(n);
        FlowAggregator agg = new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4, Long.MAX_VALUE / 4,
                Integer.MAX_VALUE), Labeler.plain());
        TrafficCollector collector = new TrafficCollector(map, agg, i -> "eth0", List::of, BuildInfo.current(), System.err::println);
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(collector);
        PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();

        // Two ways to render the same scrape, alternated: the client's snapshot path for every
        // family (the baseline), and the exporter's: streaming traffic families + client for the rest.
        boolean onlyStreaming = args.length > 2 && args[2].equals("streaming"); // else "both"
        String[] modes = {"client", "streaming"};
        long[][] nanos = new long[2][scrapes];
        long[][] alloc = new long[2][scrapes];
        long[] size = new long[2];
        int warmup = Math.max(3, scrapes / 4);
        for (int i = -warmup; i < scrapes; i++) {
            for (int m = onlyStreaming ? 1 : 0; m < 2; m++) {
                CountingStream out = new CountingStream();
                long a0 = threads.getThreadAllocatedBytes(tid);
                long t0 = System.nanoTime();
                if (m == 0) {
                    writer.write(out, registry.scrape());
                } else {
                    collector.writeTrafficText(out, false);
                    writer.write(out, registry.scrape(name -> !TrafficCollector.isTrafficName(name)));
                }
                long t1 = System.nanoTime();
                long a1 = threads.getThreadAllocatedBytes(tid);
                if (i >= 0) {
                    nanos[m][i] = t1 - t0;
                    alloc[m][i] = a1 - a0;
                    size[m] = out.n;
                }
            }
        }
        System.gc();
        long rss = rssMb();
        Runtime rt = Runtime.getRuntime();
        System.out.printf("pairs=%d heap_used_mb=%d heap_committed_mb=%d%n", n,
                (rt.totalMemory() - rt.freeMemory()) >> 20, rt.totalMemory() >> 20);
        for (int m = onlyStreaming ? 1 : 0; m < 2; m++) {
            Arrays.sort(nanos[m]);
            Arrays.sort(alloc[m]);
            System.out.printf("pairs=%d mode=%s scrapes=%d p50_ms=%.2f p90_ms=%.2f max_ms=%.2f alloc_mb_p50=%.1f body_mb=%.1f rss_mb=%d%n",
                    n, modes[m], scrapes, nanos[m][scrapes / 2] / 1e6, nanos[m][(int) (scrapes * 0.9)] / 1e6,
                    nanos[m][scrapes - 1] / 1e6, alloc[m][scrapes / 2] / 1048576.0, size[m] / 1048576.0, rss);
        }
        if (!onlyStreaming) {
            System.out.printf("pairs=%d streaming_vs_client_p50_ratio=%.3f%n", n, (double) nanos[1][scrapes / 2] / nanos[0][scrapes / 2]);
        }
    }

    static long rssMb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        }
        return -1;
    }
}
