package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import dev.ebpftraffic.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A freshly opened and loaded embedded BPF object whose tc_ingress / tc_egress programs are run on
 * crafted frames with BPF_PROG_TEST_RUN (bpf_prog_test_run_opts), never attached anywhere.
 *
 * <p>What the kernel does with a SCHED_CLS test run (net/bpf/test_run.c, bpf_prog_test_run_skb):
 * data_size_in must be at least ETH_HLEN (14) or the call fails with EINVAL; the frame becomes a linear
 * skb whose device is the calling thread's netns loopback unless the ctx names an ifindex > 1; the
 * ctx (struct __sk_buff) may only set mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len,
 * gso_segs, gso_size and hwtstamp (any other non-zero byte: EINVAL); flags, cpu and batch_size must be
 * zero (EINVAL otherwise).
 */
final class ProgTestRun implements AutoCloseable {
    /** TC_ACT_UNSPEC: the program's only return value. */
    static final int TC_ACT_UNSPEC = -1;
    /** BPF_F_TEST_RUN_ON_CPU from linux/bpf.h. */
    static final int BPF_F_TEST_RUN_ON_CPU = 1;

    /** struct __sk_buff: size and the offsets of the fields we set (from /usr/include/linux/bpf.h, UAPI, stable). */
    static final int SKB_SIZE = 192;
    static final int SKB_OFF_IFINDEX = 40;
    static final int SKB_OFF_GSO_SEGS = 164;
    static final int SKB_OFF_GSO_SIZE = 176;

    private static Libbpf lib;

    private final BpfObject obj;
    private final BpfFlowReader reader;

    /** The fields of struct __sk_buff a test sets (0 = leave the kernel's default). */
    record Skb(int gsoSegs, int gsoSize, int ifindex) {
        static Skb gso(int segs, int size) {
            return new Skb(segs, size, 0);
        }

        static Skb ifindex(int ifindex) {
            return new Skb(0, 0, ifindex);
        }
    }

    /** The result of one bpf_prog_test_run_opts call. */
    record Outcome(int err, int retval, int dataSizeOut, byte[] dataOut) {
    }

    private ProgTestRun(BpfObject obj) {
        this.obj = obj;
        this.reader = BpfFlowReader.of(obj);
    }

    static synchronized Libbpf lib() {
        if (lib == null) {
            lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        }
        return lib;
    }

    /** Opens and loads the embedded object with the default map sizes. */
    static ProgTestRun load() {
        return load(0);
    }

    /** Opens the embedded object, sizes "flows4" and "flows6" to flowsMaxEntries (when > 0) and loads it. */
    static ProgTestRun load(int flowsMaxEntries) {
        return load(flowsMaxEntries, java.util.List.of());
    }

    /** As load(flowsMaxEntries), with the "ip_groups" trie sized and filled from groups as the exporter does. */
    static ProgTestRun load(int flowsMaxEntries, java.util.List<dev.ebpftraffic.flow.GroupLabeler.Group> groups) {
        BpfObject obj = BpfObject.openEmbedded(lib());
        try {
            if (flowsMaxEntries > 0) {
                obj.setMaxEntries(BpfObject.MAP_FLOWS4, flowsMaxEntries);
                obj.setMaxEntries(BpfObject.MAP_FLOWS6, flowsMaxEntries);
            }
            IpGroups.size(obj, groups);
            obj.load();
            IpGroups.fill(obj, groups);
            return new ProgTestRun(obj);
        } catch (RuntimeException | Error e) {
            obj.close();
            throw e;
        }
    }

    /** Opens the embedded object, lets beforeLoad change it (e.g. a map's size) and loads it. */
    static ProgTestRun load(java.util.function.Consumer<BpfObject> beforeLoad) {
        BpfObject obj = BpfObject.openEmbedded(lib());
        try {
            beforeLoad.accept(obj);
            IpGroups.size(obj, java.util.List.of());
            obj.load();
            return new ProgTestRun(obj);
        } catch (RuntimeException | Error e) {
            obj.close();
            throw e;
        }
    }

    /** ifindex of loopback in the calling thread's network namespace: the test run's default device. */
    static int loopbackIfindex() {
        int lo = Libc.ifNameToIndex("lo");
        assertTrue(lo > 0, "no lo in this network namespace");
        return lo;
    }

    BpfObject object() {
        return obj;
    }

    BpfFlowReader reader() {
        return reader;
    }

    static String program(Direction dir) {
        return dir == Direction.INBOUND ? BpfObject.PROG_INGRESS : BpfObject.PROG_EGRESS;
    }

    /** Runs the program of dir once on frame and checks it returned TC_ACT_UNSPEC and left the frame alone. */
    void run(Direction dir, byte[] frame) {
        run(dir, frame, null, 0);
    }

    void run(Direction dir, byte[] frame, Skb skb) {
        run(dir, frame, skb, 0);
    }

    /** As run, with the kernel repeating the program repeat times on the same skb (0 = once). */
    void run(Direction dir, byte[] frame, Skb skb, int repeat) {
        Outcome o = tryRun(dir, frame, skb, repeat, 0, 0);
        assertEquals(0, o.err(), () -> "bpf_prog_test_run_opts failed: " + Libc.strerror(-o.err()));
        assertEquals(TC_ACT_UNSPEC, o.retval(), "the program must return TC_ACT_UNSPEC");
        assertEquals(frame.length, o.dataSizeOut(), "the packet length changed");
        assertArrayEquals(frame, o.dataOut(), "the packet was changed");
    }

    /** The L3 program (no Ethernet header: the IP header at offset 0) of dir. */
    static String programL3(Direction dir) {
        return dir == Direction.INBOUND ? BpfObject.PROG_INGRESS_L3 : BpfObject.PROG_EGRESS_L3;
    }

    /** Runs the L3 program of dir once on data and checks it returned TC_ACT_UNSPEC and left the data alone. */
    void runL3(Direction dir, byte[] data, Skb skb) {
        Outcome o = tryRun(programL3(dir), data, skb, 0, 0, 0);
        assertEquals(0, o.err(), () -> "bpf_prog_test_run_opts failed: " + Libc.strerror(-o.err()));
        assertEquals(TC_ACT_UNSPEC, o.retval(), "the program must return TC_ACT_UNSPEC");
        assertArrayEquals(data, o.dataOut(), "the packet was changed");
    }

    /** One raw bpf_prog_test_run_opts call: no assertions; err is 0 or -errno. */
    Outcome tryRun(Direction dir, byte[] frame, Skb skb, int repeat, int flags, int cpu) {
        return tryRun(program(dir), frame, skb, repeat, flags, cpu);
    }

    /** One raw bpf_prog_test_run_opts call of the named program: no assertions; err is 0 or -errno. */
    Outcome tryRun(String program, byte[] frame, Skb skb, int repeat, int flags, int cpu) {
        Libbpf l = obj.lib();
        int progFd = obj.programFd(program);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(Math.max(1, frame.length));
            MemorySegment.copy(frame, 0, in, JAVA_BYTE, 0, frame.length);
            int outCap = frame.length + 256;
            MemorySegment out = arena.allocate(outCap);
            MemorySegment opts = arena.allocate(LibbpfTestCalls.TEST_RUN_OPTS);
            opts.set(JAVA_LONG, off("sz"), LibbpfTestCalls.TEST_RUN_OPTS.byteSize());
            opts.set(ADDRESS, off("data_in"), in);
            opts.set(ADDRESS, off("data_out"), out);
            opts.set(JAVA_INT, off("data_size_in"), frame.length);
            opts.set(JAVA_INT, off("data_size_out"), outCap);
            if (skb != null) {
                MemorySegment ctx = arena.allocate(SKB_SIZE, 8); // zeroed: every other field stays 0
                ctx.set(JAVA_INT, SKB_OFF_IFINDEX, skb.ifindex());
                ctx.set(JAVA_INT, SKB_OFF_GSO_SEGS, skb.gsoSegs());
                ctx.set(JAVA_INT, SKB_OFF_GSO_SIZE, skb.gsoSize());
                opts.set(ADDRESS, off("ctx_in"), ctx);
                opts.set(JAVA_INT, off("ctx_size_in"), SKB_SIZE);
            }
            opts.set(JAVA_INT, off("repeat"), repeat);
            opts.set(JAVA_INT, off("flags"), flags);
            opts.set(JAVA_INT, off("cpu"), cpu);
            int err = LibbpfTestCalls.of(l).progTestRun(progFd, opts);
            int sizeOut = opts.get(JAVA_INT, off("data_size_out"));
            byte[] data = err == 0 ? out.asSlice(0, Math.min(sizeOut, outCap)).toArray(JAVA_BYTE) : new byte[0];
            return new Outcome(err, opts.get(JAVA_INT, off("retval")), sizeOut, data);
        }
    }

    private static long off(String field) {
        return LibbpfTestCalls.TEST_RUN_OPTS.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement(field));
    }

    /** The whole "flows4" and "flows6" maps, values summed over CPUs; fails on a key reported twice. */
    Map<FlowKey, FlowValue> flows() {
        return flows(reader);
    }

    static Map<FlowKey, FlowValue> flows(BpfFlowReader r) {
        Map<FlowKey, FlowValue> m = new LinkedHashMap<>();
        r.readFlows((k, p, b) -> {
            if (m.put(k, new FlowValue(p, b)) != null) {
                fail("the reader returned " + k + " twice");
            }
        });
        r.deleteMoved(); // as the collector does after each read (its state write comes first)
        return m;
    }

    /** The whole "stats" map, values summed over CPUs; fails on a key reported twice. */
    Map<StatKey, FlowValue> stats() {
        Map<StatKey, FlowValue> m = new LinkedHashMap<>();
        reader.readStats((k, p, b) -> {
            if (m.put(k, new FlowValue(p, b)) != null) {
                fail("the reader returned " + k + " twice");
            }
        });
        return m;
    }

    /** Asserts the exact contents of both maps: every key, exact packets and bytes, nothing else. */
    void assertMaps(Map<FlowKey, FlowValue> expectedFlows, Map<StatKey, FlowValue> expectedStats) {
        assertEquals(sorted(expectedFlows), sorted(flows()), "flows map");
        assertEquals(sorted(expectedStats), sorted(stats()), "stats map");
    }

    /** Same content, printed in a stable order so a failure diff is readable. */
    private static <K> Map<String, FlowValue> sorted(Map<K, FlowValue> m) {
        Map<String, FlowValue> s = new TreeMap<>();
        m.forEach((k, v) -> s.put(k.toString(), v));
        assertEquals(m.size(), s.size(), "two keys print the same: " + m.keySet());
        return s;
    }

    /**
     * What the kernel holds for one flows entry of epoch 0, as one row {packets, bytes}: its shared value
     * (raw from bpf_map_lookup_elem: the flows maps are shared by all CPUs) plus every CPU's copy of a hot
     * slot that the key owns (struct flow_entry in bpf/traffic.h).
     */
    long[][] perCpu(FlowKey key) {
        long[] shared = sharedValue(key);
        long[] hot = hotCopies(key);
        return new long[][] {{shared[0] + hot[0], shared[1] + hot[1]}};
    }

    /** The flows entry's shared value alone {packets, bytes, hot}, raw from bpf_map_lookup_elem (epoch 0). */
    long[] sharedValue(FlowKey key) {
        Libbpf l = obj.lib();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(key.byteSize(), 8);
            key.write(k, 0);
            MemorySegment v = arena.allocate(HotSlots.ENTRY);
            String map = key.ipv4() ? BpfObject.MAP_FLOWS4 : BpfObject.MAP_FLOWS6;
            int err = l.mapLookupElem(obj.mapFd(map), k, v);
            assertEquals(0, err, () -> "lookup in " + map + ": " + Libc.strerror(-err));
            return new long[] {v.get(JAVA_LONG, HotSlots.OFF_ENTRY_PACKETS), v.get(JAVA_LONG, HotSlots.OFF_ENTRY_BYTES),
                    v.get(JAVA_INT, HotSlots.ENTRY.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("hot")))};
        }
    }

    /** The sum of the hot slot copies (any CPU, any slot) that key owns in epoch 0 {packets, bytes}. */
    long[] hotCopies(FlowKey key) {
        try (HotSlots h = new HotSlots(obj.lib(), obj.mapFd(BpfObject.MAP_HOT4), obj.mapFd(BpfObject.MAP_HOT6))) {
            long[] v = h.read().get(new HotSlots.Owner(key, 0));
            return v == null ? new long[2] : v;
        }
    }

    /** The raw copies of one hot slot of hot4 (ipv4) or hot6: per possible CPU {owner ifdir, packets, bytes}. */
    long[][] hotSlot(boolean ipv4, int index) {
        Libbpf l = obj.lib();
        java.lang.foreign.StructLayout layout = ipv4 ? HotSlots.SLOT4 : HotSlots.SLOT6;
        int cpus = l.numPossibleCpus();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(JAVA_INT);
            k.set(JAVA_INT, 0, index);
            MemorySegment v = arena.allocate(layout.byteSize() * cpus, 8);
            int err = l.mapLookupElem(obj.mapFd(ipv4 ? BpfObject.MAP_HOT4 : BpfObject.MAP_HOT6), k, v);
            assertEquals(0, err, () -> "lookup in the hot slots: " + Libc.strerror(-err));
            long offPackets = layout.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("packets"));
            long[][] r = new long[cpus][3];
            for (int c = 0; c < cpus; c++) {
                long at = c * layout.byteSize();
                r[c] = new long[] {v.get(JAVA_INT, at), v.get(JAVA_LONG, at + offPackets),
                        v.get(JAVA_LONG, at + offPackets + 8)};
            }
            return r;
        }
    }

    /** The raw values of a "stats" entry, one row per possible CPU (the map is per-CPU). */
    long[][] perCpuStat(StatKey key) {
        return raw(BpfObject.MAP_STATS, StatKey.LAYOUT.byteSize(), key::write, obj.lib().numPossibleCpus());
    }

    private interface KeyWriter {
        void write(MemorySegment seg, long offset);
    }

    private long[][] raw(String map, long keySize, KeyWriter key, int rows) {
        Libbpf l = obj.lib();
        long stride = (FlowValue.LAYOUT.byteSize() + 7) & ~7L;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(keySize, 8);
            key.write(k, 0);
            MemorySegment v = arena.allocate(stride * rows, 8);
            int err = l.mapLookupElem(obj.mapFd(map), k, v);
            assertEquals(0, err, () -> "lookup in " + map + ": " + Libc.strerror(-err));
            long[][] r = new long[rows][2];
            for (int c = 0; c < rows; c++) {
                r[c][0] = v.get(JAVA_LONG, c * stride + FlowValue.OFF_PACKETS);
                r[c][1] = v.get(JAVA_LONG, c * stride + FlowValue.OFF_BYTES);
            }
            return r;
        }
    }

    static String hex(byte[] frame) {
        return HexFormat.of().formatHex(frame);
    }

    @Override
    public void close() {
        try {
            reader.close();
        } finally {
            obj.close();
        }
    }
}
