package dev.ebpftraffic.cli;

import dev.ebpftraffic.bpf.BpfFlowReader;
import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.config.TrafficConfig;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.Libc;
import dev.ebpftraffic.live.LiveView;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.web.MetricsServer;
import dev.ebpftraffic.web.StreamingFamilies;
import dev.ebpftraffic.web.WebConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The running exporter: program loaded, HTTP bound, hooks attached. Start-up order makes every
 * failure leave nothing behind: the HTTP port is bound before anything is attached, and each
 * step's resources are closed in reverse if a later step fails.
 */
public final class Exporter implements AutoCloseable {
    /** How often the kernel map is read between scrapes. */
    static final Duration REFRESH = Duration.ofSeconds(5);
    /** Kernel entries unchanged this long are drained into userspace (at most half the series TTL). */
    static final Duration DRAIN_IDLE = Duration.ofSeconds(30);

    private final List<AutoCloseable> resources = new ArrayList<>(); // closed in reverse order
    private final Map<Integer, String> ifaceNames = new ConcurrentHashMap<>();
    private volatile List<TcAttachment.Hook> hooks = List.of();
    private boolean closed;
    private LiveView live;

    private Exporter() {
    }

    public static Exporter start(Options o) {
        return start(o, true);
    }

    /** serve=false: no HTTP endpoint; `top --iface` reads {@link #live()} in the same process. */
    public static Exporter start(Options o, boolean serve) {
        Exporter e = new Exporter();
        try {
            e.doStart(o, serve);
            return e;
        } catch (RuntimeException ex) {
            e.close();
            throw ex;
        }
    }

    private void doStart(Options o, boolean serve) {
        // First, before anything touches the kernel: a bad config or web config is a one-line error.
        Labeler labeler = o.configFile() == null ? Labeler.plain() : TrafficConfig.load(Path.of(o.configFile())).labeler();
        WebConfig web = o.webConfigFile() == null ? WebConfig.none() : WebConfig.load(Path.of(o.webConfigFile()));
        Libbpf lib = Libbpf.load(o.libbpfPath());
        lib.setPrint(new Libbpf.PrintSink() {
            @Override
            public boolean enabled(int level) {
                return Log.enabled(libbpfLevel(level));
            }

            @Override
            public void print(int level, String line) {
                // libbpf's own messages already start with "libbpf: "; don't print it twice.
                Log.log(libbpfLevel(level), line.startsWith("libbpf: ") ? line : "libbpf: " + line);
            }
        });

        int ifindex = Libc.ifNameToIndex(o.iface());
        if (ifindex == 0) {
            throw new IllegalStateException("interface \"" + o.iface() + "\" does not exist: pick one from `ip link` with --iface");
        }
        ifaceNames.put(ifindex, o.iface());

        BpfObject obj = BpfObject.openEmbedded(lib);
        resources.add(obj);
        obj.setMaxEntries(BpfObject.MAP_FLOWS, o.mapSize());
        try {
            obj.load();
        } catch (dev.ebpftraffic.libbpf.LibbpfException ex) {
            throw Privileges.explain(ex);
        }
        BpfFlowReader reader = BpfFlowReader.of(obj);
        resources.add(reader);

        PrometheusRegistry registry = new PrometheusRegistry();
        FlowAggregator.Settings settings = new FlowAggregator.Settings(o.maxSeries(), o.seriesTtl().toNanos(),
                Math.min(DRAIN_IDLE.toNanos(), o.seriesTtl().toNanos() / 2),
                FlowAggregator.Settings.defaultMaxTracked(o.maxSeries(), o.mapSize()));
        TrafficCollector collector = new TrafficCollector(reader, new FlowAggregator(settings, labeler),
                this::ifaceName, () -> hooks, BuildInfo.current(), Log::warn);
        registry.register(collector);
        live = new LiveView(collector);
        resources.add(live);
        StreamingFamilies traffic = new StreamingFamilies() {
            @Override
            public boolean owns(String name) {
                return TrafficCollector.isTrafficName(name);
            }

            @Override
            public void write(java.io.OutputStream out, boolean openMetrics) throws java.io.IOException {
                collector.writeTrafficText(out, openMetrics);
            }
        };
        MetricsServer server = !serve ? null : MetricsServer.start(o.addr(), registry, new MetricsServer.Settings(
                o.telemetryPath(), web, () -> !hooks.isEmpty(), BuildInfo.current().version(), traffic, live));
        if (server != null) {
            resources.add(server);
            Log.info("listening on " + o.addr() + " (" + (server.isTls() ? "https" : "http") + ", metrics at "
                    + o.telemetryPath() + (web.auth() != null ? ", basic auth" : "") + ")");
        }

        TcAttachment attachment = TcAttachment.attach(lib, o.iface(), ifindex,
                obj.programFd(BpfObject.PROG_INGRESS), obj.programFd(BpfObject.PROG_EGRESS), o.attachMode(), Log::warn);
        resources.add(attachment);
        hooks = attachment.hooks();

        // Between scrapes, keep draining idle kernel entries so the map never fills with old pairs.
        ScheduledExecutorService refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "map-refresh");
            t.setDaemon(true);
            return t;
        });
        resources.add(refresher::shutdownNow);
        refresher.scheduleWithFixedDelay(collector::refresh, REFRESH.toMillis(), REFRESH.toMillis(), TimeUnit.MILLISECONDS);
        Log.info("attached to " + o.iface() + " (ifindex " + ifindex + ", ingress and egress, mode "
                + hooks.getFirst().mode() + ")");
    }

    /** The live view (rates for /api/v1/top and `top`). */
    public LiveView live() {
        return live;
    }

    private static Log.Level libbpfLevel(int level) {
        return level == 0 ? Log.Level.WARN : Log.Level.DEBUG; // LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG
    }

    private String ifaceName(int ifindex) {
        return ifaceNames.computeIfAbsent(ifindex, i -> {
            String name = Libc.ifIndexToName(i);
            return name != null ? name : "ifindex" + i;
        });
    }

    /** Detaches first, then stops serving and frees the maps. Safe to call twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        hooks = List.of();
        for (int i = resources.size() - 1; i >= 0; i--) {
            AutoCloseable r = resources.get(i);
            try {
                r.close();
                if (r instanceof TcAttachment a) {
                    Log.info("detached from " + a.iface());
                }
            } catch (Exception ex) {
                Log.warn("closing " + r.getClass().getSimpleName() + ": " + ex.getMessage());
            }
        }
        resources.clear();
    }
}
