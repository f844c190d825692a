package dev.ebpftraffic.app;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.live.LiveView;
import dev.ebpftraffic.metrics.AttachCollector;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.web.MetricsServer;
import dev.ebpftraffic.web.StreamingFamilies;
import dev.ebpftraffic.web.WebConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The training run of the AOT cache (`make build` runs the jar with {@code --aot-train} under
 * -XX:AOTCacheOutput). It goes through the start-up path as far as it can without root or a
 * kernel program: parse flags, bind libbpf and open (not load) the embedded BPF object, then
 * serve /metrics on loopback from a collector over a fixed in-memory reader and scrape it. The
 * classes it loads and links are the ones a real start loads before its first scrape; what it
 * cannot reach (loading and attaching) is simply loaded the normal way at run time.
 */
final class AotTraining {
    static final String FLAG = "--aot-train";

    private AotTraining() {
    }

    /** Returns the exit code: 0, or 1 with a line on stderr when a step failed. */
    static int run() throws IOException {
        int port; // a free loopback port (--addr does not take 0)
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Options o = Options.parse(new String[] {"--iface", "lo", "--addr", "127.0.0.1:" + port});
        try {
            Libbpf lib = Libbpf.load(o.libbpfPath());
            try (BpfObject obj = BpfObject.openEmbeddedSplit(lib)) {
                obj.setMaxEntries(BpfObject.MAP_FLOWS4, o.mapSize());
            }
        } catch (RuntimeException e) {
            // No libbpf.so.1 where the cache is made (e.g. an image build stage): the rest still trains.
            System.err.println("aot training: libbpf skipped: " + e.getMessage());
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        FlowAggregator.Settings settings = new FlowAggregator.Settings(o.maxSeries(), o.seriesTtl().toNanos(),
                Exporter.DRAIN_IDLE.toNanos(), FlowAggregator.Settings.defaultMaxTracked(o.maxSeries(), o.mapSize()));
        TrafficCollector collector = new TrafficCollector(new FixedReader(), new FlowAggregator(settings, Labeler.plain()),
                i -> "lo", List::of, BuildInfo.current(), System.err::println);
        registry.register(collector);
        registry.register(new AttachCollector(AttachCollector::zero, Map::of));
        try (LiveView live = new LiveView(collector);
             MetricsServer server = MetricsServer.start(o.addr(), registry, new MetricsServer.Settings(o.telemetryPath(),
                     WebConfig.none(), () -> true, BuildInfo.current().version(),
                     StreamingFamilies.of(TrafficCollector::isTrafficName, collector::writeTrafficText), live))) {
            for (int i = 0; i < 5; i++) {
                String body = get(server.port(), o.telemetryPath());
                if (!body.contains("network_traffic_bytes_total")) {
                    System.err.println("aot training: the scrape has no traffic series");
                    return 1;
                }
                collector.refresh();
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("aot training: " + e);
            return 1;
        }
        return 0;
    }

    /** One HTTP/1.1 GET on a fresh connection, as Prometheus makes it; returns the body and headers. */
    private static String get(int port, String path) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Two IPv4 pairs and one IPv6 pair, both directions, growing by one packet per read. */
    private static final class FixedReader implements FlowReader {
        private long reads;

        @Override
        public void readFlows(Sink<FlowKey> sink) {
            reads++;
            IpAddress a = IpAddress.parse("192.0.2.1"), b = IpAddress.parse("198.51.100.2");
            IpAddress c = IpAddress.parse("2001:db8::1"), d = IpAddress.parse("2001:db8::2");
            for (Direction dir : Direction.values()) {
                sink.accept(FlowKey.of(1, dir, a, b), reads, 100 * reads);
                sink.accept(FlowKey.of(1, dir, b, a), reads, 60 * reads);
                sink.accept(FlowKey.of(1, dir, c, d), reads, 1500 * reads);
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
            return 16384;
        }
    }
}
