package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.FlowTable;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * All metrics of the exporter, built at scrape time from the kernel maps.
 *
 * <p>Traffic: network_traffic_{bytes,packets}_total per (src_ip, dst_ip, direction, ip_type, iface),
 * as FlowAggregator bounds them. Traffic of folded series (after their fold), and packets the kernel
 * could not put in its full flows map, are exported in the same families with src_ip="other",
 * dst_ip="other", so sum(increase()) over all series is exact (see FlowAggregator). These two families have two renderings: snapshots for the client
 * library (any format it negotiates), and {@link #writeTrafficText}, a streaming writer of the text
 * format that a 100k-series scrape needs. Self-metrics are prefixed ebpf_traffic_exporter_.
 *
 * <p>Every series is identified by the interface's name, not its ifindex: an interface deleted and
 * recreated under the same name continues the same counters. {@link #retire} takes the last counts
 * of an ifindex that is gone out of the kernel maps.
 */
public final class TrafficCollector implements MultiCollector {
    public static final String BYTES = "network_traffic_bytes";
    public static final String PACKETS = "network_traffic_packets";
    /** The two families as the text format names them. */
    public static final Set<String> TRAFFIC_NAMES = Set.of(BYTES + "_total", PACKETS + "_total");
    public static final String OTHER = "other";
    public static final String WORKLOAD_BYTES = "network_workload_traffic_bytes";
    public static final String WORKLOAD_PACKETS = "network_workload_traffic_packets";
    static final String WORKLOAD_BYTES_HELP = "Bytes sent or received by local sockets per workload (the socket's cgroup v2)"
            + " and remote ip_type: IP datagram length, no L2 header; GSO/GRO counted as wire segments";
    static final String WORKLOAD_PACKETS_HELP = "Packets sent or received by local sockets per workload (the socket's cgroup v2)"
            + " and remote ip_type; GSO/GRO counted as wire segments";
    static final String SELF = "ebpf_traffic_exporter_";
    static final String BYTES_HELP = "Bytes seen at the TC hook per source and destination IP (frame length incl. L2 header; GSO counted as wire segments)";
    static final String PACKETS_HELP = "Packets seen at the TC hook per source and destination IP (GSO/GRO counted as wire segments)";

    private final FlowReader reader;
    private final IntFunction<String> ifaceName;
    private final Supplier<List<TcAttachment.Hook>> hooks;
    private final BuildInfo buildInfo;
    private final Consumer<String> errorLog;
    private final FlowAggregator flows;
    private final FlowTable<StatKey> stats = new FlowTable<>();
    /** The per-workload families; null when attribution is off. */
    private dev.ebpftraffic.workload.WorkloadAggregator workloads;
    /**
     * Totals of stats entries whose interface is gone, by interface name: {packets, bytes, when
     * retired}. Dropped after the series TTL unless a live entry continues under the same name.
     */
    private final Map<NamedStat, long[]> retiredStats = new HashMap<>();
    /** The overflow counters as last seen, to hand "other" their growth. */
    private final Map<OtherKey, long[]> overflowSeen = new HashMap<>();
    private long readErrors;
    private double lastScrapeSeconds;
    private LiveListener live;
    private java.util.function.LongSupplier clock = System::nanoTime;
    /** Set by {@link #close}: the reader is never used again. Guarded by this. */
    private boolean closed;

    /**
     * The live view's hook: every refresh's deltas (see FlowAggregator.DeltaListener) and, before
     * them, the cumulative overflow counters the kernel keeps for "other".
     */
    public interface LiveListener extends FlowAggregator.DeltaListener {
        void overflow(OtherKey key, long packets, long bytes);
    }

    /** One exported traffic series, or an "other" series (key null), as a scrape would show it. */
    public interface TrafficVisitor {
        void series(SeriesKey key, String iface, long packets, long bytes);

        void other(OtherKey key, String iface, long packets, long bytes);

        /** After the last series, still under the lock. */
        default void end() {
        }
    }

    public TrafficCollector(FlowReader reader, FlowAggregator flows, IntFunction<String> ifaceName,
                            Supplier<List<TcAttachment.Hook>> hooks, BuildInfo buildInfo, Consumer<String> errorLog) {
        this.reader = reader;
        this.flows = flows;
        this.ifaceName = ifaceName;
        this.hooks = hooks;
        this.buildInfo = buildInfo;
        this.errorLog = errorLog;
        if (flows != null) {
            flows.ifaceNames(ifaceName);
        }
    }

    /** Turns the per-workload families on (reads of the "workloads" map are serialised with the rest). */
    public synchronized void setWorkloads(dev.ebpftraffic.workload.WorkloadAggregator workloads) {
        this.workloads = workloads;
    }

    /** The time source of refreshes (ages, TTLs): tests step it. */
    synchronized void clock(java.util.function.LongSupplier clock) {
        this.clock = clock;
    }

    /** A stats counter as exported: by interface name. */
    private record NamedStat(String iface, Direction direction, KernelStat stat) {
    }

    /**
     * The interface with this ifindex is gone (deleted, or renamed and no longer watched): reads
     * the maps one last time and moves every kernel entry of the ifindex into userspace totals
     * under the interface's name (which ifaceName must still resolve), deleting them from the
     * kernel maps. Nothing counted is lost, and the maps do not fill with entries of dead interfaces.
     */
    public synchronized void retire(int ifindex) {
        retire(ifindex, () -> { });
    }

    /**
     * {@link #retire(int)}, then {@code rename} (which renames or forgets the ifindex in the names
     * this collector reads), both under the collector's lock: no refresh in between can bind new
     * kernel entries of the ifindex to a name it is about to lose. rename runs even if the drain fails.
     */
    public synchronized void retire(int ifindex, Runnable rename) {
        try {
            retire0(ifindex);
        } finally {
            rename.run();
        }
    }

    private void retire0(int ifindex) {
        if (closed) {
            return;
        }
        read();
        long now = clock.getAsLong();
        try {
            flows.drainIfindex(reader, ifindex, now);
            List<FlowTable.Entry<StatKey>> gone = new ArrayList<>();
            for (FlowTable.Entry<StatKey> e : stats.entries()) {
                if (e.key().ifindex() == ifindex) {
                    gone.add(e);
                }
            }
            for (FlowTable.Entry<StatKey> e : gone) {
                StatKey k = e.key();
                reader.drainStat(k, (key, p, b) -> e.observe(p, b)); // throws: the entry stays, nothing is lost
                stats.remove(k);
                long[] t = retiredStats.computeIfAbsent(new NamedStat(ifaceName.apply(ifindex), k.direction(), k.stat()),
                        x -> new long[3]);
                t[0] += e.packets();
                t[1] += e.bytes();
                t[2] = now;
            }
        } catch (RuntimeException e) {
            readFailed(e);
        }
        persist(); // the drained entries are gone from the kernel: their totals must be in the state
    }

    /** The stats counters by interface name: live kernel entries plus those of interfaces that are gone. */
    private Map<NamedStat, long[]> namedStats() {
        Map<NamedStat, long[]> out = new HashMap<>();
        retiredStats.forEach((k, v) -> out.put(k, new long[]{v[0], v[1]}));
        for (FlowTable.Entry<StatKey> e : stats.entries()) {
            StatKey k = e.key();
            long[] t = out.computeIfAbsent(new NamedStat(ifaceName.apply(k.ifindex()), k.direction(), k.stat()),
                    x -> new long[2]);
            t[0] += e.packets();
            t[1] += e.bytes();
        }
        return out;
    }

    /** Reads the kernel maps into the userspace totals, and saves the state; a timer calls it between scrapes. */
    public synchronized void refresh() {
        if (closed) {
            return; // the maps may be gone: keep serving the last totals
        }
        read();
        persist();
    }

    /** Every read is followed by {@link #persist}, which lets the reader delete what it moved out of the kernel. */
    private void read() {
        if (closed) {
            return; // scrapes after close serve the last totals
        }
        // The two maps are read independently: one failing does not stall the other.
        try {
            stats.beginRead();
            reader.readStats(stats::observe);
            stats.endRead();
        } catch (RuntimeException e) {
            readFailed(e);
        }
        long now = clock.getAsLong();
        expireRetiredStats(now);
        List<OtherKey> overflowKeys = new ArrayList<>();
        LiveListener l = live;
        Map<OtherKey, long[]> seen = new HashMap<>();
        namedStats().forEach((k, v) -> {
            if (k.stat().isOverflow()) {
                OtherKey other = new OtherKey(k.iface(), k.direction(), k.stat().ipType());
                overflowKeys.add(other);
                if (l != null) {
                    l.overflow(other, v[0], v[1]);
                }
                // "other" takes the growth since the last refresh; a counter that went down (its
                // retired part expired, or it started over) counts from zero.
                long[] before = overflowSeen.get(other);
                long dp = before == null || v[0] < before[0] || v[1] < before[1] ? v[0] : v[0] - before[0];
                long db = before == null || v[0] < before[0] || v[1] < before[1] ? v[1] : v[1] - before[1];
                flows.addOther(other, dp, db, now);
                seen.put(other, v);
            }
        });
        overflowSeen.clear();
        overflowSeen.putAll(seen);
        try {
            flows.refresh(reader, now, overflowKeys);
        } catch (RuntimeException e) {
            readFailed(e);
        }
        // After flows.refresh: its epoch flip is what freezes the old epoch's "workloads" entries.
        refreshWorkloads(now);
    }

    private void refreshWorkloads(long now) {
        if (workloads != null) {
            try {
                workloads.refresh(reader, now);
            } catch (RuntimeException e) {
                readFailed(e);
            }
        }
    }

    /**
     * Stats of a gone interface expire like idle pairs: after the TTL, unless a live kernel entry
     * continues them under the same name (an interface recreated with that name).
     */
    private void expireRetiredStats(long now) {
        if (retiredStats.isEmpty()) {
            return;
        }
        java.util.Set<NamedStat> live = new java.util.HashSet<>();
        for (FlowTable.Entry<StatKey> e : stats.entries()) {
            StatKey k = e.key();
            live.add(new NamedStat(ifaceName.apply(k.ifindex()), k.direction(), k.stat()));
        }
        long ttl = flows.settings().ttlNanos();
        retiredStats.entrySet().removeIf(e -> !live.contains(e.getKey()) && now - e.getValue()[2] >= ttl);
    }

    /**
     * Stops every use of the reader. A refresh or scrape that runs now finishes first (it holds the
     * lock); later ones serve the last totals. Call it before the reader and the maps close.
     */
    public synchronized void close() {
        closed = true;
    }

    /** Starts (non-null) or stops (null) feeding the live view; it costs nothing while null. */
    public synchronized void setLiveListener(LiveListener listener) {
        live = listener;
        flows.setDeltaListener(listener);
    }

    /**
     * Visits every traffic series of the last refresh ("other" included) under the collector's
     * lock, without reading the maps: the live view calls it and reads its rates in the same lock.
     */
    public synchronized void visitTraffic(TrafficVisitor visitor) {
        // The live view shows everything counted: an "other" adds what its folded series had shown.
        flows.forEachExported((key, s) -> visitor.series(key, key.iface(), s.packets(), s.bytes()));
        flows.other().forEach((k, o) -> visitor.other(k, k.iface(), o.livePackets(), o.liveBytes()));
        visitor.end();
    }

    private void readFailed(RuntimeException e) {
        // Keep serving the last totals; the error counter tells the operator.
        readErrors++;
        errorLog.accept("reading the BPF maps failed: " + e.getMessage());
    }

    // ---- the traffic families -------------------------------------------------------------

    /** One exported traffic series, copied out under the lock so writing needs none. */
    private record Row(byte[] labels, long packets, long bytes) {
    }

    /** Copies every traffic series, "other" included, as this scrape exports them. Caller holds the lock. */
    private List<Row> trafficRows() {
        List<Row> rows = new ArrayList<>(flows.exportedSeries() + 8);
        flows.scrape(new FlowAggregator.ScrapeVisitor() {
            @Override
            public void series(SeriesKey key, FlowAggregator.Series s, long packets, long bytes) {
                byte[] l = s.exportCache;
                if (l == null) {
                    l = labelText(key.direction().label(), key.dst(), key.iface(), key.ipType(), key.src());
                    s.exportCache = l;
                }
                rows.add(new Row(l, packets, bytes));
            }

            @Override
            public void other(OtherKey k, long packets, long bytes) {
                rows.add(new Row(labelText(k.direction().label(), OTHER, k.iface(), k.ipType(), OTHER), packets, bytes));
            }
        });
        return rows;
    }

    /** {direction="...",dst_ip="...",iface="...",ip_type="...",src_ip="..."}, rendered once per series. */
    private static byte[] labelText(String direction, String dst, String iface, String ipType, String src) {
        String text = "{direction=\"" + direction + "\",dst_ip=\"" + TextLines.escape(dst) + "\",iface=\""
                + TextLines.escape(iface) + "\",ip_type=\"" + ipType + "\",src_ip=\"" + TextLines.escape(src) + "\"}";
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Writes network_traffic_bytes_total and network_traffic_packets_total in the Prometheus text
     * format 0.0.4, or OpenMetrics 1.0 (without the final "# EOF": the rest of the scrape follows),
     * after a fresh read of the maps. The lock is held only to read and copy.
     */
    public void writeTrafficText(OutputStream out, boolean openMetrics) throws IOException {
        long start = System.nanoTime();
        List<Row> rows;
        synchronized (this) {
            read();
            rows = trafficRows();
            persist(); // before the response: Prometheus never sees more than the state file holds
        }
        TextLines w = new TextLines(out);
        byte[] bytesName = (BYTES + "_total").getBytes(StandardCharsets.US_ASCII);
        byte[] packetsName = (PACKETS + "_total").getBytes(StandardCharsets.US_ASCII);
        w.ascii(header(BYTES, "bytes", BYTES_HELP, openMetrics));
        for (Row r : rows) {
            w.bytes(bytesName).bytes(r.labels()).ch(' ').number(r.bytes()).ch('\n');
        }
        w.ascii(header(PACKETS, null, PACKETS_HELP, openMetrics));
        for (Row r : rows) {
            w.bytes(packetsName).bytes(r.labels()).ch(' ').number(r.packets()).ch('\n');
        }
        w.flush();
        synchronized (this) {
            lastScrapeSeconds = (System.nanoTime() - start) / 1e9;
        }
    }

    /** The text format writes metadata under the sample name; OpenMetrics under the family name, with UNIT. */
    private static String header(String family, String unit, String help, boolean openMetrics) {
        if (!openMetrics) {
            return "# HELP " + family + "_total " + help + "\n# TYPE " + family + "_total counter\n";
        }
        return "# TYPE " + family + " counter\n" + (unit == null ? "" : "# UNIT " + family + " " + unit + "\n")
                + "# HELP " + family + " " + help + "\n";
    }

    // ---- the client library path ------------------------------------------------------------

    @Override
    public MetricSnapshots collect() {
        return collect(name -> true);
    }

    /**
     * Snapshots of every family whose name (with or without _total) passes the filter. The traffic families
     * (and the map read that feeds them) are skipped when filtered out: the streaming writer
     * renders them, and the client renders the rest.
     */
    @Override
    public synchronized MetricSnapshots collect(Predicate<String> includedNames) {
        long start = System.nanoTime();
        Predicate<String> included = base -> includedNames.test(base) || includedNames.test(base + "_total");
        boolean traffic = included.test(BYTES) || included.test(PACKETS);
        List<MetricSnapshot> out = new ArrayList<>();
        if (traffic) {
            read();
            CounterSnapshot.Builder bytes = CounterSnapshot.builder().name(BYTES).unit(Unit.BYTES).help(BYTES_HELP);
            CounterSnapshot.Builder packets = CounterSnapshot.builder().name(PACKETS).help(PACKETS_HELP);
            flows.scrape(new FlowAggregator.ScrapeVisitor() {
                @Override
                public void series(SeriesKey key, FlowAggregator.Series s, long p, long b) {
                    // The streaming writer is the hot path; here labels are built per scrape.
                    point(labels(key.direction().label(), key.dst(), key.iface(), key.ipType(), key.src()), p, b);
                }

                @Override
                public void other(OtherKey k, long p, long b) {
                    point(labels(k.direction().label(), OTHER, k.iface(), k.ipType(), OTHER), p, b);
                }

                private void point(Labels l, long p, long b) {
                    bytes.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(b).build());
                    packets.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(p).build());
                }
            });
            out.add(bytes.build());
            out.add(packets.build());
            persist();
        }

        if (workloads != null && (included.test(WORKLOAD_BYTES) || included.test(WORKLOAD_PACKETS))) {
            if (!traffic) {
                refreshWorkloads(clock.getAsLong()); // the streaming writer refreshed the rest just before
            }
            CounterSnapshot.Builder bytes = CounterSnapshot.builder().name(WORKLOAD_BYTES).unit(Unit.BYTES).help(WORKLOAD_BYTES_HELP);
            CounterSnapshot.Builder packets = CounterSnapshot.builder().name(WORKLOAD_PACKETS).help(WORKLOAD_PACKETS_HELP);
            workloads.scrape((k, p, b) -> {
                Labels l = Labels.of("direction", k.direction().label(), "ip_type", k.ipType(), "kind", k.kind(),
                        "workload", k.workload());
                bytes.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(b).build());
                packets.dataPoint(CounterDataPointSnapshot.builder().labels(l).value(p).build());
            });
            out.add(bytes.build());
            out.add(packets.build());
        }
        if (workloads != null) {
            out.add(gauge(SELF + "workload_unresolved_cgroups",
                    "Cgroup ids of the last read that no cgroup path resolved (their traffic is under workload=\"unresolved\")",
                    Labels.EMPTY, workloads.unresolvedCgroups()));
            out.add(counter(SELF + "workload_map_overflow_packets",
                    "Packets counted in workload=\"other\" because the kernel workloads map was full", workloads.overflowTotal()[0]));
        }

        CounterSnapshot.Builder overflowPackets = CounterSnapshot.builder().name(SELF + "flow_map_overflow_packets")
                .help("Packets counted in src_ip=\"other\" because the kernel flows map was full");
        CounterSnapshot.Builder overflowBytes = CounterSnapshot.builder().name(SELF + "flow_map_overflow_bytes").unit(Unit.BYTES)
                .help("Bytes counted in src_ip=\"other\" because the kernel flows map was full");
        CounterSnapshot.Builder skippedPackets = CounterSnapshot.builder().name(SELF + "skipped_packets")
                .help("Packets not attributed to an IP pair: reason=non_ip (ARP, LLDP, ...) or malformed (truncated or invalid IP header); always passed on unchanged");
        CounterSnapshot.Builder skippedBytes = CounterSnapshot.builder().name(SELF + "skipped_bytes").unit(Unit.BYTES)
                .help("Bytes of the packets in ebpf_traffic_exporter_skipped_packets_total");
        namedStats().forEach((k, v) -> {
            String dir = k.direction().label();
            if (k.stat().isOverflow()) {
                Labels self = Labels.of("direction", dir, "iface", k.iface(), "ip_type", k.stat().ipType());
                overflowPackets.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(v[0]).build());
                overflowBytes.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(v[1]).build());
            } else {
                Labels self = Labels.of("direction", dir, "iface", k.iface(),
                        "reason", k.stat() == KernelStat.NON_IP ? "non_ip" : "malformed");
                skippedPackets.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(v[0]).build());
                skippedBytes.dataPoint(CounterDataPointSnapshot.builder().labels(self).value(v[1]).build());
            }
        });
        out.add(overflowPackets.build());
        out.add(overflowBytes.build());
        out.add(skippedPackets.build());
        out.add(skippedBytes.build());
        out.add(gauge(SELF + "build_info", "Build information of the exporter; always 1",
                Labels.of("version", buildInfo.version(), "java_version", buildInfo.javaVersion()), 1));
        // One kernel map per address family (shorter keys hash faster): each fills on its own.
        Labels v4 = Labels.of("family", "ipv4");
        Labels v6 = Labels.of("family", "ipv6");
        out.add(GaugeSnapshot.builder().name(SELF + "flow_map_entries").help("Entries in the kernel flows map of the family at the last read")
                .dataPoint(GaugeDataPointSnapshot.builder().labels(v4).value(flows.kernelEntries(true)).build())
                .dataPoint(GaugeDataPointSnapshot.builder().labels(v6).value(flows.kernelEntries(false)).build()).build());
        out.add(GaugeSnapshot.builder().name(SELF + "flow_map_capacity").help("max_entries of the kernel flows map of the family (--map-size)")
                .dataPoint(GaugeDataPointSnapshot.builder().labels(v4).value(reader.flowCapacity()).build())
                .dataPoint(GaugeDataPointSnapshot.builder().labels(v6).value(reader.flowCapacity()).build()).build());
        out.add(counter(SELF + "flow_map_drained", "Idle kernel map entries drained into userspace totals", flows.drainedTotal()));
        out.add(gauge(SELF + "series_budget", "--max-series: most network_traffic_bytes_total series exported, \"other\" included (0: unlimited)",
                Labels.EMPTY, flows.settings().maxSeries()));
        out.add(gauge(SELF + "series_tracked", "IP-pair series held in userspace, exported or folded into \"other\"",
                Labels.EMPTY, flows.trackedSeries()));
        out.add(gauge(SELF + "series_exported", "IP-pair series exported under their own labels (\"other\" not included)",
                Labels.EMPTY, flows.exportedSeries()));
        out.add(counter(SELF + "series_expired", "Series dropped after --series-ttl without traffic (what scrapes did not show yet goes to \"other\")",
                flows.expiredTotal()));
        out.add(counter(SELF + "series_evicted", "Folded series forgotten to bound memory (their traffic went to \"other\")",
                flows.evictedTotal()));
        GaugeSnapshot.Builder attached = GaugeSnapshot.builder().name(SELF + "attached")
                .help("1 for each TC hook the program is attached to; mode is tcx or legacy (clsact)");
        for (TcAttachment.Hook h : hooks.get()) {
            attached.dataPoint(GaugeDataPointSnapshot.builder()
                    .labels(Labels.of("hook", h.hook(), "iface", h.iface(), "mode", h.mode())).value(1).build());
        }
        out.add(attached.build());
        out.add(counter(SELF + "map_read_errors", "Reads of the kernel maps that failed (the last totals were served)", readErrors));
        if (traffic) {
            lastScrapeSeconds = (System.nanoTime() - start) / 1e9;
        }
        out.add(gauge(SELF + "scrape_duration_seconds",
                "Time the last scrape spent reading the maps and rendering the traffic series", Labels.EMPTY, lastScrapeSeconds));
        out.removeIf(s -> !included.test(s.getMetadata().getPrometheusName()));
        return new MetricSnapshots(out);
    }

    /** True for the names of the traffic families, with or without _total: for name filters. */
    public static boolean isTrafficName(String name) {
        return name.equals(BYTES) || name.equals(PACKETS) || TRAFFIC_NAMES.contains(name);
    }

    private static Labels labels(String direction, String dst, String iface, String ipType, String src) {
        return Labels.of("direction", direction, "dst_ip", dst, "iface", iface, "ip_type", ipType, "src_ip", src);
    }

    private static GaugeSnapshot gauge(String name, String help, Labels labels, double value) {
        return GaugeSnapshot.builder().name(name).help(help)
                .dataPoint(GaugeDataPointSnapshot.builder().labels(labels).value(value).build()).build();
    }

    private static CounterSnapshot counter(String name, String help, double value) {
        return CounterSnapshot.builder().name(name).help(help)
                .dataPoint(CounterDataPointSnapshot.builder().value(value).build()).build();
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of(BYTES, PACKETS, WORKLOAD_BYTES, WORKLOAD_PACKETS,
                SELF + "workload_unresolved_cgroups", SELF + "workload_map_overflow_packets",
                SELF + "flow_map_overflow_packets", SELF + "flow_map_overflow_bytes",
                SELF + "skipped_packets", SELF + "skipped_bytes", SELF + "build_info",
                SELF + "flow_map_entries", SELF + "flow_map_capacity", SELF + "flow_map_drained", SELF + "series_budget",
                SELF + "series_tracked", SELF + "series_exported", SELF + "series_expired", SELF + "series_evicted",
                SELF + "attached", SELF + "map_read_errors", SELF + "scrape_duration_seconds");
    }

    // ---- state across restarts ---------------------------------------------------------------

    /** Receives the collector's state after every refresh that a scrape or the timer made. */
    public interface StateSink {
        void save(CollectorState state);
    }

    private StateSink stateSink;

    /** Saves the state through sink from now on (null: not at all). */
    public synchronized void stateSink(StateSink sink) {
        this.stateSink = sink;
    }

    /**
     * Caller holds the lock. Saves the state, then lets the reader delete the kernel entries it
     * moved into its totals: write-ahead, so a crash never loses them (see StateFile). A failed
     * write is logged, the previous state file stays whole, and the entries are deleted anyway
     * (the maps must not fill up); a crash before the next good write is then not exact.
     */
    private void persist() {
        if (closed) {
            return; // the reader may be closed; the last refresh saved the state
        }
        StateSink sink = stateSink;
        if (sink != null) {
            try {
                sink.save(state());
            } catch (RuntimeException e) {
                errorLog.accept("writing the state file failed: " + e.getMessage());
            }
        }
        try {
            reader.deleteMoved();
        } catch (RuntimeException e) {
            readFailed(e);
        }
    }

    /** A consistent copy of what the collector holds (under its lock). */
    public synchronized CollectorState state() {
        long now = clock.getAsLong();
        List<CollectorState.RetiredStat> retired = new ArrayList<>();
        retiredStats.forEach((k, v) -> retired.add(new CollectorState.RetiredStat(k.iface(), k.direction(), k.stat(),
                v[0], v[1], now - v[2])));
        List<CollectorState.OverflowSeen> overflow = new ArrayList<>();
        overflowSeen.forEach((k, v) -> overflow.add(new CollectorState.OverflowSeen(k, v[0], v[1])));
        return new CollectorState(flows.saveState(now), retired, overflow, reader.saveState());
    }

    /**
     * Continues from a saved state, before the first refresh. kernelContinues: the kernel maps are
     * the ones the state was taken from (pinned, same boot); then the kernel's counts continue from
     * the values the state says were counted already. Returns whether the flows entries continue
     * (the reader also found the kernel's epoch where the state left it).
     */
    public synchronized boolean restore(CollectorState st, boolean kernelContinues) {
        long now = clock.getAsLong();
        // The flows entries continue only when the reader's totals match the kernel's epoch too.
        boolean flowsContinue = kernelContinues && reader.restoreState(st.reader());
        flows.restoreState(st.flows(), flowsContinue, now);
        for (CollectorState.RetiredStat r : st.retired()) {
            retiredStats.put(new NamedStat(r.iface(), r.direction(), r.stat()), new long[]{r.packets(), r.bytes(), now - r.idleNanos()});
        }
        if (kernelContinues) { // new maps' overflow counters start at 0: all of their growth is new
            for (CollectorState.OverflowSeen o : st.overflow()) {
                overflowSeen.put(o.key(), new long[]{o.packets(), o.bytes()});
            }
        }
        return flowsContinue;
    }
}
