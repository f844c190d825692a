package dev.ebpftraffic.workload;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.ProcessKey;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.LongFunction;

/**
 * Traffic per process (the Processes view and GET /api/v1/processes; not a metrics family: pids are
 * unbounded). One row per (cgroup, process, direction), with its cumulative packets and bytes since
 * the exporter saw it first, its command name and its cgroup's workload.
 *
 * <p>The kernel counts each packet of a socket once in "workloads" and once in "procs", in the same
 * program run, and both maps are drained in the same refresh: per cgroup, its rows (pid 0, "not
 * known", included) add up to its workload counts exactly, as long as neither map was full. A full
 * "procs" map counts in one row per direction, workload "other" and pid 0.
 *
 * <p>Rows idle for the TTL are forgotten (the totals keep their counts), so memory is bounded by the
 * processes active within the TTL. Not thread-safe: the collector serialises refreshes and reads.
 */
public final class ProcessTable {
    /** comm of the row of sockets whose process is not known (pid 0). */
    public static final String UNKNOWN = "unknown";
    /** workload, kind and comm of the rows of a full "procs" map. */
    public static final String OTHER = "other";
    /** cgroup of the "other" rows: no cgroup has this id. */
    static final long OTHER_CGROUP = -1;

    /** What identifies a row. */
    public record Row(long cgroup, int pid, Direction direction) {
    }

    /** One row as it is now. */
    public static final class Entry {
        final Row row;
        String comm;
        String workload;
        String kind;
        long packets;
        long bytes;
        long lastActive;

        Entry(Row row) {
            this.row = row;
        }

        public Row row() {
            return row;
        }

        public int pid() {
            return row.pid();
        }

        public String comm() {
            return comm;
        }

        public String workload() {
            return workload;
        }

        public String kind() {
            return kind;
        }

        public Direction direction() {
            return row.direction();
        }

        public long packets() {
            return packets;
        }

        public long bytes() {
            return bytes;
        }
    }

    /** The live view's hook: each refresh's deltas per row. */
    public interface Listener {
        void begin(long now);

        void delta(Row row, long packets, long bytes);

        void end(long now);
    }

    private final long ttlNanos;
    private final LongFunction<Optional<String>> paths;
    private final Map<Row, Entry> rows = new HashMap<>();
    private final Map<Long, Workload> names = new HashMap<>();
    private final long[][] overflowSeen = new long[2][2];
    private final long[][] totals = new long[2][2]; // [direction code] {packets, bytes}
    private Listener listener;

    /** paths: cgroup id to its path (CgroupResolver::path), empty when unknown. */
    public ProcessTable(long ttlNanos, LongFunction<Optional<String>> paths) {
        this.ttlNanos = ttlNanos;
        this.paths = paths;
    }

    public void setListener(Listener l) {
        listener = l;
    }

    /** Reads what the kernel counted since the last refresh. */
    public void refresh(FlowReader reader, long now) {
        Listener l = listener;
        if (l != null) {
            l.begin(now);
        }
        reader.readProcessDeltas((k, p, b) -> add(reader, k, p, b, now, l));
        long[][] o = reader.readProcessOverflow();
        for (int d = 0; d < 2; d++) {
            long dp = o[d][0] - overflowSeen[d][0];
            long db = o[d][1] - overflowSeen[d][1];
            overflowSeen[d][0] = o[d][0];
            overflowSeen[d][1] = o[d][1];
            if (dp != 0 || db != 0) {
                Row row = new Row(OTHER_CGROUP, 0, Direction.ofCode(d));
                Entry e = rows.computeIfAbsent(row, r -> named(new Entry(r), OTHER, OTHER, OTHER));
                count(e, dp, db, now, l);
            }
        }
        rows.values().removeIf(e -> now - e.lastActive >= ttlNanos);
        names.clear(); // a cgroup id is looked up again at most once a refresh: ids are not reused, paths can be renamed
        if (l != null) {
            l.end(now);
        }
    }

    private void add(FlowReader reader, ProcessKey k, long packets, long bytes, long now, Listener l) {
        Row row = new Row(k.cgroup(), k.tgid(), k.direction());
        Entry e = rows.get(row);
        if (e == null) {
            e = new Entry(row);
            Workload w = names.computeIfAbsent(k.cgroup(), id -> paths.apply(id).map(WorkloadNames::of).orElse(null));
            String comm = k.tgid() == 0 ? UNKNOWN : reader.processName(k.tgid()).orElse(UNKNOWN);
            if (w == null) {
                named(e, WorkloadAggregator.UNRESOLVED, "unknown", comm);
            } else {
                named(e, w.name(), w.kind().label(), comm);
            }
            rows.put(row, e);
        }
        count(e, packets, bytes, now, l);
    }

    private static Entry named(Entry e, String workload, String kind, String comm) {
        e.workload = workload;
        e.kind = kind;
        e.comm = comm;
        return e;
    }

    private void count(Entry e, long packets, long bytes, long now, Listener l) {
        e.packets += packets;
        e.bytes += bytes;
        e.lastActive = now;
        long[] t = totals[e.row.direction().code()];
        t[0] += packets;
        t[1] += bytes;
        if (l != null) {
            l.delta(e.row, packets, bytes);
        }
    }

    public void forEach(Consumer<Entry> action) {
        rows.values().forEach(action);
    }

    /** {packets, bytes} counted per direction since start, forgotten rows included. */
    public long[] total(Direction d) {
        return totals[d.code()].clone();
    }

    public int size() {
        return rows.size();
    }
}
