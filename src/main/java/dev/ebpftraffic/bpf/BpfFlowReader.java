package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.ReaderState;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.flow.WorkloadKey;
import dev.ebpftraffic.flow.PeerKey;
import dev.ebpftraffic.flow.ProcessKey;
import dev.ebpftraffic.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Reads the hash maps flows4 and flows6 (one value per entry, shared by all CPUs) and stats (per-CPU: values
 * summed over possible CPUs) with BPF_MAP_LOOKUP_BATCH, falling back to get-next-key plus lookup on kernels
 * without batch support.
 * Buffers are allocated once; callers serialise reads.
 *
 * <p>Flows entries are never deleted while a program may still add to them. The maps are preallocated
 * hashes: a deleted element goes straight back on the free list, without an RCU grace period,
 * so a program that looked it up just before the delete would add to it afterwards, and that
 * increment would be lost or, once the element is reused, credited to another pair.
 * (BPF_F_NO_PREALLOC does not help: the BPF memory allocator also reuses freed elements at once,
 * and an increment into a freed element is lost either way.) Instead the programs put an epoch bit
 * in every key. Each {@link #readFlows} flips the epoch, waits for an RCU grace period (membarrier),
 * after which no program holds a pointer to an entry of the old epoch, and then moves the old
 * epoch's entries, frozen now, into {@code base} here and deletes them ({@link #deleteMoved}). A pair's value is its base
 * plus its entry of the current epoch; {@link #drainFlow} forgets a pair here without touching the
 * kernel. The cost on the hot path is one inlined array lookup per packet; a busy pair is inserted
 * again once per read.
 *
 * <p>The epoch map holds a counter, incremented by each flip; programs use its low bit. The
 * entries a read moved into {@code base} are deleted from the kernel only by {@link #deleteMoved},
 * after the caller saved {@code base} (write-ahead), and always before the next flip. So a state
 * saved after a read with counter P says: entries of the other parity are in base (deleted, or
 * about to be), entries of P's parity are not. {@link #restoreState} relies on that. P is the
 * counter of the last read that moved anything: a read that moved nothing leaves the state as it
 * was, so a state file need not be written for it (and a later flip implies the moved entries are
 * deleted, since {@link #readFlows} deletes them before it flips).
 */
public final class BpfFlowReader implements FlowReader, AutoCloseable {
    static final int BATCH = 1024;
    private static final int BPF_NOEXIST = 1;

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
    private final int fullFd;
    private final int overflowFd;
    private MemorySegment overflowValue;
    /** Per overflow stat: what drains already handed out of the "overflow" array's cumulative sums. */
    private final Map<StatKey, long[]> overflowBase = new HashMap<>();
    /** Per overflow stat: the "overflow" array's sums as the last readStats saw them. */
    private Map<StatKey, long[]> overflowSeen = new HashMap<>();
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
    private int workloadsFd = -1;
    private int workloadOverflowFd = -1;
    /** The epoch counter at the last {@link #readWorkloadDeltas} (Integer.MIN_VALUE: none yet). */
    private int workloadReadEpoch = Integer.MIN_VALUE;
    /** The epoch counter of the last read that handed out "workloads" entries (-1: none). */
    private int workloadMovedEpoch = -1;
    /** Raw keys of "workloads" entries handed out but still in the kernel: deleted by {@link #deleteMoved}. */
    private final List<byte[]> pendingWorkloads = new ArrayList<>();
    private int peersFd = -1;
    private int peersOnFd = -1;
    private int peersFullFd = -1;
    private static final java.lang.foreign.ValueLayout.OfLong LONG_BE =
            java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN);
    /** A "wl_peers" kernel key: the key and the epoch it was counted in. */
    private record EpochPeer(PeerKey key, int epoch) {
    }
    /** Per "wl_peers" entry still in the kernel: its value as the last read handed it out. */
    private Map<EpochPeer, long[]> peerSeen = new HashMap<>();
    private int procsFd = -1;
    private int procOverflowFd = -1;
    private int procCommsFd = -1;
    /** The epoch counter at the last {@link #readProcessDeltas} (Integer.MIN_VALUE: none yet). */
    private int procReadEpoch = Integer.MIN_VALUE;
    /** The per-CPU counts of busy flows entries ("hot4", "hot6"); null: none. */
    private HotSlots hot;
    /** The parity whose hot slots {@link #deleteMoved} frees with its entries; -1: none. */
    private int hotToZero = -1;
    /** Bytes per flows value (struct flow_entry), 8-byte aligned. */
    private static final long ENTRY_STRIDE = (HotSlots.ENTRY.byteSize() + 7) & ~7L;

    /** flowCapacity: max_entries of each of the two flows maps; epochFd: the "epoch" array. */
    public BpfFlowReader(Libbpf lib, int flows4Fd, int flows6Fd, int statsFd, int epochFd, int flowCapacity) {
        this(lib, flows4Fd, flows6Fd, statsFd, epochFd, -1, flowCapacity);
    }

    /** fullFd: the "flows_full" array, cleared after each drain of old entries (-1: none). */
    public BpfFlowReader(Libbpf lib, int flows4Fd, int flows6Fd, int statsFd, int epochFd, int fullFd, int flowCapacity) {
        this(lib, flows4Fd, flows6Fd, statsFd, epochFd, fullFd, -1, flowCapacity);
    }

    /** overflowFd: the per-CPU "overflow" array, whose counts are added to the stats read (-1: none). */
    public BpfFlowReader(Libbpf lib, int flows4Fd, int flows6Fd, int statsFd, int epochFd, int fullFd, int overflowFd,
                         int flowCapacity) {
        this.lib = lib;
        this.fullFd = fullFd;
        this.overflowFd = overflowFd;
        this.epochFd = epochFd;
        this.flows4Fd = flows4Fd;
        this.flows6Fd = flows6Fd;
        this.statsFd = statsFd;
        this.flowCapacity = flowCapacity;
        this.cpus = lib.numPossibleCpus();
        this.valueStride = (FlowValue.LAYOUT.byteSize() + 7) & ~7L;
        long maxKey = Math.max(FlowKey.LAYOUT6.byteSize(), StatKey.LAYOUT.byteSize());
        this.keys = arena.allocate(maxKey * BATCH, 8);
        this.values = arena.allocate(Math.max(valueStride * cpus, ENTRY_STRIDE) * BATCH, 8);
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
        BpfFlowReader r = new BpfFlowReader(obj.lib(), obj.mapFd(BpfObject.MAP_FLOWS4), obj.mapFd(BpfObject.MAP_FLOWS6),
                obj.mapFd(BpfObject.MAP_STATS), obj.mapFd(BpfObject.MAP_EPOCH),
                obj.hasMap(BpfObject.MAP_FLOWS_FULL) ? obj.mapFd(BpfObject.MAP_FLOWS_FULL) : -1,
                obj.hasMap(BpfObject.MAP_OVERFLOW) ? obj.mapFd(BpfObject.MAP_OVERFLOW) : -1, capacity);
        r.workloadMaps(obj.mapFd(BpfObject.MAP_WORKLOADS), obj.mapFd(BpfObject.MAP_WORKLOAD_OVERFLOW));
        if (obj.hasMap(BpfObject.MAP_WL_PEERS)) {
            r.peerMaps(obj.mapFd(BpfObject.MAP_WL_PEERS), obj.mapFd(BpfObject.MAP_WL_PEERS_ON),
                    obj.mapFd(BpfObject.MAP_WL_PEERS_FULL));
        }
        r.processMaps(obj.mapFd(BpfObject.MAP_PROCS), obj.mapFd(BpfObject.MAP_PROC_OVERFLOW), obj.mapFd(BpfObject.MAP_PROC_COMMS));
        r.createLostStats();
        if (obj.hasMap(BpfObject.MAP_HOT4)) { // (bench/hot_ab.sh loads objects from before them)
            r.hot = new HotSlots(obj.lib(), obj.mapFd(BpfObject.MAP_HOT4), obj.mapFd(BpfObject.MAP_HOT6));
        }
        return r;
    }

    /** The maps of the cgroup_skb programs ("workloads", "workload_overflow"). */
    public void workloadMaps(int workloadsFd, int overflowFd) {
        this.workloadsFd = workloadsFd;
        this.workloadOverflowFd = overflowFd;
    }

    /**
     * The "workloads" map drains through the epoch byte in its key, like the flows maps but with no
     * userspace totals: only entries of the old epoch are handed out, each once, whole. They were last
     * written before the last flip of {@link #readFlows}, which waited for an RCU grace period, so their
     * values are final; an entry of the current epoch is left alone until the next flip freezes it
     * (a scrape flips first, so it still shows everything counted before it). Handed-out entries are
     * deleted by {@link #deleteMoved}, after the caller saved the series they went into (write-ahead).
     * So a state file only needs the per-workload series and the epoch of the last hand-out, whatever
     * the kernel's key looks like (see {@link #restoreState}). Call it after readFlows, under the same
     * serialisation; a second call in the same epoch hands out nothing.
     */
    @Override
    public void readWorkloadDeltas(Sink<WorkloadKey> sink) {
        if (workloadsFd < 0 || workloadReadEpoch == epoch) {
            return;
        }
        int old = (epoch & 1) ^ 1; // programs store the counter's low bit in the key
        long keySize = WorkloadKey.LAYOUT.byteSize();
        List<byte[]> frozen = new ArrayList<>();
        List<WorkloadKey> keysOut = new ArrayList<>();
        List<long[]> valuesOut = new ArrayList<>();
        read(workloadsFd, keySize, cpus, (seg, off, p, b) -> {
            if (WorkloadKey.epoch(seg, off) == old) {
                frozen.add(seg.asSlice(off, keySize).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                keysOut.add(WorkloadKey.read(seg, off));
                valuesOut.add(new long[] {p, b});
            }
        });
        workloadReadEpoch = epoch;
        if (frozen.isEmpty()) {
            return;
        }
        pendingWorkloads.addAll(frozen);
        workloadMovedEpoch = epoch;
        moves++;
        for (int i = 0; i < frozen.size(); i++) {
            long[] v = valuesOut.get(i);
            if (v[0] != 0 || v[1] != 0) {
                sink.accept(keysOut.get(i), v[0], v[1]);
            }
        }
    }

    /** Deletes the handed-out "workloads" entries; returns 0 or the errno of the first failure (those stay pending). */
    private int deleteWorkloads() {
        int failed = 0;
        for (java.util.Iterator<byte[]> it = pendingWorkloads.iterator(); it.hasNext(); ) {
            byte[] raw = it.next();
            MemorySegment.copy(MemorySegment.ofArray(raw), 0, drainKey, 0, raw.length);
            int ret = lib.mapDeleteElem(workloadsFd, drainKey);
            if (ret == 0 || ret == -Errno.ENOENT) {
                it.remove();
            } else if (failed == 0) {
                failed = -ret;
            }
        }
        return failed;
    }

    /** The live view's peer maps ("wl_peers", its flag "wl_peers_on", "wl_peers_full"). */
    public void peerMaps(int peersFd, int onFd, int fullFd) {
        this.peersFd = peersFd;
        this.peersOnFd = onFd;
        this.peersFullFd = fullFd;
    }

    @Override
    public boolean hasPeers() {
        return peersFd >= 0;
    }

    @Override
    public void peerSampling(boolean on) {
        if (peersOnFd < 0) {
            return;
        }
        epochKey.set(JAVA_INT, 0, 0);
        epochValue.set(JAVA_INT, 0, on ? 1 : 0);
        int ret = lib.mapUpdateElem(peersOnFd, epochKey, epochValue, 0);
        if (ret < 0) {
            throw new LibbpfException("cannot update the BPF map wl_peers_on: " + Libc.strerror(-ret), -ret);
        }
    }

    /**
     * "wl_peers" drains as "workloads" does (see {@link #readWorkloadDeltas}), through the same epoch:
     * after the flag goes off, two reads leave the map empty. Call it after readFlows.
     */
    @Override
    public int readPeerDeltas(Sink<PeerKey> sink) {
        if (peersFd < 0) {
            return 0;
        }
        int current = epoch & 1;
        Map<EpochPeer, long[]> now = new HashMap<>();
        long size = PeerKey.LAYOUT.byteSize();
        read(peersFd, size, cpus, (seg, off, p, b) ->
                now.put(new EpochPeer(PeerKey.read(seg, off), PeerKey.epoch(seg, off)), new long[] {p, b}));
        Map<EpochPeer, long[]> next = new HashMap<>();
        int failed = 0;
        for (Map.Entry<EpochPeer, long[]> e : now.entrySet()) {
            EpochPeer k = e.getKey();
            long[] v = e.getValue();
            long[] seen = peerSeen.get(k);
            long dp = v[0] - (seen == null ? 0 : seen[0]);
            long db = v[1] - (seen == null ? 0 : seen[1]);
            if (k.epoch() != current) {
                MemorySegment key = drainKey;
                key.asSlice(0, size).fill((byte) 0);
                key.set(JAVA_LONG, 0, k.key().cgroup());
                key.set(LONG_BE, PeerKey.OFF_REMOTE, k.key().remote().hi());
                key.set(LONG_BE, PeerKey.OFF_REMOTE + 8, k.key().remote().lo());
                key.set(java.lang.foreign.ValueLayout.JAVA_BYTE, PeerKey.OFF_DIRECTION, (byte) k.key().direction().code());
                key.set(java.lang.foreign.ValueLayout.JAVA_BYTE, PeerKey.OFF_PRIVATE, (byte) (k.key().remotePrivate() ? 1 : 0));
                key.set(java.lang.foreign.ValueLayout.JAVA_BYTE, PeerKey.OFF_EPOCH, (byte) k.epoch());
                int ret = lib.mapDeleteElem(peersFd, key);
                if (ret != 0 && ret != -Errno.ENOENT) {
                    next.put(k, v);
                    failed = -ret;
                }
            } else {
                next.put(k, v);
            }
            if (dp != 0 || db != 0) {
                sink.accept(k.key(), dp, db);
            }
        }
        peerSeen = next;
        if (failed != 0) {
            throw new LibbpfException("cannot delete a BPF map entry: " + Libc.strerror(failed), failed);
        }
        return next.size();
    }

    @Override
    public long[][] readPeerOverflow() {
        return readArray(peersFullFd, 4); // index: direction * 2 + remote_private
    }

    /** The maps of the per-process programs ("procs", "proc_overflow", "proc_comms"). */
    public void processMaps(int procsFd, int overflowFd, int commsFd) {
        this.procsFd = procsFd;
        this.procOverflowFd = overflowFd;
        this.procCommsFd = commsFd;
    }

    /**
     * "procs" drains exactly as "workloads" ({@link #readWorkloadDeltas}): both are written by the same
     * program run in the same epoch, and only entries of the old epoch, frozen by the last flip, are
     * handed out, each once, whole; so per cgroup the processes' deltas add up to the workload's in
     * every refresh. Nothing of them is saved in a state file, so they are deleted right away. Call it
     * after readFlows, under the same serialisation; a second call in the same epoch hands out nothing.
     */
    @Override
    public void readProcessDeltas(Sink<ProcessKey> sink) {
        if (procsFd < 0 || procReadEpoch == epoch) {
            return;
        }
        int old = (epoch & 1) ^ 1; // programs store the counter's low bit in the key
        procReadEpoch = epoch;
        List<ProcessKey> keys = new ArrayList<>();
        List<long[]> values = new ArrayList<>();
        read(procsFd, ProcessKey.LAYOUT.byteSize(), cpus, (seg, off, p, b) -> {
            if (ProcessKey.epoch(seg, off) == old) {
                keys.add(ProcessKey.read(seg, off));
                values.add(new long[] {p, b});
            }
        });
        int failed = 0;
        for (int i = 0; i < keys.size(); i++) {
            long[] v = values.get(i);
            keys.get(i).write(drainKey, old);
            int ret = lib.mapDeleteElem(procsFd, drainKey);
            if (ret != 0 && ret != -Errno.ENOENT) {
                failed = -ret; // still there: the next epoch's read of this parity hands it out whole, not twice
                continue;
            }
            if (v[0] != 0 || v[1] != 0) {
                sink.accept(keys.get(i), v[0], v[1]);
            }
        }
        if (failed != 0) {
            throw new LibbpfException("cannot delete a BPF map entry: " + Libc.strerror(failed), failed);
        }
    }

    @Override
    public long[][] readProcessOverflow() {
        return readArray(procOverflowFd, 2); // index: direction
    }

    @Override
    public java.util.Optional<String> processName(int tgid) {
        if (procCommsFd < 0) {
            return java.util.Optional.empty();
        }
        epochKey.set(JAVA_INT, 0, tgid);
        int ret = lib.mapLookupElem(procCommsFd, epochKey, drainValue);
        return ret == 0 ? java.util.Optional.of(ProcessKey.comm(drainValue)) : java.util.Optional.empty();
    }

    @Override
    public long[][] readWorkloadOverflow() {
        return readArray(workloadOverflowFd, 4); // index: direction * 2 + remote_private
    }

    /** A per-CPU array of n struct flow_value, summed over CPUs (zeros when the map is absent). */
    private long[][] readArray(int fd, int n) {
        long[][] out = new long[n][2];
        if (fd < 0) {
            return out;
        }
        for (int i = 0; i < n; i++) {
            epochKey.set(JAVA_INT, 0, i);
            int ret = lib.mapLookupElem(fd, epochKey, drainValue);
            if (ret < 0) {
                throw new LibbpfException("cannot read BPF map: " + Libc.strerror(-ret), -ret);
            }
            int d = i;
            emit((seg, off, p, b) -> {
                out[d][0] = p;
                out[d][1] = b;
            }, epochKey, 0, drainValue, 0, cpus);
        }
        return out;
    }

    @Override
    public void readFlows(Sink<FlowKey> sink) {
        deleteMoved(); // throws while they stay: a flip would revive them
        int old = epoch & 1;
        flipEpoch();
        Map<FlowKey, long[]> live = new HashMap<>();
        List<FlowKey> frozen = new ArrayList<>();
        Map<FlowKey, long[]> frozenValues = new HashMap<>();
        // A busy entry's value is its shared value plus every CPU's copy of its hot slot (bpf/traffic.h,
        // struct flow_entry). Both parts only grow and counts never move between them, so reading the
        // slots first and the maps after keeps a live entry's sum monotonic.
        Map<HotSlots.Owner, long[]> hotCounts = hot == null ? new HashMap<>() : hot.read();
        for (boolean six : new boolean[] {false, true}) {
            read(six ? flows6Fd : flows4Fd, (six ? FlowKey.LAYOUT6 : FlowKey.LAYOUT4).byteSize(), ENTRY_STRIDE, 1, (seg, off, p, b) -> {
                int ifdir = seg.get(JAVA_INT, off);
                seg.set(JAVA_INT, off, ifdir & ~(1 << EPOCH_BIT)); // FlowKey knows no epoch
                FlowKey k = six ? FlowKey.read6(seg, off) : FlowKey.read4(seg, off);
                seg.set(JAVA_INT, off, ifdir);
                int parity = ifdir >>> EPOCH_BIT & 1;
                long[] h = hotCounts.remove(new HotSlots.Owner(k, parity));
                long[] v = {p + (h == null ? 0 : h[0]), b + (h == null ? 0 : h[1])};
                if (parity == old) {
                    frozen.add(k);
                    frozenValues.put(k, v);
                } else {
                    live.put(k, v);
                }
            });
        }
        // Slots of the old epoch whose entry was not found: none in practice (a program takes a slot only
        // for an entry it found, and only this class deletes entries, with their slots). They are final,
        // so they count as moved. A slot of the current epoch without an entry is a key being written
        // just now: it counts in a later read.
        hotCounts.forEach((o, v) -> {
            if (o.parity() == old) {
                long[] acc = base.computeIfAbsent(o.key(), x -> new long[2]);
                acc[0] += v[0];
                acc[1] += v[1];
            }
        });
        if (hot != null) {
            hotToZero = old;
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
        if (!frozen.isEmpty()) {
            movedEpoch = epoch; // not before: a read that fails after the flip moved nothing
            moves++;
        }
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

    /**
     * Also clears the map-full flags once the moved entries are deleted: only those deletes make
     * room, and they come after the state write, so the flags are cleared here and not in
     * {@link #readFlows}. Between a read and this call a full map keeps sending new pairs to the
     * overflow counters (counted either way).
     */
    @Override
    public void deleteMoved() {
        int wl = deleteWorkloads();
        if (wl != 0) {
            throw new LibbpfException("cannot delete a BPF map entry: " + Libc.strerror(wl), wl);
        }
        if (pending.isEmpty() && hotToZero < 0) {
            return;
        }
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
        if (hotToZero >= 0) { // their owners are gone: the slots are free for the epoch's next turn
            hot.zero(hotToZero, false);
            hotToZero = -1;
        }
        clearFull();
    }

    private int deleteEntry(FlowKey k, int parity) {
        k.write(drainKey, 0);
        drainKey.set(JAVA_INT, 0, drainKey.get(JAVA_INT, 0) | parity << EPOCH_BIT);
        return lib.mapDeleteElem(k.ipv4() ? flows4Fd : flows6Fd, drainKey);
    }

    private long moves;

    @Override
    public long moves() {
        return moves;
    }

    @Override
    public ReaderState saveState() {
        List<ReaderState.Moved> moved = new ArrayList<>(base.size());
        base.forEach((k, v) -> moved.add(new ReaderState.Moved(k, v[0], v[1])));
        List<ReaderState.OverflowBase> ob = new ArrayList<>(overflowBase.size());
        overflowBase.forEach((k, v) -> ob.add(new ReaderState.OverflowBase(k, v[0], v[1])));
        return new ReaderState(movedEpoch, moved, ob, workloadMovedEpoch);
    }

    /**
     * With the kernel's counter K and the saved one P (see the class comment): K == P: the process
     * died after saving, its moved entries (other parity) may still be in the kernel and are
     * deleted here uncounted, since base holds them; K > P: a flip came after the save (which
     * deleted them first) or the process died between a flip that moved entries and the save:
     * nothing of the kernel is in base. K < P: the state is not of these maps' last run. P is the
     * counter of the last read that moved entries, not of the last flip. The "workloads" map the
     * same way with the counter W of its last hand-out: K == W: its old-parity entries are in the
     * saved series and are deleted uncounted. The overflow base is restored in every case (the
     * caller checked that these are the maps st was taken from).
     */
    @Override
    public boolean restoreState(ReaderState st) {
        if (st == null || !base.isEmpty() || !pending.isEmpty()) {
            return false;
        }
        // The "overflow" array is not epoch-based: over the same pinned maps its cumulative counts
        // continue whatever the epoch says, and what drains handed out of them stays handed out.
        overflowBase.clear();
        for (ReaderState.OverflowBase o : st.overflowBase()) {
            overflowBase.put(o.key(), new long[] {o.packets(), o.bytes()});
        }
        int k = kernelEpoch();
        if (k < st.epoch() || k < st.workloadEpoch()) {
            return false;
        }
        if (k == st.epoch()) {
            int moved = (k & 1) ^ 1;
            List<FlowKey> stale = new ArrayList<>();
            for (boolean six : new boolean[] {false, true}) {
                read(six ? flows6Fd : flows4Fd, (six ? FlowKey.LAYOUT6 : FlowKey.LAYOUT4).byteSize(), ENTRY_STRIDE, 1, (seg, off, p, b) -> {
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
            if (hot != null) { // their hot slots are in base too
                hot.zero(moved, true);
            }
        }
        if (k == st.workloadEpoch() && workloadsFd >= 0) {
            int moved = (k & 1) ^ 1;
            long keySize = WorkloadKey.LAYOUT.byteSize();
            read(workloadsFd, keySize, cpus, (seg, off, p, b) -> {
                if (WorkloadKey.epoch(seg, off) == moved) {
                    pendingWorkloads.add(seg.asSlice(off, keySize).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                }
            });
            int err = deleteWorkloads();
            if (err != 0) {
                throw new LibbpfException("cannot delete a BPF map entry: " + Libc.strerror(err), err);
            }
        }
        epoch = k;
        movedEpoch = st.epoch();
        workloadMovedEpoch = st.workloadEpoch();
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

    /**
     * The deletes above made room: programs may try inserts again. A program that found the map full
     * after the deletes sets its flag again; every packet counts either way (in its pair or in overflow).
     */
    private void clearFull() {
        if (fullFd < 0) {
            return;
        }
        epochValue.set(JAVA_INT, 0, 0);
        for (int i = 0; i < 2; i++) { // FULL_FLOWS4, FULL_FLOWS6
            epochKey.set(JAVA_INT, 0, i);
            int ret = lib.mapUpdateElem(fullFd, epochKey, epochValue, 0);
            if (ret < 0) {
                throw new LibbpfException("cannot update the BPF flows_full map: " + Libc.strerror(-ret), -ret);
            }
        }
    }

    /**
     * Creates the "stats" keys of StatKey.LOST_IFINDEX (every stat and direction, zero) where they are
     * missing: the program counts there a packet whose own key it cannot insert ("stats" is not
     * preallocated: map full, or no memory). Created here, before the programs are attached, so the
     * program only has to look them up; nothing deletes them.
     */
    void createLostStats() {
        MemorySegment zero = arena.allocate(valueStride * cpus, 8);
        MemorySegment key = arena.allocate(StatKey.LAYOUT);
        for (KernelStat stat : KernelStat.values()) {
            for (dev.ebpftraffic.flow.Direction dir : dev.ebpftraffic.flow.Direction.values()) {
                new StatKey(StatKey.LOST_IFINDEX, dir, stat).write(key, 0);
                int ret = lib.mapUpdateElem(statsFd, key, zero, BPF_NOEXIST);
                if (ret < 0 && ret != -Errno.EEXIST) {
                    throw new LibbpfException("cannot create the BPF stats entries for packets without one: "
                            + Libc.strerror(-ret), -ret);
                }
            }
        }
    }

    @Override
    public void readStats(Sink<StatKey> sink) {
        Map<StatKey, long[]> overflow = readOverflow();
        // The LOST_IFINDEX keys always exist: shown only once something counted there.
        Sink<StatKey> shown = (k, p, b) -> {
            if (k.ifindex() != StatKey.LOST_IFINDEX || p != 0 || b != 0) {
                sink.accept(k, p, b);
            }
        };
        if (overflow.isEmpty()) {
            read(statsFd, StatKey.LAYOUT.byteSize(), cpus, (seg, off, p, b) -> shown.accept(StatKey.read(seg, off), p, b));
            return;
        }
        Map<StatKey, long[]> merged = new java.util.LinkedHashMap<>();
        read(statsFd, StatKey.LAYOUT.byteSize(), cpus, (seg, off, p, b) -> merged.put(StatKey.read(seg, off), new long[] {p, b}));
        overflow.forEach((k, v) -> {
            long[] m = merged.computeIfAbsent(k, x -> new long[2]);
            m[0] += v[0];
            m[1] += v[1];
        });
        merged.forEach((k, v) -> shown.accept(k, v[0], v[1]));
    }

    /**
     * The "overflow" array's counts by stat, summed over slots and CPUs (each CPU's copy of a slot names
     * its owner), less what drains already handed out. The counts only grow: nothing here writes the array.
     */
    private Map<StatKey, long[]> readOverflow() {
        if (overflowFd < 0) {
            return Map.of();
        }
        long stride = OverflowSlot.LAYOUT.byteSize(); // a multiple of 8: per-CPU values are not padded
        if (overflowValue == null) {
            overflowValue = arena.allocate(stride * cpus, 8);
        }
        Map<StatKey, long[]> seen = new HashMap<>();
        for (int slot = 0; slot < OverflowSlot.SLOTS; slot++) {
            epochKey.set(JAVA_INT, 0, slot);
            int ret = lib.mapLookupElem(overflowFd, epochKey, overflowValue);
            if (ret < 0) {
                throw new LibbpfException("cannot read the BPF overflow map: " + Libc.strerror(-ret), -ret);
            }
            for (int c = 0; c < cpus; c++) {
                long at = c * stride;
                int ifindex = overflowValue.get(JAVA_INT, at + OverflowSlot.OFF_IFINDEX);
                if (ifindex == 0) {
                    continue;
                }
                for (int i = 0; i < 4; i++) {
                    long p = overflowValue.get(JAVA_LONG, at + OverflowSlot.OFF_PACKETS + 8L * i);
                    long b = overflowValue.get(JAVA_LONG, at + OverflowSlot.OFF_BYTES + 8L * i);
                    if (p == 0 && b == 0) {
                        continue;
                    }
                    StatKey k = new StatKey(ifindex, dev.ebpftraffic.flow.Direction.ofCode(i & 1), KernelStat.ofCode(i >> 1));
                    long[] acc = seen.computeIfAbsent(k, x -> new long[2]);
                    acc[0] += p;
                    acc[1] += b;
                }
            }
        }
        overflowSeen = seen;
        Map<StatKey, long[]> out = new HashMap<>();
        seen.forEach((k, v) -> {
            long[] base = overflowBase.get(k);
            long p = v[0] - (base == null ? 0 : base[0]);
            long b = v[1] - (base == null ? 0 : base[1]);
            if (p != 0 || b != 0) {
                out.put(k, new long[] {p, b});
            }
        });
        return out;
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

    /**
     * The stats entry's final value, plus the key's "overflow" array counts as the last readStats saw them:
     * those are remembered as handed out, so later counts in the array show as new.
     */
    @Override
    public boolean drainStat(StatKey key, Sink<StatKey> sink) {
        key.write(drainKey, 0);
        long[] v = new long[2];
        boolean found = drain(statsFd, (p, b) -> {
            v[0] += p;
            v[1] += b;
        });
        long[] seen = overflowSeen.remove(key);
        if (seen != null) {
            long[] base = overflowBase.computeIfAbsent(key, x -> new long[2]);
            long p = seen[0] - base[0];
            long b = seen[1] - base[1];
            if (p != 0 || b != 0) {
                v[0] += p;
                v[1] += b;
                found = true;
            }
            base[0] = seen[0];
            base[1] = seen[1];
        }
        if (found) {
            moves++;
            sink.accept(key, v[0], v[1]);
        }
        return found;
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
        emit((seg, off, p, b) -> sink.accept(p, b), k, 0, drainValue, 0, cpus); // stats only: per-CPU
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

    /** A per-CPU map of struct flow_value ("stats", "workloads"): copies = possible CPUs. */
    private void read(int fd, long keySize, int copies, RawSink sink) {
        read(fd, keySize, valueStride, copies, sink);
    }

    /** copies: values per entry, possible CPUs for a per-CPU map, 1 for the shared flows maps; stride: bytes per value. */
    private void read(int fd, long keySize, long stride, int copies, RawSink sink) {
        if (!batchUnsupported) {
            int err = readBatched(fd, keySize, stride, copies, sink);
            if (err == 0) {
                return;
            }
            if (err != Errno.EINVAL && err != Errno.EOPNOTSUPP && err != Errno.ENOTSUPP) {
                throw new LibbpfException("cannot read BPF map: " + Libc.strerror(err), err);
            }
            batchUnsupported = true; // only reached before the first batch succeeded
        }
        readOneByOne(fd, keySize, stride, copies, sink);
    }

    /** Returns 0, or the errno when the very first batch call failed. */
    private int readBatched(int fd, long keySize, long stride, int copies, RawSink sink) {
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
                emit(sink, keys, i * keySize, values, i * stride * copies, copies, stride);
            }
            if (ret == -Errno.ENOENT) {
                return 0;
            }
            MemorySegment.copy(outBatch, 0, inBatch, 0, keySize);
            first = false;
        }
    }

    private void readOneByOne(int fd, long keySize, long stride, int copies, RawSink sink) {
        MemorySegment key = keys.asSlice(0, keySize);
        MemorySegment next = keys.asSlice(keySize, keySize);
        MemorySegment value = values.asSlice(0, stride * copies);
        int ret = lib.mapGetNextKey(fd, MemorySegment.NULL, next);
        while (ret == 0) {
            MemorySegment.copy(next, 0, key, 0, keySize);
            if (lib.mapLookupElem(fd, key, value) == 0) { // the entry may have been deleted meanwhile
                emit(sink, key, 0, value, 0, copies, stride);
            }
            ret = lib.mapGetNextKey(fd, key, next);
        }
        if (ret != -Errno.ENOENT) {
            throw new LibbpfException("cannot read BPF map: " + Libc.strerror(-ret), -ret);
        }
    }

    private void emit(RawSink sink, MemorySegment keySeg, long keyOff, MemorySegment valSeg, long valOff, int copies) {
        emit(sink, keySeg, keyOff, valSeg, valOff, copies, valueStride);
    }

    /** packets and bytes are at the same offsets in struct flow_value and struct flow_entry. */
    private void emit(RawSink sink, MemorySegment keySeg, long keyOff, MemorySegment valSeg, long valOff, int copies, long stride) {
        long packets = 0;
        long bytes = 0;
        for (int c = 0; c < copies; c++) {
            long base = valOff + c * stride;
            packets += valSeg.get(JAVA_LONG, base + FlowValue.OFF_PACKETS);
            bytes += valSeg.get(JAVA_LONG, base + FlowValue.OFF_BYTES);
        }
        sink.accept(keySeg, keyOff, packets, bytes);
    }

    @Override
    public void close() {
        if (hot != null) {
            hot.close();
        }
        arena.close();
    }
}
