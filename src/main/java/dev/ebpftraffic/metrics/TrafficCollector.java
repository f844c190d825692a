package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
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
 * library (any format it negotiates, {@link TrafficSnapshots}), and {@link #writeTrafficText}, a streaming writer of the text
 * format that a 100k-series scrape needs ({@link TrafficText}). Self-metrics are prefixed
 * ebpf_traffic_exporter_ ({@link SelfMetrics}); the per-interface stats counters are in {@link StatsTable}.
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
    static final String BYTES_HELP = "Bytes seen at the TC hook per source and destination IP (frame length incl. L2 header; GSO counted as wire segments)";
    static final String PACKETS_HELP = "Packets seen at the TC hook per source and destination IP (GSO/GRO counted as wire segments)";

    private final FlowReader reader;
    private final Supplier<List<TcAttachment.Hook>> hooks;
    private final BuildInfo buildInfo;
    private final Consumer<String> errorLog;
    private final FlowAggregator flows;
    private final StatsTable stats;
    private final TrafficText text = new TrafficText();
    /** The per-workload families; null when attribution is off. */
    private dev.ebpftraffic.workload.WorkloadAggregator workloads;
    /** Traffic per process (the live view only); null when not attributed. */
    private dev.ebpftraffic.workload.ProcessTable processes;
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
        this.hooks = hooks;
        this.buildInfo = buildInfo;
        this.errorLog = errorLog;
        this.stats = new StatsTable(ifaceName);
        if (flows != null) {
            flows.ifaceNames(ifaceName);
        }
    }

    /** Turns the per-workload families on (reads of the "workloads" map are serialised with the rest). */
    public synchronized void setWorkloads(dev.ebpftraffic.workload.WorkloadAggregator workloads) {
        this.workloads = workloads;
        if (workloads != null && savedWorkloads != null) {
            // Attribution starts after the state was restored (the cgroup programs attach after the port is bound).
            workloads.restoreState(savedWorkloads, workloadKernelContinues, clock.getAsLong());
            savedWorkloads = null;
        }
    }

    /** Turns per-process traffic on: "procs" is read with "workloads", in the same refresh. */
    public synchronized void setProcesses(dev.ebpftraffic.workload.ProcessTable processes) {
        this.processes = processes;
    }

    /** Whether per-process traffic is attributed. */
    public synchronized boolean hasProcesses() {
        return processes != null;
    }

    /** Runs action on the process table under the collector's lock, without reading the maps; false when there is none. */
    public synchronized boolean visitProcesses(Consumer<dev.ebpftraffic.workload.ProcessTable> action) {
        if (processes == null) {
            return false;
        }
        action.accept(processes);
        return true;
    }

    /** The time source of refreshes (ages, TTLs): tests step it. */
    synchronized void clock(java.util.function.LongSupplier clock) {
        this.clock = clock;
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
            stats.retire(reader, ifindex, now);
        } catch (RuntimeException e) {
            readFailed(e);
        }
        mustWrite = true;
        persist(); // the drained entries are gone from the kernel: their totals must be in the state
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
            stats.read(reader);
        } catch (RuntimeException e) {
            readFailed(e);
        }
        long now = clock.getAsLong();
        stats.expireRetired(now, flows.settings().ttlNanos());
        List<OtherKey> overflowKeys = stats.feedOverflow(flows, live, now);
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
        if (processes != null) { // the same moments as "workloads": per cgroup the two agree at every read
            try {
                processes.refresh(reader, now);
            } catch (RuntimeException e) {
                readFailed(e);
            }
        }
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

    /** Whether per-workload attribution is on (the live view's Workloads view has data). */
    public synchronized boolean hasWorkloads() {
        return workloads != null;
    }

    /**
     * Starts (non-null) or stops (null) feeding the live view's Workloads view, and sets the kernel
     * flag under which the cgroup_skb programs count each workload's remote peers ("wl_peers") to
     * match: peers cost the kernel nothing while nobody watches them.
     */
    public synchronized void setWorkloadListener(dev.ebpftraffic.workload.WorkloadAggregator.LiveListener listener) {
        if (workloads == null) {
            return;
        }
        workloads.setLiveListener(listener);
        if (closed) {
            return;
        }
        try {
            reader.peerSampling(listener != null);
        } catch (RuntimeException e) {
            readFailed(e);
        }
    }

    /**
     * Visits every workload series of the last refresh ("other" included) with its whole count, under
     * the collector's lock, then runs end (still under it). Nothing when attribution is off.
     */
    public synchronized void visitWorkloads(dev.ebpftraffic.workload.WorkloadAggregator.Visitor visitor, Runnable end) {
        if (workloads != null) {
            workloads.visitTotals(visitor);
        }
        end.run();
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

    /**
     * Writes network_traffic_bytes_total and network_traffic_packets_total in the Prometheus text
     * format 0.0.4, or OpenMetrics 1.0 (without the final "# EOF": the rest of the scrape follows),
     * after a fresh read of the maps. The lock is held only to read and copy.
     */
    public void writeTrafficText(OutputStream out, boolean openMetrics) throws IOException {
        long start = System.nanoTime();
        List<TrafficText.Row> rows;
        streamedWorkloads.remove();
        synchronized (this) {
            read();
            rows = text.copy(flows);
            List<MetricSnapshot> shown = null;
            if (workloads != null) {
                // The workload families of this scrape, from the same read: the one write below holds them too.
                shown = new ArrayList<>();
                TrafficSnapshots.workloads(workloads, shown);
            }
            persist(); // before the response: Prometheus never sees more than the state file holds
            if (shown != null) {
                streamedWorkloads.set(shown);
            }
        }
        try {
            TrafficText.write(rows, out, openMetrics);
        } catch (IOException | RuntimeException e) {
            streamedWorkloads.remove(); // no rest of this scrape will follow
            throw e;
        }
        synchronized (this) {
            lastScrapeSeconds = (System.nanoTime() - start) / 1e9;
        }
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
            TrafficSnapshots.traffic(flows, out);
        }
        List<MetricSnapshot> streamed = streamedWorkloads.get();
        streamedWorkloads.remove();
        boolean workloadFamilies = workloads != null && (included.test(WORKLOAD_BYTES) || included.test(WORKLOAD_PACKETS));
        boolean write = traffic;
        if (workloadFamilies && !traffic && streamed != null) {
            out.addAll(streamed); // rendered and saved by the streaming writer's read: no second read, no second write
        } else if (workloadFamilies) {
            if (!traffic) {
                refreshWorkloads(clock.getAsLong()); // asked for alone (no streamed families before it)
            }
            TrafficSnapshots.workloads(workloads, out);
            write = true;
        }
        if (write) {
            persist(); // before the response, with what the workload families show too
        }
        if (traffic) {
            lastScrapeSeconds = (System.nanoTime() - start) / 1e9;
        }
        SelfMetrics.collect(new SelfMetrics.View(stats.named(), flows, reader, hooks.get(), buildInfo, workloads,
                readErrors, lastScrapeSeconds), included, out);
        out.removeIf(s -> !included.test(s.getMetadata().getPrometheusName()));
        return new MetricSnapshots(out);
    }

    /** True for the names of the traffic families, with or without _total: for name filters. */
    public static boolean isTrafficName(String name) {
        return name.equals(BYTES) || name.equals(PACKETS) || TRAFFIC_NAMES.contains(name);
    }

    @Override
    public List<String> getPrometheusNames() {
        List<String> names = new ArrayList<>(List.of(BYTES, PACKETS, WORKLOAD_BYTES, WORKLOAD_PACKETS));
        names.addAll(SelfMetrics.names());
        return names;
    }

    // ---- state across restarts ---------------------------------------------------------------

    /**
     * The workload families that {@link #writeTrafficText} rendered, with the per-IP ones, from one
     * read and saved by one state write, for the {@link #collect} of the families it does not stream
     * that follows it on the same thread (the server renders a scrape in one thread). Rendering them
     * there again would read "workloads" again and write the state a second time in one scrape.
     */
    private final ThreadLocal<List<MetricSnapshot>> streamedWorkloads = new ThreadLocal<>();

    /** Receives the collector's state after every refresh that a scrape or the timer made. */
    public interface StateSink {
        void save(CollectorState state);
    }

    private StateSink stateSink;

    /** Saves the state through sink from now on (null: not at all). */
    public synchronized void stateSink(StateSink sink) {
        this.stateSink = sink;
        mustWrite = true;
    }

    /** A write is due whatever else says (the first one, after a failed one, after a retire). */
    private boolean mustWrite = true;
    /** reader.moves() at the last write. */
    private long movesWritten;

    /**
     * Caller holds the lock. Saves the state, then lets the reader delete the kernel entries it
     * moved into its totals: write-ahead, so a crash never loses them (see StateFile). A failed
     * write is logged, the previous state file stays whole, and the entries are deleted anyway
     * (the maps must not fill up); a crash before the next good write is then not exact.
     *
     * <p>The state is written only when it must be: the reader took something out of the kernel
     * since the last write, or a scrape showed a value the file does not hold, or a retire deleted
     * kernel entries. Anything else that changed in memory since (totals counted but not shown yet,
     * ages, expiry) is rebuilt after a crash from the older file plus what the kernel still holds:
     * nothing was deleted from the kernel and nothing was shown, so the file and the kernel together
     * still hold every count once. On an idle host most scrapes then write nothing.
     */
    private void persist() {
        if (closed) {
            return; // the reader may be closed; the last refresh saved the state
        }
        StateSink sink = stateSink;
        boolean shown = flows.takeShownChanged() | (workloads != null && workloads.takeShownChanged());
        long moves = reader.moves();
        if (sink != null && (mustWrite || shown || moves != movesWritten)) {
            try {
                sink.save(state());
                mustWrite = false;
                movesWritten = moves;
            } catch (RuntimeException e) {
                mustWrite = true;
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
        return new CollectorState(flows.saveState(now), stats.saveRetired(now), stats.saveOverflow(), reader.saveState(),
                workloads == null ? savedWorkloads : workloads.saveState(now));
    }

    /** The restored state's per-workload part, kept (and saved again) until attribution starts, or for good when it does not. */
    private dev.ebpftraffic.workload.WorkloadAggregator.State savedWorkloads;
    private boolean workloadKernelContinues;

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
        stats.restore(st, kernelContinues, now);
        savedWorkloads = st.workloads();
        workloadKernelContinues = flowsContinue;
        return flowsContinue;
    }
}
