package dev.ebpftraffic.app;

import dev.ebpftraffic.bpf.BpfFlowReader;
import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.bpf.IpGroups;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.bpf.WorkloadAttachment;
import dev.ebpftraffic.cli.Log;
import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.cli.PersistOptions;
import dev.ebpftraffic.config.TrafficConfig;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.GroupLabeler;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.iface.AttachManager;
import dev.ebpftraffic.iface.IfaceNames;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.metrics.AttachCollector;
import dev.ebpftraffic.metrics.MapMemoryCollector;
import dev.ebpftraffic.live.LiveView;
import dev.ebpftraffic.dns.ResolvConf;
import dev.ebpftraffic.dns.ReverseDns;
import dev.ebpftraffic.metrics.ReverseDnsCollector;
import dev.ebpftraffic.cli.ReverseDnsOptions;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.persist.Persistence;
import dev.ebpftraffic.web.MetricsServer;
import dev.ebpftraffic.web.StreamingFamilies;
import dev.ebpftraffic.web.WebConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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

    /** How long close() waits for the refresh timer's run in progress. */
    static final Duration CLOSE_WAIT = Duration.ofSeconds(10);

    /** Set to "poll" to list interfaces every second instead of waiting for rtnetlink link events. */
    static final String LINK_WATCH_ENV = "EBPF_EXPORTER_LINK_WATCH";

    private final List<AutoCloseable> resources = new ArrayList<>(); // closed in reverse order
    private final IfaceNames ifaceNames = new IfaceNames(Libc::ifIndexToName);
    private volatile AttachManager manager;
    private volatile boolean closing;
    private boolean closed;
    /** Whether the per-process programs were loaded (--workloads auto on a kernel that can run them). */
    private boolean processPrograms;
    /** Why the per-process programs that read kernel structures could not be loaded, or null. */
    private dev.ebpftraffic.libbpf.LibbpfException coreFailure;
    private LiveView live;
    private Persistence persistence; // null: restarts start from 0
    private ReverseDnsOptions reverseDns = ReverseDnsOptions.defaults();
    private volatile boolean started;
    private volatile dev.ebpftraffic.kubernetes.ClusterNames clusterNames; // null: --kubernetes off

    private Exporter() {
    }

    public static Exporter start(Options o) {
        return start(o, true);
    }

    /** serve=false: no HTTP endpoint; `top --iface` reads {@link #live()} in the same process. */
    public static Exporter start(Options o, boolean serve) {
        return start(o, serve, null);
    }

    /** persist: pinned maps and links and the state file (null or not enabled: none). */
    public static Exporter start(Options o, boolean serve, PersistOptions persist) {
        return start(o, serve, persist, ReverseDnsOptions.defaults());
    }

    /** dns: the live view's host names (reverse DNS). */
    public static Exporter start(Options o, boolean serve, PersistOptions persist, ReverseDnsOptions dns) {
        Exporter e = new Exporter();
        e.reverseDns = dns == null ? ReverseDnsOptions.defaults() : dns;
        if (persist != null && persist.enabled()) {
            persist.checkPaths();
            e.persistence = new Persistence(persist.pinPath(), persist.stateFile(), Log::info, Log::warn);
        }
        try {
            e.doStart(o, serve);
            e.started = true;
            return e;
        } catch (RuntimeException ex) {
            e.close();
            throw ex;
        }
    }

    private void doStart(Options o, boolean serve) {
        // First, before anything touches the kernel: a bad config or web config is a one-line error.
        TrafficConfig config = o.configFile() == null ? null : TrafficConfig.load(Path.of(o.configFile()));
        Labeler labeler = config == null ? Labeler.plain() : config.labeler();
        List<GroupLabeler.Group> groups = config == null ? List.of() : config.groups();
        WebConfig web = o.webConfigFile() == null ? WebConfig.none() : WebConfig.load(Path.of(o.webConfigFile()));
        if (o.kubernetes().enabled()) {
            labeler = startKubernetes(o.kubernetes(), labeler);
        }
        Libbpf lib = Libbpf.load(o.libbpfPath());
        // Until the program is loaded, libbpf's messages are held back: when the load fails for want
        // of privileges they (probe warnings, the verifier's log) only repeat the one-line error, so
        // they go to debug; otherwise they are logged as libbpf meant them.
        List<Object[]> held = new ArrayList<>();
        boolean[] holding = {true};
        lib.setPrint(new Libbpf.PrintSink() {
            @Override
            public boolean enabled(int level) {
                return Log.enabled(libbpfLevel(level)) || holding[0] && Log.enabled(Log.Level.DEBUG);
            }

            @Override
            public void print(int level, String line) {
                // libbpf's own messages already start with "libbpf: "; don't print it twice.
                String msg = line.startsWith("libbpf: ") ? line : "libbpf: " + line;
                synchronized (held) {
                    if (holding[0]) {
                        held.add(new Object[] {libbpfLevel(level), msg});
                        return;
                    }
                }
                Log.log(libbpfLevel(level), msg);
            }
        });

        // A plainly named interface that does not exist is a typo: say so before loading anything.
        o.ifaces().requireLiterals(name -> Libc.ifNameToIndex(name) != 0);

        RuntimeException failure = null;
        BpfObject[] loaded = {null};
        try {
            // The per-process programs that need the kernel's BTF are loaded apart (below), only with
            // --workloads auto on a kernel that can run them.
            BpfObject obj = BpfObject.openEmbeddedSplit(lib);
            resources.add(obj);
            obj.setMaxEntries(BpfObject.MAP_FLOWS4, o.mapSize());
            obj.setMaxEntries(BpfObject.MAP_FLOWS6, o.mapSize());
            IpGroups.size(obj, groups);
            processPrograms = o.workloads().equals("auto");
            if (processPrograms) {
                String why = WorkloadAttachment.processSupport(System.getProperty("os.version"),
                        java.nio.file.Files.exists(java.nio.file.Path.of("/sys/kernel/btf/vmlinux")));
                if (why != null) {
                    Log.info(why + ": per-process traffic is off");
                    processPrograms = false;
                }
            }
            if (!processPrograms) {
                BpfObject.PROCESS_PROGRAMS.forEach(obj::skipProgram);
            }
            // Its buckets are allocated at load: sized for the sockets the start-up scan will find.
            obj.setMaxEntries(BpfObject.MAP_PROC_SCANNED, !processPrograms ? 1
                    : WorkloadAttachment.scanEntries(WorkloadAttachment.inetSockets(Path.of("/proc/slabinfo"))));
            if (persistence != null) {
                persistence.beforeLoad(lib, obj);
            }
            try {
                obj.load();
            } catch (dev.ebpftraffic.libbpf.LibbpfException ex) {
                failure = Privileges.explain(ex);
            }
            loaded[0] = obj;
        } catch (RuntimeException ex) {
            failure = ex;
        } finally {
            boolean quiet = failure != null && failure.getMessage() != null
                    && failure.getMessage().startsWith(Privileges.DENIED);
            synchronized (held) {
                holding[0] = false;
                for (Object[] m : held) {
                    Log.log(quiet ? Log.Level.DEBUG : (Log.Level) m[0], (String) m[1]);
                }
                held.clear();
            }
        }
        if (failure != null) {
            throw failure;
        }
        BpfObject obj = loaded[0];
        if (processPrograms) {
            // Right after the first load, on this thread: loaded later (after the port is bound, or on a
            // thread of its own) the start's idle RSS came out up to 2 MB higher (bench/JVM.md).
            try {
                obj.loadCore();
            } catch (dev.ebpftraffic.libbpf.LibbpfException ex) {
                coreFailure = ex; // reported by the per-process attach, which then does without
            }
        }
        if (persistence != null) {
            persistence.afterLoad(obj);
        }
        IpGroups.fill(obj, groups); // before attaching: the overflow path classes dst_ip by it
        BpfFlowReader reader = BpfFlowReader.of(obj);
        resources.add(reader);

        PrometheusRegistry registry = new PrometheusRegistry();
        if (clusterNames != null) {
            registry.register(new dev.ebpftraffic.kubernetes.ClusterCollector(clusterNames, clusterErrors, clusterWatching));
        }
        FlowAggregator.Settings settings = new FlowAggregator.Settings(o.maxSeries(), o.seriesTtl().toNanos(),
                Math.min(DRAIN_IDLE.toNanos(), o.seriesTtl().toNanos() / 2),
                FlowAggregator.Settings.defaultMaxTracked(o.maxSeries(), o.mapSize()));
        TrafficCollector collector = new TrafficCollector(reader, new FlowAggregator(settings, labeler),
                ifaceNames, this::hooks, BuildInfo.current(), Log::warn);
        registry.register(collector);
        resources.add(collector::close); // closed after every user of it, before the reader and the maps
        if (persistence != null) {
            persistence.restore(collector);
        }
        registry.register(new AttachCollector(() -> {
            AttachManager m = manager;
            return m == null ? AttachCollector.zero() : m.failures();
        }, () -> {
            AttachManager m = manager;
            return m == null ? Map.of() : m.reattachments();
        }));
        registry.register(new MapMemoryCollector(obj::mapMemory));
        live = new LiveView(collector, startReverseDns(registry));
        resources.add(live);
        StreamingFamilies traffic = StreamingFamilies.of(TrafficCollector::isTrafficName, collector::writeTrafficText);
        MetricsServer server = !serve ? null : MetricsServer.start(o.addr(), registry, new MetricsServer.Settings(
                o.telemetryPath(), web, readiness(), BuildInfo.current().version(), traffic, live));
        if (server != null) {
            resources.add(server);
            Log.info("listening on " + o.addr() + " (" + (server.isTls() ? "https" : "http") + ", metrics at "
                    + o.telemetryPath() + (web.auth() != null ? ", basic auth" : "") + ")");
        }

        // After the port is bound: a start-up failure there leaves nothing attached.
        if (!startWorkloads(o, obj, lib, collector) && persistence != null) {
            persistence.workloadsOff();
        }
        obj.closeCore(); // attached or not, the second object's copy of the programs is not needed again

        AttachManager.Programs programs = new AttachManager.Programs(
                obj.programFd(BpfObject.PROG_INGRESS), obj.programFd(BpfObject.PROG_EGRESS),
                obj.programFd(BpfObject.PROG_INGRESS_L3), obj.programFd(BpfObject.PROG_EGRESS_L3));
        if (persistence != null) {
            persistence.beforeAttach(lib);
        }
        AttachManager m = AttachManager.start(lib, programs, o.attachMode(), o.ifaces(), ifaceNames, collector::retire,
                Log::info, Log::warn, "poll".equals(System.getenv(LINK_WATCH_ENV)));
        resources.add(m);
        manager = m;

        // Between scrapes, keep draining idle kernel entries so the map never fills with old pairs.
        ScheduledExecutorService refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "map-refresh");
            t.setDaemon(true);
            return t;
        });
        if (persistence != null) {
            // Closed right after the refresher has stopped: on a graceful exit the pinned links stay
            // and the last state is written by this thread, which nothing interrupts.
            Persistence p = persistence;
            resources.add(() -> {
                if (started) {
                    p.exiting();
                }
            });
        }
        resources.add(() -> {
            // Not interrupted first: a refresh that is writing the state file must finish the write
            // before its reader deletes the kernel entries it moved (an interrupted write fails, and
            // the deleted entries' counts would then be in no state file).
            refresher.shutdown();
            if (!refresher.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                refresher.shutdownNow();
                Log.warn("map refresh still running after " + CLOSE_WAIT.toSeconds() + " s; closing anyway");
            }
        });
        refresher.scheduleWithFixedDelay(collector::refresh, REFRESH.toMillis(), REFRESH.toMillis(), TimeUnit.MILLISECONDS);
        Log.info("watching --iface " + o.ifaces() + ": " + m.hooks().size() / 2 + " interface(s) attached, "
                + (m.watchesEvents() ? "new ones attached on rtnetlink link events" : "new ones found by listing every second"));
    }

    /**
     * Per-workload attribution: the cgroup_skb programs on the cgroup v2 root. In auto mode a missing
     * cgroup v2 (or one a container does not show) or a refused attach is one line, and the exporter
     * runs without it; with --workloads cgroup it is fatal.
     */
    private boolean startWorkloads(Options o, BpfObject obj, Libbpf lib, TrafficCollector collector) {
        if (o.workloads().equals("off")) {
            return false;
        }
        boolean required = o.workloads().equals("cgroup");
        dev.ebpftraffic.workload.Cgroup2Mount mount = dev.ebpftraffic.workload.Cgroup2Mount.find();
        if (mount instanceof dev.ebpftraffic.workload.Cgroup2Mount.Missing missing) {
            if (required) {
                throw new IllegalStateException(missing.message() + " (--workloads cgroup needs it; use --workloads auto or off)");
            }
            Log.info(missing.message());
            return false;
        }
        dev.ebpftraffic.workload.Cgroup2Mount.Found found = (dev.ebpftraffic.workload.Cgroup2Mount.Found) mount;
        // The hierarchy's root cgroup has id (inode) 1. A mount that shows another group (a container's
        // private cgroup namespace) would attribute only that group's sockets: misleading, so not done.
        long rootId;
        try {
            rootId = (Long) java.nio.file.Files.getAttribute(found.mountPoint(), "unix:ino");
        } catch (java.io.IOException | RuntimeException ex) {
            rootId = -1;
        }
        if (rootId != 1) {
            String msg = "the cgroup v2 mount at " + found.mountPoint() + " shows a cgroup below the hierarchy's root"
                    + " (a private cgroup namespace?); per-workload traffic needs the host's cgroup namespace";
            if (required) {
                throw new IllegalStateException(msg);
            }
            Log.info(msg + "; per-workload traffic is off");
            return false;
        }
        WorkloadAttachment attachment;
        try {
            attachment = null;
            if (!required && processPrograms) { // auto: per process too, where the kernel lets us
                try {
                    if (coreFailure != null) {
                        throw coreFailure;
                    }
                    attachment = WorkloadAttachment.attach(obj, found.mountPoint(),
                            persistence == null ? null : persistence.cgroupLinkPins(lib), true);
                } catch (dev.ebpftraffic.libbpf.LibbpfException ex) {
                    Log.warn(ex.getMessage() + "; per-process traffic is off, per-workload traffic goes on");
                }
            }
            if (attachment == null) {
                attachment = WorkloadAttachment.attach(obj, found.mountPoint(),
                        persistence == null ? null : persistence.cgroupLinkPins(lib), false);
            }
        } catch (dev.ebpftraffic.libbpf.LibbpfException ex) {
            if (required) {
                throw ex;
            }
            Log.warn(ex.getMessage() + "; per-workload traffic is off");
            return false;
        }
        resources.add(attachment);
        dev.ebpftraffic.workload.CgroupResolver resolver = new dev.ebpftraffic.workload.CgroupResolver(found, Duration.ofSeconds(1));
        dev.ebpftraffic.workload.WorkloadAggregator workloads =
                new dev.ebpftraffic.workload.WorkloadAggregator(o.maxSeries(), o.seriesTtl().toNanos(), resolver::path);
        dev.ebpftraffic.kubernetes.ClusterNames names = clusterNames;
        if (names != null) { // a pod's containers are named after the pod's namespace and owning workload
            workloads.podNames(uid -> {
                dev.ebpftraffic.kubernetes.ClusterNames.PodName p = names.pod(uid);
                return p == null ? null : new String[] {p.namespace() + "/" + p.workload().workload(), p.workload().kind()};
            });
        }
        collector.setWorkloads(workloads);
        if (attachment.processes()) {
            collector.setProcesses(new dev.ebpftraffic.workload.ProcessTable(o.seriesTtl().toNanos(), resolver::path));
            if (attachment.scanError() != null) {
                Log.warn(attachment.scanError() + "; sockets opened before the start count under pid 0 (unknown)");
            }
            if (attachment.scanMissed() > 0) {
                Log.warn(attachment.scanMissed() + " sockets open at start did not fit in the proc_scanned map (max_entries "
                        + obj.maxEntries(BpfObject.MAP_PROC_SCANNED) + "): until they close, their traffic counts under pid 0 (unknown)");
            }
        }
        Log.info("per-workload traffic: attached to the cgroup v2 root " + found.mountPoint()
                + (attachment.processes() ? ", per process too" : ""));
        return true;
    }

    /**
     * The live view's host names: a resolver that asks only for the rows shown, or none with
     * --live.reverse-dns=false. A socket that cannot be opened costs the names, not the exporter.
     */
    private java.util.function.UnaryOperator<String> startReverseDns(PrometheusRegistry registry) {
        if (!reverseDns.enabled()) {
            return ip -> null;
        }
        List<java.net.InetSocketAddress> servers = reverseDns.servers().isEmpty()
                ? ResolvConf.servers(ResolvConf.DEFAULT) : reverseDns.servers();
        ReverseDns rdns;
        try {
            rdns = ReverseDns.start(ReverseDns.Settings.defaults(servers), Log::warn);
        } catch (java.io.IOException ex) {
            Log.warn("reverse DNS for the live view is off: cannot open a UDP socket: " + ex.getMessage());
            return ip -> null;
        }
        resources.add(rdns);
        registry.register(new ReverseDnsCollector(rdns::stats));
        Log.debug("live view host names from " + servers);
        return rdns::lookup;
    }

    /** The Kubernetes client's jar (pom.xml), next to the exporter's. */
    static final String KUBERNETES_JAR = "ebpf-traffic-exporter-kubernetes.jar";

    private java.util.function.LongSupplier clusterErrors = () -> 0;
    private java.util.function.Supplier<Map<dev.ebpftraffic.kubernetes.ClusterNames.Kind, Boolean>> clusterWatching = Map::of;

    /**
     * --kubernetes: the informers start now and fill the names in the background. An API server
     * that does not answer stops nothing: pairs are counted, with kind="unknown" until the names
     * come (ebpf_traffic_exporter_kubernetes_cache_synced, /-/ready). The client library's classes
     * are loaded only here.
     */
    private Labeler startKubernetes(Options.Kubernetes k, Labeler base) {
        // The client is a jar of its own that the launcher adds to the class path for --kubernetes
        // (an idle exporter does not open it); started another way, it may be missing.
        if (Exporter.class.getClassLoader().getResource("io/fabric8/kubernetes/client/KubernetesClient.class") == null) {
            throw new IllegalStateException("--kubernetes needs the Kubernetes client, " + KUBERNETES_JAR
                    + " next to the exporter's jar, on the class path: start the exporter with its launcher, which adds it");
        }
        dev.ebpftraffic.kubernetes.ClusterNames names = new dev.ebpftraffic.kubernetes.ClusterNames();
        dev.ebpftraffic.kubernetes.ClusterWatch watch = dev.ebpftraffic.kubernetes.ClusterWatch.start(k.kubeconfig(), names, Log::warn);
        resources.add(watch);
        clusterErrors = watch::errors;
        clusterWatching = watch::watching;
        clusterNames = names;
        Log.info("kubernetes: names from the API server (" + (k.kubeconfig() == null ? "in-cluster config" : k.kubeconfig())
                + (k.nodeName() == null ? "" : ", node " + k.nodeName()) + "), " + k.mode() + " mode");
        return new dev.ebpftraffic.kubernetes.ClusterLabeler(base, names, k.mode().equals("aggregate"));
    }

    /** /-/ready: attached, and with --kubernetes, the names listed once. */
    private dev.ebpftraffic.web.Readiness readiness() {
        return new dev.ebpftraffic.web.Readiness() {
            @Override
            public boolean getAsBoolean() {
                dev.ebpftraffic.kubernetes.ClusterNames names = clusterNames;
                return ready() && (names == null || names.synced());
            }

            @Override
            public String notReadyReason() {
                dev.ebpftraffic.kubernetes.ClusterNames names = clusterNames;
                return ready() && names != null && !names.synced()
                        ? "the Kubernetes names are not listed yet (is the API server reachable? see"
                          + " ebpf_traffic_exporter_kubernetes_watch_errors_total); traffic is counted meanwhile"
                        : null;
            }
        };
    }

    /** Every attached hook (none while closing). */
    private List<TcAttachment.Hook> hooks() {
        AttachManager m = manager;
        return m == null || closing ? List.of() : m.hooks();
    }

    /** Attached to every watched interface, with no hook taken away and not back yet. */
    private boolean ready() {
        AttachManager m = manager;
        return m != null && !closing && m.ready();
    }

    /** The live view (rates for /api/v1/top and `top`). */
    public LiveView live() {
        return live;
    }

    private static Log.Level libbpfLevel(int level) {
        return level == 0 ? Log.Level.WARN : Log.Level.DEBUG; // LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG
    }

    /** Detaches first, then stops serving and frees the maps. Safe to call twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        closing = true;
        for (int i = resources.size() - 1; i >= 0; i--) {
            AutoCloseable r = resources.get(i);
            try {
                r.close(); // the attach manager logs "detached from IFACE" for each interface
            } catch (Exception ex) {
                Log.warn("closing " + r.getClass().getSimpleName() + ": " + ex.getMessage());
            }
        }
        resources.clear();
    }
}
