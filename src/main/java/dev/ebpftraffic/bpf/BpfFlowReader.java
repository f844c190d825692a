package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.libbpf.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.libbpf.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Reads the per-CPU hash maps (flows4, flows6, stats) with BPF_MAP_LOOKUP_BATCH, falling back to get-next-key
 * plus lookup on kernels without batch support. Values are summed over possible CPUs.
 * Buffers are allocated once; callers serialise reads.
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

    /** flowCapacity: max_entries of each of the two flows maps. */
    public BpfFlowReader(Libbpf lib, int flows4Fd, int flows6Fd, int statsFd, int flowCapacity) {
        this.lib = lib;
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
    }

    public static BpfFlowReader of(BpfObject obj) {
        int capacity = obj.maxEntries(BpfObject.MAP_FLOWS4);
        if (obj.maxEntries(BpfObject.MAP_FLOWS6) != capacity) { // one capacity is reported for both
            throw new IllegalStateException("the flows4 and flows6 maps must have the same size (--map-size sizes both)");
        }
        return new BpfFlowReader(obj.lib(), obj.mapFd(BpfObject.MAP_FLOWS4), obj.mapFd(BpfObject.MAP_FLOWS6),
                obj.mapFd(BpfObject.MAP_STATS), capacity);
    }

    @Override
    public void readFlows(Sink<FlowKey> sink) {
        read(flows4Fd, FlowKey.LAYOUT4.byteSize(), (seg, off, p, b) -> sink.accept(FlowKey.read4(seg, off), p, b));
        read(flows6Fd, FlowKey.LAYOUT6.byteSize(), (seg, off, p, b) -> sink.accept(FlowKey.read6(seg, off), p, b));
    }

    @Override
    public void readStats(Sink<StatKey> sink) {
        read(statsFd, StatKey.LAYOUT.byteSize(), (seg, off, p, b) -> sink.accept(StatKey.read(seg, off), p, b));
    }

    @Override
    public boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
        key.write(drainKey, 0);
        return drain(key.ipv4() ? flows4Fd : flows6Fd, (p, b) -> sink.accept(key, p, b));
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
                lib.mapDeleteElem(fd, k);
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
