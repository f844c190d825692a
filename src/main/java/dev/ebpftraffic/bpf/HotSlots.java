package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The per-CPU arrays "hot4" and "hot6" (struct hot4_slot, hot6_slot in bpf/traffic.h), where busy flows
 * entries count on each CPU instead of in their shared value, and the layout of that value (struct
 * flow_entry): must match them byte for byte (StructLayoutTest checks the BTF). Each CPU's copy of a slot
 * holds the key of the entry that owns it, epoch bit included, so what a slot counted is credited by key,
 * whatever the entry's {@code hot} field says. Readers serialise calls (BpfFlowReader does).
 */
final class HotSlots implements AutoCloseable {
    public static final StructLayout ENTRY = MemoryLayout.structLayout(
            JAVA_LONG.withName("packets"),
            JAVA_LONG.withName("bytes"),
            JAVA_INT.withName("hot"),
            JAVA_INT.withName("cpus"));
    public static final StructLayout SLOT4 = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(FlowKey.LAYOUT4.byteSize(), JAVA_BYTE).withName("key"),
            JAVA_INT.withName("pad"),
            JAVA_LONG.withName("packets"),
            JAVA_LONG.withName("bytes"));
    public static final StructLayout SLOT6 = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(FlowKey.LAYOUT6.byteSize(), JAVA_BYTE).withName("key"),
            JAVA_INT.withName("pad"),
            JAVA_LONG.withName("packets"),
            JAVA_LONG.withName("bytes"),
            JAVA_LONG.withName("owner")); // the kernel's owner check only; zeroed with the slot
    /** HOT_SLOTS in bpf/traffic.h: slots per epoch parity, in each of the two arrays. */
    public static final int SLOTS = 32;
    static final long OFF_ENTRY_PACKETS = ENTRY.byteOffset(MemoryLayout.PathElement.groupElement("packets"));
    static final long OFF_ENTRY_BYTES = ENTRY.byteOffset(MemoryLayout.PathElement.groupElement("bytes"));
    /** IFDIR_EPOCH_BIT in bpf/traffic.h. */
    private static final int EPOCH_BIT = 30;

    /** The owner of a slot copy: a flows key and the epoch parity it was counted in. */
    record Owner(FlowKey key, int parity) {
    }

    private final Libbpf lib;
    private final int[] fds; // hot4, hot6
    private final int cpus;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment index = arena.allocate(JAVA_INT);
    private final MemorySegment value;
    private final MemorySegment zeros;
    /** Per array: the slots of each parity that the last read found owned on some CPU. */
    private final List<List<Integer>> owned = List.of(new ArrayList<>(), new ArrayList<>());

    HotSlots(Libbpf lib, int hot4Fd, int hot6Fd) {
        this.lib = lib;
        this.fds = new int[] {hot4Fd, hot6Fd};
        this.cpus = lib.numPossibleCpus();
        this.value = arena.allocate(SLOT6.byteSize() * cpus, 8); // per-CPU values: sizes are multiples of 8
        this.zeros = arena.allocate(SLOT6.byteSize() * cpus, 8);
    }

    /**
     * Every owned copy of every slot, summed by owner. A copy of the epoch programs count in may be
     * changing while it is read: its counts only grow, and a key it is being given may show half
     * written, which the caller ignores (no entry has it); the next read sees it whole.
     */
    Map<Owner, long[]> read() {
        Map<Owner, long[]> out = new HashMap<>();
        for (int six = 0; six < 2; six++) {
            StructLayout layout = six == 0 ? SLOT4 : SLOT6;
            long keySize = (six == 0 ? FlowKey.LAYOUT4 : FlowKey.LAYOUT6).byteSize();
            long offPackets = layout.byteOffset(MemoryLayout.PathElement.groupElement("packets"));
            long offBytes = layout.byteOffset(MemoryLayout.PathElement.groupElement("bytes"));
            List<Integer> seen = owned.get(six);
            seen.clear();
            for (int i = 0; i < 2 * SLOTS; i++) {
                lookup(fds[six], i, value);
                boolean any = false;
                for (int c = 0; c < cpus; c++) {
                    long at = c * layout.byteSize();
                    int ifdir = value.get(JAVA_INT, at);
                    if (ifdir == 0) {
                        continue; // free on this CPU
                    }
                    any = true;
                    value.set(JAVA_INT, at, ifdir & ~(1 << EPOCH_BIT)); // FlowKey knows no epoch
                    FlowKey k = six == 0 ? FlowKey.read4(value, at) : FlowKey.read6(value, at);
                    long[] acc = out.computeIfAbsent(new Owner(k, ifdir >>> EPOCH_BIT & 1), x -> new long[2]);
                    acc[0] += value.get(JAVA_LONG, at + offPackets);
                    acc[1] += value.get(JAVA_LONG, at + offBytes);
                }
                if (any) {
                    seen.add(i);
                }
            }
        }
        return out;
    }

    /**
     * Frees the slots of one parity that the last {@link #read} found owned (all of them when {@code all}).
     * Only once no program can write that parity: after the flip away from it and its grace period, and
     * before the flip back. Its entries are deleted at the same time, so a slot never outlives its owner.
     */
    void zero(int parity, boolean all) {
        for (int six = 0; six < 2; six++) {
            List<Integer> slots = new ArrayList<>();
            for (int i = parity * SLOTS; i < (parity + 1) * SLOTS; i++) {
                if (all || owned.get(six).contains(i)) {
                    slots.add(i);
                }
            }
            for (int i : slots) {
                index.set(JAVA_INT, 0, i);
                int ret = lib.mapUpdateElem(fds[six], index, zeros, 0);
                if (ret < 0) {
                    throw new LibbpfException("cannot clear a BPF hot slot: " + Libc.strerror(-ret), -ret);
                }
            }
            owned.get(six).removeIf(i -> i / SLOTS == parity);
        }
    }

    private void lookup(int fd, int i, MemorySegment into) {
        index.set(JAVA_INT, 0, i);
        int ret = lib.mapLookupElem(fd, index, into);
        if (ret < 0) {
            throw new LibbpfException("cannot read a BPF hot slot: " + Libc.strerror(-ret), -ret);
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
