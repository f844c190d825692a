package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.Peer;
import dev.ebpftraffic.flow.SeriesKey;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.web.LiveApi;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.UnaryOperator;

/**
 * The live view behind /api/v1/top, /api/v1/workloads and `top`: "who is talking right now".
 *
 * <p>Nothing runs while nobody watches. The first query starts a sampler that refreshes the
 * collector every second (the exporter's own 5 s timer and the scrapes go on as before) and
 * feeds a {@link RateTracker}. When no query came for {@link #IDLE}, the sampler stops, the
 * tracker is detached from the collector and its memory freed. The Workloads view has its own idle
 * time within that: only while it is asked for does the kernel count each workload's peers.
 */
public final class LiveView implements LiveApi, AutoCloseable {
    public static final String TOP = LiveApi.PREFIX + "top";
    public static final String WORKLOADS = LiveApi.PREFIX + "workloads";
    public static final String PROCESSES = LiveApi.PREFIX + "processes";
    public static final Duration SAMPLE = Duration.ofSeconds(1);
    public static final Duration IDLE = Duration.ofSeconds(30);
    private static final List<String> DIRECTIONS = List.of("inbound", "outbound");

    private final TrafficCollector collector;
    private final UnaryOperator<String> names;
    private final RateTracker tracker;
    private final ProcessRates processRates;
    private final LongSupplier clock;
    private final ScheduledExecutorService sampler;
    private final long sampleNanos;
    private final long idleNanos;
    private volatile long lastUse;
    private ScheduledFuture<?> task; // guarded by this
    private final WorkloadTracker workloads;
    private volatile long lastWorkloadUse;
    private boolean workloadSampling; // guarded by this

    public LiveView(TrafficCollector collector) {
        this(collector, ip -> null);
    }

    /** names: an address's host name as far as known now, or null; asked only for the rows answered, must not wait. */
    public LiveView(TrafficCollector collector, UnaryOperator<String> names) {
        this(collector, SAMPLE, IDLE, names);
    }

    LiveView(TrafficCollector collector, Duration sample, Duration idle) {
        this(collector, sample, idle, ip -> null);
    }

    LiveView(TrafficCollector collector, Duration sample, Duration idle, UnaryOperator<String> names) {
        this.collector = collector;
        this.names = names;
        this.clock = System::nanoTime;
        this.tracker = new RateTracker(clock.getAsLong());
        this.workloads = new WorkloadTracker(clock.getAsLong());
        this.processRates = new ProcessRates(clock.getAsLong());
        this.sampleNanos = sample.toNanos();
        this.idleNanos = idle.toNanos();
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> { // the thread starts with the first task
            Thread t = new Thread(r, "live-sampler");
            t.setDaemon(true);
            return t;
        });
    }

    /** Whether the sampler runs (someone queried within IDLE). */
    public synchronized boolean sampling() {
        return task != null;
    }

    RateTracker tracker() {
        return tracker;
    }

    /** Marks a use; starts sampling (after a first refresh as the baseline) if it was idle. */
    private void touch() {
        lastUse = clock.getAsLong();
        synchronized (this) {
            if (task != null || sampler.isShutdown()) {
                return;
            }
            tracker.reset();
            collector.setLiveListener(tracker);
            processRates.reset();
            collector.visitProcesses(t -> t.setListener(processRates));
            collector.refresh(); // the baseline: rates start from here
            task = sampler.scheduleAtFixedRate(this::tick, sampleNanos, sampleNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void tick() {
        try {
            if (clock.getAsLong() - lastUse > idleNanos) {
                stop();
                return;
            }
            if (clock.getAsLong() - lastWorkloadUse > idleNanos) {
                stopWorkloads(); // someone still watches pairs, nobody the workloads: the kernel stops counting peers
            }
            collector.refresh();
        } catch (RuntimeException e) {
            // refresh() reports map errors itself; never let the schedule die silently
            dev.ebpftraffic.cli.Log.warn("live view sampler: " + e);
        }
    }

    private synchronized void stop() {
        if (task != null) {
            task.cancel(false);
            task = null;
        }
        collector.setLiveListener(null);
        collector.visitProcesses(t -> t.setListener(null));
        tracker.reset();
        processRates.reset();
        stopWorkloads();
    }

    // ---- the Workloads view ---------------------------------------------------------------------

    /**
     * Whether the Workloads view is being sampled: its tracker is fed and the kernel counts peers
     * (the "wl_peers_on" flag). Only while /api/v1/workloads was asked within IDLE.
     */
    public synchronized boolean workloadSampling() {
        return workloadSampling;
    }

    /** Marks a use of the Workloads view; starts its sampling (after a baseline refresh) if it was off. */
    private void touchWorkloads() {
        touch();
        lastWorkloadUse = clock.getAsLong();
        synchronized (this) {
            if (workloadSampling || task == null) {
                return;
            }
            workloads.reset();
            collector.setWorkloadListener(workloads); // sets the kernel's peer flag
            collector.refresh(); // the baseline of the workload rates and of the peers
            workloadSampling = true;
        }
    }

    private synchronized void stopWorkloads() {
        if (workloadSampling) {
            collector.setWorkloadListener(null); // clears the kernel's peer flag; "wl_peers" drains in two refreshes
            workloads.reset();
            workloadSampling = false;
        }
    }

    /** Whether per-workload attribution is on (the Workloads view has data). */
    public boolean hasWorkloads() {
        return collector.hasWorkloads();
    }

    /** The workload rows, totals, rates and peers for one query; starts the sampler if needed. */
    public WorkloadSnapshot queryWorkloads(WorkloadQuery q) {
        touchWorkloads();
        List<WorkloadSnapshot.Row> all = new ArrayList<>();
        Map<String, long[]> cumulative = new HashMap<>(); // direction -> {packets, bytes}
        Map<String, double[][]> rateTotals = new HashMap<>(); // direction -> {bits, packets}
        int[] covered = new int[1];
        List<Snapshot.Total> full = new ArrayList<>();
        collector.visitWorkloads((key, packets, bytes) -> {
            String dir = key.direction().label();
            long[] c = cumulative.computeIfAbsent(dir, x -> new long[2]);
            c[0] += packets;
            c[1] += bytes;
            RateTracker.Rates r = workloads.rates(key);
            double[][] t = rateTotals.computeIfAbsent(dir, x -> new double[2][RateTracker.WINDOWS.length]);
            for (int i = 0; i < RateTracker.WINDOWS.length; i++) {
                t[0][i] += r.bitsPerSecond()[i];
                t[1][i] += r.packetsPerSecond()[i];
            }
            if (!q.matches(key.workload(), key.kind(), dir, key.ipType())) {
                return;
            }
            boolean other = key.workload().equals(dev.ebpftraffic.workload.WorkloadAggregator.OTHER)
                    && key.kind().equals(dev.ebpftraffic.workload.WorkloadAggregator.OTHER);
            List<WorkloadSnapshot.Peer> peers = new ArrayList<>();
            workloads.forEachPeer(key, (ip, p) -> peers.add(p));
            peers.sort(peerOrder(q));
            List<WorkloadSnapshot.Peer> top = List.copyOf(peers.subList(0, Math.min(q.peers(), peers.size())));
            List<WorkloadSnapshot.Peer> rest = new ArrayList<>(peers.subList(top.size(), peers.size()));
            WorkloadSnapshot.Peer beyond = workloads.otherPeers(key);
            if (beyond != null) {
                rest.add(beyond);
            }
            all.add(new WorkloadSnapshot.Row(key.workload(), key.kind(), dir, key.ipType(), other,
                    new Snapshot.Rates(r.bitsPerSecond(), r.packetsPerSecond()), bytes, packets, r.historyBits(),
                    top, sum(rest)));
        }, () -> {
            covered[0] = workloads.coveredSeconds();
            for (String dir : DIRECTIONS) {
                long[] f = workloads.peersFull(dev.ebpftraffic.flow.Direction.valueOf(dir.toUpperCase(java.util.Locale.ROOT)));
                full.add(new Snapshot.Total(dir, new Snapshot.Rates(new double[3], new double[3]), f[1], f[0]));
            }
        });
        List<Snapshot.Total> totals = new ArrayList<>();
        for (String dir : DIRECTIONS) {
            long[] c = cumulative.getOrDefault(dir, new long[2]);
            double[][] t = rateTotals.getOrDefault(dir, new double[2][RateTracker.WINDOWS.length]);
            totals.add(new Snapshot.Total(dir, new Snapshot.Rates(t[0], t[1]), c[1], c[0]));
        }
        Comparator<WorkloadSnapshot.Row> order = SortableRow.<WorkloadSnapshot.Row>order(q.sort(), q.ascending())
                .thenComparing(WorkloadSnapshot.Row::other)
                .thenComparing(WorkloadSnapshot.Row::workload).thenComparing(WorkloadSnapshot.Row::direction)
                .thenComparing(WorkloadSnapshot.Row::ipType);
        all.sort(order);
        int matched = all.size();
        List<WorkloadSnapshot.Row> rows = List.copyOf(all.subList(0, Math.min(q.n(), matched)));
        return new WorkloadSnapshot(System.currentTimeMillis(), covered[0], sampling(), q, matched, rows,
                List.copyOf(totals), List.copyOf(full));
    }

    private static Comparator<WorkloadSnapshot.Peer> peerOrder(WorkloadQuery q) {
        return SortableRow.<WorkloadSnapshot.Peer>order(q.sort(), q.ascending())
                .thenComparing(WorkloadSnapshot.Peer::ip);
    }

    /** The peers not listed, as one: null when there are none. */
    private static WorkloadSnapshot.Peer sum(List<WorkloadSnapshot.Peer> rest) {
        if (rest.isEmpty()) {
            return null;
        }
        int n = RateTracker.WINDOWS.length;
        double[] bits = new double[n];
        double[] packets = new double[n];
        long b = 0;
        long p = 0;
        for (WorkloadSnapshot.Peer x : rest) {
            for (int i = 0; i < n; i++) {
                bits[i] += x.rates().bitsPerSecond()[i];
                packets[i] += x.rates().packetsPerSecond()[i];
            }
            b += x.bytes();
            p += x.packets();
        }
        return new WorkloadSnapshot.Peer(dev.ebpftraffic.workload.WorkloadAggregator.OTHER,
                new Snapshot.Rates(bits, packets), b, p);
    }

    /** The rows, totals and rates for one query; starts the sampler if needed. */
    public Snapshot query(Query q) {
        touch();
        List<Snapshot.Row> all = new ArrayList<>();
        Set<Object> liveKeys = new HashSet<>();
        Set<String> ifaces = new TreeSet<>();
        Map<String, long[]> cumulative = new HashMap<>(); // direction -> {packets, bytes}
        int[] covered = new int[1];
        List<Snapshot.Total> totals = new ArrayList<>();
        collector.visitTraffic(new TrafficCollector.TrafficVisitor() {
            @Override
            public void series(SeriesKey key, String iface, long packets, long bytes) {
                liveKeys.add(key);
                add(key, Peer.shown(key.src(), key.srcPeer()), Peer.shown(key.dst(), key.dstPeer()), key.direction().label(),
                        key.ipType(), iface, false, packets, bytes);
            }

            @Override
            public void other(OtherKey key, String iface, long packets, long bytes) {
                liveKeys.add(key);
                add(key, TrafficCollector.OTHER, TrafficCollector.OTHER, key.direction().label(), key.ipType(), iface,
                        true, packets, bytes);
            }

            private void add(Object key, String src, String dst, String dir, String ipType, String iface, boolean other,
                             long packets, long bytes) {
                ifaces.add(iface);
                long[] c = cumulative.computeIfAbsent(dir, x -> new long[2]);
                c[0] += packets;
                c[1] += bytes;
                if (!matches(q, src, dst, dir, ipType, iface)) {
                    return;
                }
                RateTracker.Rates r = tracker.rates(key);
                all.add(new Snapshot.Row(src, dst, dir, ipType, iface, other,
                        new Snapshot.Rates(r.bitsPerSecond(), r.packetsPerSecond()), bytes, packets, r.historyBits()));
            }

            @Override
            public void end() {
                // Under the collector's lock, so no refresh slips in: forget series no longer exported.
                tracker.retain(liveKeys);
                covered[0] = tracker.coveredSeconds();
                for (String dir : DIRECTIONS) {
                    double[] bits = new double[RateTracker.WINDOWS.length];
                    double[] packets = new double[RateTracker.WINDOWS.length];
                    tracker.forEachGroup((g, r) -> {
                        if (g.direction().label().equals(dir)) {
                            for (int i = 0; i < bits.length; i++) {
                                bits[i] += r.bitsPerSecond()[i];
                                packets[i] += r.packetsPerSecond()[i];
                            }
                        }
                    });
                    long[] c = cumulative.getOrDefault(dir, new long[2]);
                    totals.add(new Snapshot.Total(dir, new Snapshot.Rates(bits, packets), c[1], c[0]));
                }
            }
        });
        Comparator<Snapshot.Row> order = SortableRow.<Snapshot.Row>order(q.sort(), q.ascending())
                .thenComparing(Snapshot.Row::other) // a pair before "other" on a tie
                .thenComparing(Snapshot.Row::src).thenComparing(Snapshot.Row::dst)
                .thenComparing(Snapshot.Row::direction).thenComparing(Snapshot.Row::iface)
                .thenComparing(Snapshot.Row::ipType);
        all.sort(order);
        int matched = all.size();
        List<Snapshot.Row> top = new ArrayList<>(all.subList(0, Math.min(q.n(), matched)));
        // Names only for the rows shown: what nobody sees is never looked up.
        top.replaceAll(r -> r.other() ? r : r.withNames(names.apply(r.src()), names.apply(r.dst())));
        top = List.copyOf(top);
        return new Snapshot(System.currentTimeMillis(), covered[0], sampling(), q, matched, top, List.copyOf(totals),
                List.copyOf(ifaces));
    }

    /**
     * The process rows, totals and rates for one query (starts the sampler if needed); null when
     * per-process traffic is not attributed.
     */
    public ProcessSnapshot processes(ProcessQuery q) {
        if (!collector.hasProcesses()) {
            return null;
        }
        touch();
        List<ProcessSnapshot.Row> all = new ArrayList<>();
        List<Snapshot.Total> totals = new ArrayList<>();
        int[] covered = new int[1];
        collector.visitProcesses(t -> {
            Set<dev.ebpftraffic.workload.ProcessTable.Row> live = new HashSet<>();
            t.forEach(e -> {
                live.add(e.row());
                String dir = e.direction().label();
                if (!q.matches(e.pid(), e.comm(), e.workload(), e.kind(), dir)) {
                    return;
                }
                RateTracker.Rates r = processRates.rates(e.row());
                all.add(new ProcessSnapshot.Row(e.pid(), e.comm(), e.workload(), e.kind(), dir,
                        new Snapshot.Rates(r.bitsPerSecond(), r.packetsPerSecond()), e.bytes(), e.packets(), r.historyBits()));
            });
            processRates.retain(live);
            covered[0] = processRates.coveredSeconds();
            for (dev.ebpftraffic.flow.Direction d : dev.ebpftraffic.flow.Direction.values()) {
                RateTracker.Rates r = processRates.direction(d.code());
                long[] c = t.total(d);
                totals.add(new Snapshot.Total(d.label(), new Snapshot.Rates(r.bitsPerSecond(), r.packetsPerSecond()), c[1], c[0]));
            }
        });
        Comparator<ProcessSnapshot.Row> order = SortableRow.<ProcessSnapshot.Row>order(q.sort(), q.ascending())
                .thenComparingInt(ProcessSnapshot.Row::pid).thenComparing(ProcessSnapshot.Row::workload)
                .thenComparing(ProcessSnapshot.Row::direction);
        all.sort(order);
        int matched = all.size();
        return new ProcessSnapshot(System.currentTimeMillis(), covered[0], sampling(), q, matched,
                List.copyOf(all.subList(0, Math.min(q.n(), matched))), List.copyOf(totals));
    }

    /** GET /api/v1/processes?...: 200, 400 for a bad query, 404 when processes are not attributed. */
    private Response getProcesses(String rawQuery) {
        ProcessQuery q;
        try {
            q = ProcessQuery.parse(rawQuery);
        } catch (Query.BadQuery e) {
            return new Response(400, LiveJson.error(e.getMessage()));
        }
        ProcessSnapshot s = processes(q);
        if (s == null) {
            return new Response(404, LiveJson.error("per-process traffic is off: it needs --workloads auto, cgroup v2 "
                    + "and a kernel that lets the exporter attach its socket programs (see the exporter's log)"));
        }
        return new Response(200, ProcessJson.write(s));
    }

    /** GET /api/v1/top?...: 200 with the snapshot, 400 with a one-line error for a bad query. */
    @Override
    public Response get(String path, String rawQuery) {
        if (path.equals(WORKLOADS)) {
            return getWorkloads(rawQuery);
        }
        if (path.equals(PROCESSES)) {
            return getProcesses(rawQuery);
        }
        if (!path.equals(TOP)) {
            return new Response(404, LiveJson.error("no such API path " + path + "; the API has " + TOP + ", " + WORKLOADS
                    + " and " + PROCESSES));
        }
        Query q;
        try {
            q = Query.parse(rawQuery);
        } catch (Query.BadQuery e) {
            return new Response(400, LiveJson.error(e.getMessage()));
        }
        return new Response(200, LiveJson.write(query(q)));
    }

    /** GET /api/v1/workloads?...: 200, 400 for a bad query, 503 when per-workload attribution is off. */
    private Response getWorkloads(String rawQuery) {
        WorkloadQuery q;
        try {
            q = WorkloadQuery.parse(rawQuery);
        } catch (Query.BadQuery e) {
            return new Response(400, LiveJson.error(e.getMessage()));
        }
        if (!collector.hasWorkloads()) {
            return new Response(503, LiveJson.error("per-workload traffic is off (--workloads off, or no usable cgroup v2:"
                    + " see the exporter's log)"));
        }
        return new Response(200, WorkloadJson.write(queryWorkloads(q)));
    }

    static boolean matches(Query q, String src, String dst, String dir, String ipType, String iface) {
        if (q.direction() != null && !q.direction().equals(dir)) {
            return false;
        }
        if (q.ipType() != null && !q.ipType().equals(ipType)) {
            return false;
        }
        if (q.iface() != null && !q.iface().equals(iface)) {
            return false;
        }
        return q.ip() == null || src.toLowerCase(java.util.Locale.ROOT).contains(q.ip())
                || dst.toLowerCase(java.util.Locale.ROOT).contains(q.ip());
    }

    /** Stops the sampler and waits (at most 10 s) for a tick that still runs. */
    @Override
    public void close() {
        sampler.shutdownNow();
        try {
            sampler.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            task = null;
        }
        collector.setLiveListener(null);
        collector.visitProcesses(t -> t.setListener(null));
        tracker.reset();
        processRates.reset();
        stopWorkloads();
    }
}
