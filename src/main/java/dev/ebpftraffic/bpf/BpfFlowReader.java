package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.libbpf.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.libbpf.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Reads the per-CPU hash maps (flows4, flows6, stats) with BPF_MAP_LOOKUP_BATCH, falling back to get-next-key
 * plus lookup on kernels without batch support. Values are summed over possible CPUs.
 * Buffers are allocated once; callers serialise reads.
 *
 * <p>Flows entries are never deleted while a program may still add to them. The maps are preallocated
 * per-CPU hashes: a deleted element goes straight back on the free list, without an RCU grace period,
 * so a program that looked it up just before the delete would add to it afterwards, and that
 * increment would be lost or, once the element is reused, credited to another pair.
 * (BPF_F_NO_PREALLOC does not help: the BPF memory allocator also reuses freed elements at once,
 * and an increment into a freed element is lost either way.) Instead the programs put an epoch bit
 * in every key. Each {@link #readFlows} flips the epoch, waits for an RCU grace period (membarrier),
 * after which no program holds a pointer to an entry of the old epoch, and then moves the old
 * epoch's entries, frozen now, into {@code base} here and deletes them (below). A pair's value is its base
 * plus its entry of the current epoch; {@link #drainFlow} forgets a pair here without touching the
 * kernel. The cost on the hot path is one inlined array lookup per packet; a busy pair is inserted
 * again once per read.
 *
 * <p>The epoch map holds a counter, incremented by each flip; programs use its low bit. The
 * entries a read moved into {@code base} are deleted from the kernel only by {@link #deleteMoved},
 * after the caller saved {@code base} (write-ahead), and always before the next flip. So a state
 * saved after a read with counter P says: entries of the other parity are in base (deleted, or
 * about to be), entries of P's parity are not. {@link #restoreState} relies on that.
 */
public final class BpfFlowReader implements FlowReader, AutoCloseable {
    static final int BATCH = 1024;

    private final Libbpf lib;
    private final int flows4Fd;
    private final int flows6Fd;
    private final int statsFd;
    private final int flowCapacity;
    private final int cpus;
    private final long valueStride; // per-CPU values are 8-byte aligned: round_up(16, 8)
    private final Arena arena = Arena.ofShared();
    private final MemorySegment keys;
    private final MemorySegment values;
    private final MemorySegment inBatch;
    private final MemorySegment outBatch;
    private final MemorySegment count;
    private final MemorySegment drainKey;
    private final MemorySegment drainValue;
    private boolean batchUnsupported;
    private final int epochFd;
    private final MemorySegment epochKey;
    private final MemorySegment epochValue;
    private int epoch; // the counter in the epoch map; programs count in its low bit
    private int movedEpoch; // the counter of the last read that moved the old epoch's entries into base
    /** Entries of the old epoch whose values are in base but which are still in the kernel. */
    private final List<Pending> pending = new ArrayList<>();

    private record Pending(FlowKey key, int parity) {
    }
    /** Per pair: the values of its deleted (old-epoch) entries, less what a drain already handed out. */
    private final Map<FlowKey, long[]> base = new HashMap<>();
    /** Per pair: the value of its current-epoch entry as the last read reported it. */
    private Map<FlowKey, long[]> liveSeen = new HashMap<>();

    /** flowCapacity: max_entries of each of the two flows maps; epochFd: the "epoch" array. */
    public BpfFlowReader(Libbpf lib, int flows4Fd, int flows6Fd, int statsFd, int epochFd, int flowCapacity) {
        this.lib = lib;
        this.epochFd = epochFd;
        this.flows4Fd = flows4Fd;
        this.flows6Fd = flows6Fd;
        this.statsFd = statsFd;
        this.flowCapacity = flowCapacity;
        this.cpus = lib.numPossibleCpus();
        this.valueStride = (FlowValue.LAYOUT.byteSize() + 7) & ~7L;
        long maxKey = Math.max(FlowKey.LAYOUT6.byteSize(), StatKey.LAYOUT.byteSize());
        this.keys = arena.allocate(maxKey * BATCH, 8);
        this.values = arena.allocate(valueStride * cpus * BATCH, 8);
        this.inBatch = arena.allocate(maxKey, 8);
        this.outBatch = arena.allocate(maxKey, 8);
        this.count = arena.allocate(JAVA_INT);
        this.drainKey = arena.allocate(maxKey, 8);
        this.drainValue = arena.allocate(valueStride * cpus, 8);
        this.epochKey = arena.allocate(JAVA_INT);
        this.epochValue = arena.allocate(JAVA_INT);
        this.epoch = kernelEpoch(); // pinned maps keep theirs
        this.movedEpoch = epoch;
    }

    private int kernelEpoch() {
        epochKey.set(JAVA_INT, 0, 0);
        int ret = lib.mapLookupElem(epochFd, epochKey, epochValue);
        if (ret < 0) {
            throw new LibbpfException("cannot read the BPF epoch map: " + Libc.strerror(-ret), -ret);
        }
        return epochValue.get(JAVA_INT, 0);
    }

    public static BpfFlowReader of(BpfObject obj) {
        int capacity = obj.maxEntries(BpfObject.MAP_FLOWS4);
        if (obj.maxEntries(BpfObject.MAP_FLOWS6) != capacity) { // one capacity is reported for both
            throw new IllegalStateException("the flows4 and flows6 maps must have the same size (--map-size sizes both)");
        }
        return new BpfFlowReader(obj.lib(), obj.mapFd(BpfObject.MAP_FLOWS4), obj.mapFd(BpfObject.MAP_FLOWS6),
                obj.mapFd(BpfObject.MAP_STATS), obj.mapFd(BpfObject.MAP_EPOCH), capacity);
    }

    @Override
    public void readFlows(Sink<FlowKey> sink) {
        deleteMoved(); // throws while they stay: a flip would revive them
        int old = epoch & 1;
        flipEpoch();
        Map<FlowKey, long[]> live = new HashMap<>();
        List<FlowKey> frozen = new ArrayList<>();
        Map<FlowKey, long[]> frozenValues = new HashMap<>();
        for (boolean six : new boolean[] {false, true}) {
            read(six ? flows6Fd : flows4Fd, (six ? FlowKey.LAYOUT6 : FlowKey.LAYOUT4).byteSize(), (seg, off, p, b) -> {
                int ifdir = seg.get(JAVA_INT, off);
                seg.set(JAVA_INT, off, ifdir & ~(1 << EPOCH_BIT)); // FlowKey knows no epoch
                FlowKey k = six ? FlowKey.read6(seg, off) : FlowKey.read4(seg, off);
                seg.set(JAVA_INT, off, ifdir);
                if ((ifdir >>> EPOCH_BIT & 1) == old) {
                    frozen.add(k);
                    frozenValues.put(k, new long[] {p, b});
                } else {
                    live.put(k, new long[] {p, b});
                }
            });
        }
        // Nothing writes to the old epoch's entries any more: each one's value is final. It moves
        // into base now; deleteMoved removes it from the kernel once base is saved.
        for (FlowKey k : frozen) {
            long[] v = frozenValues.get(k);
            long[] acc = base.computeIfAbsent(k, x -> new long[2]);
            acc[0] += v[0];
            acc[1] += v[1];
            pending.add(new Pending(k, old));
        }
        movedEpoch = epoch; // not before: a read that fails after the flip moved nothing
        base.values().removeIf(v -> v[0] == 0 && v[1] == 0);
        liveSeen = live;
        for (Map.Entry<FlowKey, long[]> e : base.entrySet()) {
            long[] l = live.get(e.getKey());
            sink.accept(e.getKey(), e.getValue()[0] + (l == null ? 0 : l[0]), e.getValue()[1] + (l == null ? 0 : l[1]));
        }
        for (Map.Entry<FlowKey, long[]> e : live.entrySet()) {
            if (!base.containsKey(e.getKey())) {
                sink.accept(e.getKey(), e.getValue()[0], e.getValue()[1]);
            }
        }
    }

    @Override
    public void deleteMoved() {
        LibbpfException failed = null;
        for (java.util.Iterator<Pending> it = pending.iterator(); it.hasNext(); ) {
            Pending p = it.next();
            int ret = deleteEntry(p.key(), p.parity());
            if (ret == 0 || ret == -Errno.ENOENT) {
                it.remove();
            } else if (failed == null) {
                failed = new LibbpfException("cannot delete a BPF map entry: " + Libc.strerror(-ret), -ret);
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    private int deleteEntry(FlowKey k, int parity) {
        k.write(drainKey, 0);
        drainKey.set(JAVA_INT, 0, drainKey.get(JAVA_INT, 0) | parity << EPOCH_BIT);
        return lib.mapDeleteElem(k.ipv4() ? flows4Fd : flows6Fd, drainKey);
    }

    @Override
    public ReaderState saveState() {
        List<ReaderState.Moved> moved = new ArrayList<>(base.size());
        base.forEach((k, v) -> moved.add(new ReaderState.Moved(k, v[0], v[1])));
        return new ReaderState(movedEpoch, moved);
    }

    /**
     * With the kernel's counter K and the saved one P (see the class comment): K == P: the process
     * died after saving, its moved entries (other parity) may still be in the kernel and are
     * deleted here uncounted, since base holds them; K == P + 1: it died between a flip and the
     * save (or a read failed after its flip), nothing of the kernel is in base. Anything else: the
     * state is not the last one. P is the counter of the last read that moved entries, not of
     * the last flip.
     */
    @Override
    public boolean restoreState(ReaderState st) {
        if (st == null || !base.isEmpty() || !pending.isEmpty()) {
            return false;
        }
        int k = kernelEpoch();
        if (k != st.epoch() && k != st.epoch() + 1) {
            return false;
        }
        if (k == st.epoch()) {
            int moved = (k & 1) ^ 1;
            List<FlowKey> stale = new ArrayList<>();
            for (boolean six : new boolean[] {false, true}) {
                read(six ? flows6Fd : flows4Fd, (six ? FlowKey.LAYOUT6 : FlowKey.LAYOUT4).byteSize(), (seg, off, p, b) -> {
                    int ifdir = seg.get(JAVA_INT, off);
                    if ((ifdir >>> EPOCH_BIT & 1) == moved) {
                        seg.set(JAVA_INT, off, ifdir & ~(1 << EPOCH_BIT));
                        stale.add(six ? FlowKey.read6(seg, off) : FlowKey.read4(seg, off));
                        seg.set(JAVA_INT, off, ifdir);
                    }
                });
            }
            for (FlowKey f : stale) {
                int ret = deleteEntry(f, moved);
                if (ret < 0 && ret != -Errno.ENOENT) {
                    throw new LibbpfException("cannot delete a BPF map entry: " + Libc.strerror(-ret), -ret);
                }
            }
        }
        epoch = k;
        movedEpoch = k == st.epoch() ? k : st.epoch();
        for (ReaderState.Moved m : st.moved()) {
            base.put(m.key(), new long[] {m.packets(), m.bytes()});
        }
        return true;
    }

    /** IFDIR_EPOCH_BIT in bpf/traffic.h. */
    private static final int EPOCH_BIT = 30;

    /** Flips the epoch the programs count in, then waits until no program run of the old epoch is left. */
    private void flipEpoch() {
        epoch++;
        epochKey.set(JAVA_INT, 0, 0);
        epochValue.set(JAVA_INT, 0, epoch);
        int ret = lib.mapUpdateElem(epochFd, epochKey, epochValue, 0);
        if (ret < 0) {
            epoch--;
            throw new LibbpfException("cannot update the BPF epoch map: " + Libc.strerror(-ret), -ret);
        }
        if (!Libc.rcuGracePeriod()) {
            // No membarrier (or nohz_full CPUs): a program run lasts microseconds, and it runs with
            // preemption off; 20 ms is far longer than any of them.
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void readStats(Sink<StatKey> sink) {
        read(statsFd, StatKey.LAYOUT.byteSize(), (seg, off, p, b) -> sink.accept(StatKey.read(seg, off), p, b));
    }

    /**
     * Hands out the pair's value as the last {@link #readFlows} reported it and forgets the pair. The
     * kernel is not touched: an entry of the current epoch stays, and the part of it already handed out
     * is remembered as a negative base, so the pair shows again only with what it counts after that.
     */
    @Override
    public boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
        long[] b = base.remove(key);
        long[] l = liveSeen.remove(key);
        if (b == null && l == null) {
            return false;
        }
        long packets = (b == null ? 0 : b[0]) + (l == null ? 0 : l[0]);
        long bytes = (b == null ? 0 : b[1]) + (l == null ? 0 : l[1]);
        if (l != null && (l[0] != 0 || l[1] != 0)) {
            base.put(key, new long[] {-l[0], -l[1]});
        }
        sink.accept(key, packets, bytes);
        return true;
    }

    @Override
    public boolean drainStat(StatKey key, Sink<StatKey> sink) {
        key.write(drainKey, 0);
        return drain(statsFd, (p, b) -> sink.accept(key, p, b));
    }

    private interface ValueSink {
        void accept(long packets, long bytes);
    }

    /** Lookup-and-delete of the key in drainKey; its final value (summed over CPUs) goes to sink. */
    private boolean drain(int fd, ValueSink sink) {
        MemorySegment k = drainKey;
        int ret = lib.mapLookupAndDeleteElem(fd, k, drainValue);
        if (ret == -Errno.EINVAL || ret == -Errno.EOPNOTSUPP || ret == -Errno.ENOTSUPP) {
            // Kernels before 5.14 cannot lookup-and-delete hash maps: a packet landing between
            // the two calls is lost, which is why only idle entries are drained.
            ret = lib.mapLookupElem(fd, k, drainValue);
            if (ret == 0) {
                // Only a delete that worked makes the value final: otherwise the entry stays and
                // must not be handed over (the next read would count it again). ENOENT: someone
                // else deleted it after our lookup; the value read is its last.
                int del = lib.mapDeleteElem(fd, k);
                if (del < 0 && del != -Errno.ENOENT) {
                    ret = del;
                }
            }
        }
        if (ret == -Errno.ENOENT) {
            return false;
        }
        if (ret < 0) {
            throw new LibbpfException("cannot drain a BPF map entry: " + Libc.strerror(-ret), -ret);
        }
        emit((seg, off, p, b) -> sink.accept(p, b), k, 0, drainValue, 0);
        return true;
    }

    @Override
    public int flowCapacity() {
        return flowCapacity;
    }

    /** Forces the get-next-key path, as on a kernel without batch lookups (tests use it). */
    void forceOneByOne() {
        batchUnsupported = true;
    }

    /** Whether reads use get-next-key (no batch support). */
    public boolean usesFallback() {
        return batchUnsupported;
    }

    private interface RawSink {
        void accept(MemorySegment keys, long offset, long packets, long bytes);
    }

    private void read(int fd, long keySize, RawSink sink) {
        if (!batchUnsupported) {
            int err = readBatched(fd, keySize, sink);
            if (err == 0) {
                return;
            }
            if (err != Errno.EINVAL && err != Errno.EOPNOTSUPP && err != Errno.ENOTSUPP) {
                throw new LibbpfException("cannot read BPF map: " + Libc.strerror(err), err);
            }
            batchUnsupported = true; // only reached before the first batch succeeded
        }
        readOneByOne(fd, keySize, sink);
    }

    /** Returns 0, or the errno when the very first batch call failed. */
    private int readBatched(int fd, long keySize, RawSink sink) {
        boolean first = true;
        while (true) {
            count.set(JAVA_INT, 0, BATCH);
            int ret = lib.mapLookupBatch(fd, first ? MemorySegment.NULL : inBatch, outBatch, keys, values, count);
            if (ret < 0 && ret != -Errno.ENOENT) {
                if (first) {
                    return -ret;
                }
                throw new LibbpfException("cannot read BPF map: " + Libc.strerror(-ret), -ret);
            }
            int n = count.get(JAVA_INT, 0);
            for (int i = 0; i < n; i++) {
                emit(sink, keys, i * keySize, values, i * valueStride * cpus);
            }
            if (ret == -Errno.ENOENT) {
                return 0;
            }
            MemorySegment.copy(outBatch, 0, inBatch, 0, keySize);
            first = false;
        }
    }

    private void readOneByOne(int fd, long keySize, RawSink sink) {
        MemorySegment key = keys.asSlice(0, keySize);
        MemorySegment next = keys.asSlice(keySize, keySize);
        MemorySegment value = values.asSlice(0, valueStride * cpus);
        int ret = lib.mapGetNextKey(fd, MemorySegment.NULL, next);
        while (ret == 0) {
            MemorySegment.copy(next, 0, key, 0, keySize);
            if (lib.mapLookupElem(fd, key, value) == 0) { // the entry may have been deleted meanwhile
                emit(sink, key, 0, value, 0);
            }
            ret = lib.mapGetNextKey(fd, key, next);
        }
        if (ret != -Errno.ENOENT) {
            throw new LibbpfException("cannot read BPF map: " + Libc.strerror(-ret), -ret);
        }
    }

    private void emit(RawSink sink, MemorySegment keySeg, long keyOff, MemorySegment valSeg, long valOff) {
        long packets = 0;
        long bytes = 0;
        for (int c = 0; c < cpus; c++) {
            long base = valOff + c * valueStride;
            packets += valSeg.get(JAVA_LONG, base + FlowValue.OFF_PACKETS);
            bytes += valSeg.get(JAVA_LONG, base + FlowValue.OFF_BYTES);
        }
        sink.accept(keySeg, keyOff, packets, bytes);
    }

    @Override
    public void close() {
        arena.close();
    }
}
