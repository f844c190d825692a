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

/**
 * The live view behind /api/v1/top and `top`: "who is talking right now".
 *
 * <p>Nothing runs while nobody watches. The first query starts a sampler that refreshes the
 * collector every second (the exporter's own 5 s timer and the scrapes go on as before) and
 * feeds a {@link RateTracker}. When no query came for {@link #IDLE}, the sampler stops, the
 * tracker is detached from the collector and its memory freed.
 */
public final class LiveView implements LiveApi, AutoCloseable {
    public static final String TOP = LiveApi.PREFIX + "top";
    public static final Duration SAMPLE = Duration.ofSeconds(1);
    public static final Duration IDLE = Duration.ofSeconds(30);
    private static final List<String> DIRECTIONS = List.of("inbound", "outbound");

    private final TrafficCollector collector;
    private final RateTracker tracker;
    private final LongSupplier clock;
    private final ScheduledExecutorService sampler;
    private final long sampleNanos;
    private final long idleNanos;
    private volatile long lastUse;
    private ScheduledFuture<?> task; // guarded by this

    public LiveView(TrafficCollector collector) {
        this(collector, SAMPLE, IDLE);
    }

    LiveView(TrafficCollector collector, Duration sample, Duration idle) {
        this.collector = collector;
        this.clock = System::nanoTime;
        this.tracker = new RateTracker(clock.getAsLong());
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
        tracker.reset();
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
        Comparator<Snapshot.Row> order = Comparator.comparingDouble(r -> r.sortValue(q.sort()));
        if (!q.ascending()) {
            order = order.reversed();
        }
        order = order.thenComparing(Comparator.comparingLong(Snapshot.Row::bytes).reversed())
                .thenComparing(Snapshot.Row::other) // a pair before "other" on a tie
                .thenComparing(Snapshot.Row::src).thenComparing(Snapshot.Row::dst)
                .thenComparing(Snapshot.Row::direction).thenComparing(Snapshot.Row::iface)
                .thenComparing(Snapshot.Row::ipType);
        all.sort(order);
        int matched = all.size();
        List<Snapshot.Row> top = List.copyOf(all.subList(0, Math.min(q.n(), matched)));
        return new Snapshot(System.currentTimeMillis(), covered[0], sampling(), q, matched, top, List.copyOf(totals),
                List.copyOf(ifaces));
    }

    /** GET /api/v1/top?...: 200 with the snapshot, 400 with a one-line error for a bad query. */
    @Override
    public Response get(String path, String rawQuery) {
        if (!path.equals(TOP)) {
            return new Response(404, LiveJson.error("no such API path " + path + "; the API has " + TOP));
        }
        Query q;
        try {
            q = Query.parse(rawQuery);
        } catch (Query.BadQuery e) {
            return new Response(400, LiveJson.error(e.getMessage()));
        }
        return new Response(200, LiveJson.write(query(q)));
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
        tracker.reset();
    }
}
