package dev.ebpftraffic.persist;

import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.ReaderState;
import dev.ebpftraffic.flow.AggregatorState;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.Peer;
import dev.ebpftraffic.flow.SeriesKey;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.metrics.CollectorState;
import dev.ebpftraffic.workload.WorkloadAggregator;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The userspace state file (--state.file): the collector's state, plus which kernel maps it
 * describes (boot id and map ids), written atomically: a temporary file in the same directory,
 * fsync, rename over the old one, fsync of the directory. A reader sees the old state or the new
 * one, never a mix, also after a crash or a power loss.
 *
 * <p>Consistency. A pair's value, as the reader hands it to the aggregator, is the reader's
 * userspace total of the kernel entries it already moved out (deleted) plus the pair's entries
 * still in the kernel (see BpfFlowReader: the epoch flip). A state is one snapshot taken under the
 * collector's lock after a read, and holds: every series' and "other"'s totals and what scrapes
 * showed of them; per pair, the value already counted into its series; the reader's totals; and
 * the epoch counter P after that read. Two rules make it exact:
 * <ul>
 *   <li>Write-ahead: entries a read moved into the reader's totals are deleted from the kernel
 *       only after the state holding those totals is written, and before the next flip.</li>
 *   <li>On start over the same pinned maps, with the kernel's counter K: if K == P, entries of
 *       the other parity are in the saved totals (the process died before or while deleting
 *       them) and are deleted uncounted; entries of P's parity are not in them. If K == P + 1
 *       (it died between a flip and the write), nothing in the kernel is in the saved totals.
 *       The reader then starts from the saved totals, so a pair's first value is saved total +
 *       what the kernel holds, and the aggregator adds exactly that minus the saved counted
 *       value: what the kernel counted since the snapshot. Any other K: the state is not the
 *       last one (a write failed); the kernel part is dropped, with a warning.</li>
 * </ul>
 * The state is written after every read and before every scrape response, so Prometheus never
 * sees a value the file does not hold: after a restart, graceful or SIGKILL, every series
 * continues from what Prometheus saw, with no reset, nothing lost and nothing counted twice. The
 * stats map (overflow and skipped counters) and the overflow array are not epoch-based: their
 * counts are cumulative and continue from the saved values (for the array, the reader saves what
 * drains already handed out of it, so that is not handed out again); only a stats entry drained for a deleted interface between its
 * delete and the next write can be lost in a crash. See README "Restarts and upgrades".
 *
 * <p>Format (big-endian, {@link DataOutputStream}): magic, version, boot id, map ids, then the
 * state's lists. A file of another version or a damaged one is reported and ignored.
 */
public final class StateFile {
    static final int MAGIC = 0x45544553; // "ETES"
    static final int VERSION = 4; // 2: the reader's totals and epoch; 3: what drains took of the overflow counters;
    // 4: the per-workload series, the epoch of the last "workloads" hand-out, and the Kubernetes names
    static final int OLDEST = 3; // a version 3 file is a version 4 file without those

    /** What a state file says. mapIds: the kernel ids of the pinned maps, BpfPins.MAPS order (empty: not pinned). */
    public record Contents(String bootId, List<Integer> mapIds, CollectorState state) {
    }

    private final Path path;

    public StateFile(Path path) {
        this.path = path.toAbsolutePath();
    }

    public Path path() {
        return path;
    }

    private static void age(DataOutputStream o, long nanos, boolean ages) throws IOException {
        o.writeLong(ages ? nanos : 0);
    }

    /** Writes atomically; throws UncheckedIOException, leaving the old file whole. */
    public void write(Contents c) {
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16));
                encode(out, c, true);
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename atomically within " + path.getParent());
            }
            try (FileChannel dir = FileChannel.open(path.getParent(), StandardOpenOption.READ)) {
                dir.force(true);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the state file " + path + ": " + e.getMessage(), e);
        }
    }

    /** The state, or null when there is no file. Throws IllegalStateException for a damaged or foreign file. */
    public Contents read() {
        if (!Files.exists(path)) {
            return null;
        }
        try (InputStream in = Files.newInputStream(path)) {
            DataInputStream d = new DataInputStream(new BufferedInputStream(in, 1 << 16));
            if (d.readInt() != MAGIC) {
                throw new IllegalStateException(path + " is not a state file of this exporter");
            }
            int v = d.readInt();
            if (v < OLDEST || v > VERSION) {
                throw new IllegalStateException(path + " has state format version " + v + ", this version reads "
                        + OLDEST + " to " + VERSION);
            }
            return decode(d, v);
        } catch (EOFException e) {
            throw new IllegalStateException(path + " is truncated");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the state file " + path + ": " + e.getMessage(), e);
        }
    }

    /** Removes the file (clean removal). Returns true when there was one. */
    public boolean delete() {
        try {
            Files.deleteIfExists(path.resolveSibling(path.getFileName() + ".tmp"));
            Files.deleteIfExists(path.resolveSibling(path.getFileName() + ".lock"));
            return Files.deleteIfExists(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + path + ": " + e.getMessage(), e);
        }
    }

    /** This boot's id: kernel map ids are unique only within one boot. */
    public static String bootId() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        } catch (IOException e) {
            return "";
        }
    }

    // ---- encoding ----------------------------------------------------------------------------

    private static void encode(DataOutputStream o, Contents c, boolean ages) throws IOException {
        o.writeInt(MAGIC);
        o.writeInt(VERSION);
        o.writeUTF(c.bootId());
        o.writeInt(c.mapIds().size());
        for (int id : c.mapIds()) {
            o.writeInt(id);
        }
        AggregatorState a = c.state().flows();
        o.writeInt(a.series().size());
        java.util.Map<SeriesKey, Integer> index = new java.util.HashMap<>(a.series().size() * 2);
        for (AggregatorState.SeriesState s : a.series()) {
            index.put(s.key(), index.size());
            seriesKey(o, s.key());
            o.writeLong(s.packets());
            o.writeLong(s.bytes());
            o.writeLong(s.shownPackets());
            o.writeLong(s.shownBytes());
            o.writeBoolean(s.shown());
            o.writeDouble(s.score());
            age(o, s.idleNanos(), ages);
            o.writeBoolean(s.exported());
        }
        o.writeInt(a.others().size());
        for (AggregatorState.OtherState s : a.others()) {
            otherKey(o, s.key());
            o.writeLong(s.packets());
            o.writeLong(s.bytes());
            o.writeLong(s.shownPackets());
            o.writeLong(s.shownBytes());
            o.writeBoolean(s.shown());
            age(o, s.idleNanos(), ages);
            o.writeLong(s.foldedPackets());
            o.writeLong(s.foldedBytes());
        }
        o.writeInt(a.kernel().size());
        for (AggregatorState.KernelState k : a.kernel()) {
            flowKey(o, k.key());
            o.writeInt(index.getOrDefault(k.series(), -1)); // its series, by position in the list above
            if (!index.containsKey(k.series())) {
                seriesKey(o, k.series());
            }
            o.writeLong(k.packets());
            o.writeLong(k.bytes());
            age(o, k.idleNanos(), ages);
        }
        o.writeInt(a.coarse().size());
        for (OtherKey k : a.coarse()) {
            otherKey(o, k);
        }
        o.writeLong(a.drained());
        o.writeLong(a.expired());
        o.writeLong(a.evicted());
        CollectorState c2 = c.state();
        o.writeInt(c2.retired().size());
        for (CollectorState.RetiredStat r : c2.retired()) {
            o.writeUTF(r.iface());
            o.writeByte(r.direction().code());
            o.writeByte(r.stat().code());
            o.writeLong(r.packets());
            o.writeLong(r.bytes());
            age(o, r.idleNanos(), ages);
        }
        o.writeInt(c2.overflow().size());
        for (CollectorState.OverflowSeen s : c2.overflow()) {
            otherKey(o, s.key());
            o.writeLong(s.packets());
            o.writeLong(s.bytes());
        }
        ReaderState r = c2.reader();
        o.writeBoolean(r != null);
        if (r != null) {
            o.writeInt(r.epoch());
            o.writeInt(r.moved().size());
            for (ReaderState.Moved m : r.moved()) {
                flowKey(o, m.key());
                o.writeLong(m.packets());
                o.writeLong(m.bytes());
            }
            o.writeInt(r.overflowBase().size());
            for (ReaderState.OverflowBase b : r.overflowBase()) {
                o.writeInt(b.key().ifindex());
                o.writeByte(b.key().direction().code());
                o.writeByte(b.key().stat().code());
                o.writeLong(b.packets());
                o.writeLong(b.bytes());
            }
            o.writeInt(r.workloadEpoch());
        }
        WorkloadAggregator.State w = c2.workloads();
        o.writeBoolean(w != null);
        if (w != null) {
            o.writeInt(w.series().size());
            for (WorkloadAggregator.SeriesState x : w.series()) {
                workloadSeries(o, x, ages);
            }
            o.writeInt(w.others().size());
            for (WorkloadAggregator.SeriesState x : w.others()) {
                workloadSeries(o, x, ages);
            }
            o.writeLong(w.expired());
            for (long[] seen : w.overflowSeen()) {
                o.writeLong(seen[0]);
                o.writeLong(seen[1]);
            }
            o.writeLong(w.overflowTotal()[0]);
            o.writeLong(w.overflowTotal()[1]);
        }
        o.writeInt(MAGIC); // trailer: a truncated file cannot pass as whole
    }

    private static Contents decode(DataInputStream d, int version) throws IOException {
        boolean names = version >= 4;
        String boot = d.readUTF();
        List<Integer> ids = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            ids.add(d.readInt());
        }
        List<AggregatorState.SeriesState> series = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            series.add(new AggregatorState.SeriesState(seriesKey(d, names), d.readLong(), d.readLong(), d.readLong(), d.readLong(),
                    d.readBoolean(), d.readDouble(), d.readLong(), d.readBoolean()));
        }
        List<AggregatorState.OtherState> others = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            others.add(new AggregatorState.OtherState(otherKey(d), d.readLong(), d.readLong(), d.readLong(), d.readLong(),
                    d.readBoolean(), d.readLong(), d.readLong(), d.readLong()));
        }
        List<AggregatorState.KernelState> kernel = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            FlowKey fk = flowKey(d);
            int at = d.readInt();
            if (at >= series.size()) {
                throw new IllegalStateException("the state file is damaged (series " + at + " of " + series.size() + ")");
            }
            SeriesKey sk = at >= 0 ? series.get(at).key() : seriesKey(d, names);
            kernel.add(new AggregatorState.KernelState(fk, sk,
                    d.readLong(), d.readLong(), d.readLong()));
        }
        List<OtherKey> coarse = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            coarse.add(otherKey(d));
        }
        AggregatorState a = new AggregatorState(series, others, kernel, coarse, d.readLong(), d.readLong(), d.readLong());
        List<CollectorState.RetiredStat> retired = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            retired.add(new CollectorState.RetiredStat(d.readUTF(), Direction.ofCode(d.readByte()), KernelStat.ofCode(d.readByte()),
                    d.readLong(), d.readLong(), d.readLong()));
        }
        List<CollectorState.OverflowSeen> overflow = new ArrayList<>();
        for (int i = count(d); i > 0; i--) {
            overflow.add(new CollectorState.OverflowSeen(otherKey(d), d.readLong(), d.readLong()));
        }
        ReaderState reader = null;
        if (d.readBoolean()) {
            int epoch = d.readInt();
            List<ReaderState.Moved> moved = new ArrayList<>();
            for (int i = count(d); i > 0; i--) {
                moved.add(new ReaderState.Moved(flowKey(d), d.readLong(), d.readLong()));
            }
            List<ReaderState.OverflowBase> ob = new ArrayList<>();
            for (int i = count(d); i > 0; i--) {
                ob.add(new ReaderState.OverflowBase(new StatKey(d.readInt(), Direction.ofCode(d.readByte()),
                        KernelStat.ofCode(d.readByte())), d.readLong(), d.readLong()));
            }
            reader = new ReaderState(epoch, moved, ob, version >= 4 ? d.readInt() : -1);
        }
        WorkloadAggregator.State workloads = null;
        if (version >= 4 && d.readBoolean()) {
            List<WorkloadAggregator.SeriesState> ws = new ArrayList<>();
            for (int i = count(d); i > 0; i--) {
                ws.add(workloadSeries(d));
            }
            List<WorkloadAggregator.SeriesState> wo = new ArrayList<>();
            for (int i = count(d); i > 0; i--) {
                wo.add(workloadSeries(d));
            }
            long expired = d.readLong();
            long[][] seen = new long[4][];
            for (int i = 0; i < 4; i++) {
                seen[i] = new long[] {d.readLong(), d.readLong()};
            }
            workloads = new WorkloadAggregator.State(ws, wo, expired, seen, new long[] {d.readLong(), d.readLong()});
        }
        if (d.readInt() != MAGIC) {
            throw new IllegalStateException("the state file is damaged (no trailer)");
        }
        return new Contents(boot, ids, new CollectorState(a, retired, overflow, reader, workloads));
    }

    private static int count(DataInputStream d) throws IOException {
        int n = d.readInt();
        if (n < 0 || n > 100_000_000) {
            throw new IllegalStateException("the state file is damaged (a count of " + n + ")");
        }
        return n;
    }

    private static void flowKey(DataOutputStream o, FlowKey f) throws IOException {
        o.writeInt(f.ifindex());
        o.writeByte(f.direction().code());
        o.writeLong(f.src().hi());
        o.writeLong(f.src().lo());
        o.writeLong(f.dst().hi());
        o.writeLong(f.dst().lo());
    }

    private static FlowKey flowKey(DataInputStream d) throws IOException {
        int ifindex = d.readInt();
        Direction dir = Direction.ofCode(d.readByte());
        return FlowKey.of(ifindex, dir, new IpAddress(d.readLong(), d.readLong()), new IpAddress(d.readLong(), d.readLong()));
    }

    private static void seriesKey(DataOutputStream o, SeriesKey k) throws IOException {
        o.writeUTF(k.iface());
        o.writeByte(k.direction().code());
        o.writeUTF(k.src());
        o.writeUTF(k.dst());
        o.writeUTF(k.ipType());
        o.writeBoolean(k.srcPeer() != null); // --kubernetes: the two ends' names are part of the series
        if (k.srcPeer() != null) {
            for (Peer p : List.of(k.srcPeer(), k.dstPeer())) {
                o.writeUTF(p.namespace());
                o.writeUTF(p.workload());
                o.writeUTF(p.kind());
            }
        }
    }

    private static SeriesKey seriesKey(DataInputStream d, boolean names) throws IOException {
        String iface = d.readUTF();
        Direction dir = Direction.ofCode(d.readByte());
        String src = d.readUTF();
        String dst = d.readUTF();
        String ipType = d.readUTF();
        if (!names || !d.readBoolean()) {
            return new SeriesKey(iface, dir, src, dst, ipType);
        }
        Peer s = new Peer(d.readUTF(), d.readUTF(), d.readUTF());
        return new SeriesKey(iface, dir, src, dst, ipType, s, new Peer(d.readUTF(), d.readUTF(), d.readUTF()));
    }

    private static void workloadSeries(DataOutputStream o, WorkloadAggregator.SeriesState x, boolean ages) throws IOException {
        o.writeUTF(x.key().workload());
        o.writeUTF(x.key().kind());
        o.writeByte(x.key().direction().code());
        o.writeUTF(x.key().ipType());
        o.writeLong(x.packets());
        o.writeLong(x.bytes());
        o.writeLong(x.shownPackets());
        o.writeLong(x.shownBytes());
        o.writeBoolean(x.shown());
        age(o, x.idleNanos(), ages);
    }

    private static WorkloadAggregator.SeriesState workloadSeries(DataInputStream d) throws IOException {
        return new WorkloadAggregator.SeriesState(new WorkloadAggregator.Key(d.readUTF(), d.readUTF(), Direction.ofCode(d.readByte()),
                d.readUTF()), d.readLong(), d.readLong(), d.readLong(), d.readLong(), d.readBoolean(), d.readLong());
    }

    private static void otherKey(DataOutputStream o, OtherKey k) throws IOException {
        o.writeUTF(k.iface());
        o.writeByte(k.direction().code());
        o.writeUTF(k.ipType());
    }

    private static OtherKey otherKey(DataInputStream d) throws IOException {
        return new OtherKey(d.readUTF(), Direction.ofCode(d.readByte()), d.readUTF());
    }
}
