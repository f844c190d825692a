package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfTestCalls;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.StructLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java layouts against the compiled object's BTF. Needs no root: libbpf opens the object
 * (and parses its BTF) without loading anything into the kernel.
 */
class StructLayoutTest {
    static final int BTF_KIND_INT = 1;
    static final int BTF_KIND_ARRAY = 3;
    static final int BTF_KIND_STRUCT = 4;
    static final int BTF_KIND_ENUM = 6;
    static final int BTF_KIND_TYPEDEF = 8;
    static final int BTF_KIND_VOLATILE = 9;
    static final int BTF_KIND_CONST = 10;
    static final long BTF_TYPE_SIZE = LibbpfTestCalls.BTF_TYPE.byteSize();     // 12
    static final long BTF_MEMBER_SIZE = LibbpfTestCalls.BTF_MEMBER.byteSize(); // 12
    static final long BTF_ENUM_SIZE = 8;  // struct btf_enum { __u32 name_off; __s32 val; }
    static final long BTF_ARRAY_SIZE = 12; // struct btf_array { __u32 type, index_type, nelems; }

    static Libbpf lib;
    static BpfObject obj;
    static MemorySegment btf;

    /** A C member as the BTF has it. */
    record Member(String name, long byteOffset, long byteSize) {
    }

    @BeforeAll
    static void open() {
        lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        obj = BpfObject.openEmbedded(lib);
        btf = obj.btf();
        assertTrue(!btf.equals(MemorySegment.NULL), "the BPF object has no BTF: compile it with -g");
    }

    @AfterAll
    static void close() {
        if (obj != null) {
            obj.close();
        }
    }

    // ---- BTF reading ------------------------------------------------------------------------

    static MemorySegment type(int id) {
        MemorySegment t = LibbpfTestCalls.of(lib).btfTypeById(btf, id);
        assertTrue(!t.equals(MemorySegment.NULL), "no BTF type " + id);
        t = t.reinterpret(BTF_TYPE_SIZE);
        // What follows struct btf_type depends on the kind.
        long tail = switch (kind(t)) {
            case BTF_KIND_STRUCT -> vlen(t) * BTF_MEMBER_SIZE;
            case BTF_KIND_ENUM -> vlen(t) * BTF_ENUM_SIZE;
            case BTF_KIND_ARRAY -> BTF_ARRAY_SIZE;
            case BTF_KIND_INT -> 4;
            default -> 0;
        };
        return t.reinterpret(BTF_TYPE_SIZE + tail);
    }

    static int info(MemorySegment t) {
        return t.get(JAVA_INT, LibbpfTestCalls.BTF_TYPE.byteOffset(MemoryLayout.PathElement.groupElement("info")));
    }

    static int kind(MemorySegment t) {
        return (info(t) >>> 24) & 0x1f;
    }

    static int vlen(MemorySegment t) {
        return info(t) & 0xffff;
    }

    static boolean kindFlag(MemorySegment t) {
        return (info(t) >>> 31) != 0;
    }

    static int sizeOrType(MemorySegment t) {
        return t.get(JAVA_INT, LibbpfTestCalls.BTF_TYPE.byteOffset(MemoryLayout.PathElement.groupElement("size")));
    }

    static String name(int nameOff) {
        return LibbpfTestCalls.of(lib).btfNameByOffset(btf, nameOff);
    }

    static int find(String name, int kind) {
        int id = LibbpfTestCalls.of(lib).btfFindByNameKind(btf, name, kind);
        assertTrue(id > 0, "the BPF object's BTF has no " + (kind == BTF_KIND_ENUM ? "enum " : "struct ") + name
                + " (btf__find_by_name_kind returned " + id + "); clang only emits types the program uses");
        return id;
    }

    /** Byte size of a BTF type, following typedefs, modifiers and arrays. */
    static long sizeOf(int id) {
        MemorySegment t = type(id);
        return switch (kind(t)) {
            case BTF_KIND_INT, BTF_KIND_STRUCT, BTF_KIND_ENUM -> Integer.toUnsignedLong(sizeOrType(t));
            case BTF_KIND_TYPEDEF, BTF_KIND_CONST, BTF_KIND_VOLATILE -> sizeOf(sizeOrType(t));
            case BTF_KIND_ARRAY -> {
                MemorySegment arr = t.asSlice(BTF_TYPE_SIZE, BTF_ARRAY_SIZE);
                yield sizeOf(arr.get(JAVA_INT, 0)) * Integer.toUnsignedLong(arr.get(JAVA_INT, 8));
            }
            default -> throw new AssertionError("unexpected BTF kind " + kind(t) + " for type " + id);
        };
    }

    static List<Member> structMembers(MemorySegment t) {
        assertEquals(BTF_KIND_STRUCT, kind(t));
        assertTrue(!kindFlag(t), "bitfields are not expected in shared structs");
        List<Member> out = new ArrayList<>();
        for (int i = 0; i < vlen(t); i++) {
            MemorySegment m = t.asSlice(BTF_TYPE_SIZE + i * BTF_MEMBER_SIZE, BTF_MEMBER_SIZE);
            int nameOff = m.get(JAVA_INT, LibbpfTestCalls.BTF_MEMBER.byteOffset(MemoryLayout.PathElement.groupElement("name_off")));
            int typeId = m.get(JAVA_INT, LibbpfTestCalls.BTF_MEMBER.byteOffset(MemoryLayout.PathElement.groupElement("type")));
            int bitOffset = m.get(JAVA_INT, LibbpfTestCalls.BTF_MEMBER.byteOffset(MemoryLayout.PathElement.groupElement("offset")));
            assertEquals(0, bitOffset % 8, "member " + name(nameOff) + " is not byte aligned");
            out.add(new Member(name(nameOff), bitOffset / 8, sizeOf(typeId)));
        }
        return out;
    }

    static Map<String, Integer> enumValues(String enumName) {
        MemorySegment t = type(find(enumName, BTF_KIND_ENUM));
        assertEquals(BTF_KIND_ENUM, kind(t));
        Map<String, Integer> out = new LinkedHashMap<>();
        for (int i = 0; i < vlen(t); i++) {
            MemorySegment e = t.asSlice(BTF_TYPE_SIZE + i * BTF_ENUM_SIZE, BTF_ENUM_SIZE);
            out.put(name(e.get(JAVA_INT, 0)), e.get(JAVA_INT, 4));
        }
        return out;
    }

    /** The named (non-padding) members of a Java struct layout, with their offsets and sizes. */
    static List<Member> javaMembers(StructLayout layout) {
        List<Member> out = new ArrayList<>();
        long offset = 0;
        for (MemoryLayout m : layout.memberLayouts()) {
            if (!(m instanceof PaddingLayout)) {
                assertTrue(m.name().isPresent(), "unnamed member in " + layout);
                assertTrue(!(m instanceof GroupLayout), "nested structs are not expected");
                out.add(new Member(m.name().get(), offset, m.byteSize()));
            }
            offset += m.byteSize();
        }
        return out;
    }

    static void assertSameStruct(String cName, StructLayout javaLayout) {
        MemorySegment t = type(find(cName, BTF_KIND_STRUCT));
        assertEquals(Integer.toUnsignedLong(sizeOrType(t)), javaLayout.byteSize(), "sizeof(struct " + cName + ")");
        assertEquals(structMembers(t), javaMembers(javaLayout), "members of struct " + cName);
    }

    // ---- the checks -------------------------------------------------------------------------

    @Test
    void flowKeys() {
        assertSameStruct("flow4_key", FlowKey.LAYOUT4);
        assertSameStruct("flow6_key", FlowKey.LAYOUT6);
        // And the layouts the rest of the code relies on, spelled out: short keys hash faster.
        assertEquals(List.of(new Member("ifdir", 0, 4), new Member("src", 4, 4), new Member("dst", 8, 4)),
                structMembers(type(find("flow4_key", BTF_KIND_STRUCT))));
        assertEquals(List.of(new Member("ifdir", 0, 4), new Member("src", 4, 16), new Member("dst", 20, 16)),
                structMembers(type(find("flow6_key", BTF_KIND_STRUCT))));
    }

    @Test
    void flowValue() {
        assertSameStruct("flow_value", FlowValue.LAYOUT);
        assertEquals(List.of(new Member("packets", 0, 8), new Member("bytes", 8, 8)),
                structMembers(type(find("flow_value", BTF_KIND_STRUCT))));
    }

    @Test
    void flowEntryAndHotSlots() {
        assertSameStruct("flow_entry", HotSlots.ENTRY);
        assertEquals(List.of(new Member("packets", 0, 8), new Member("bytes", 8, 8), new Member("hot", 16, 4), new Member("cpus", 20, 4)),
                structMembers(type(find("flow_entry", BTF_KIND_STRUCT))));
        assertSameStruct("hot4_slot", HotSlots.SLOT4);
        assertSameStruct("hot6_slot", HotSlots.SLOT6);
        assertEquals(List.of(new Member("key", 0, 12), new Member("pad", 12, 4), new Member("packets", 16, 8), new Member("bytes", 24, 8)),
                structMembers(type(find("hot4_slot", BTF_KIND_STRUCT))));
        assertEquals(List.of(new Member("key", 0, 36), new Member("pad", 36, 4), new Member("packets", 40, 8), new Member("bytes", 48, 8),
                        new Member("owner", 56, 8)),
                structMembers(type(find("hot6_slot", BTF_KIND_STRUCT))));
        // packets and bytes where struct flow_value has them: BpfFlowReader reads both the same way
        assertEquals(FlowValue.OFF_PACKETS, HotSlots.OFF_ENTRY_PACKETS);
        assertEquals(FlowValue.OFF_BYTES, HotSlots.OFF_ENTRY_BYTES);
    }

    @Test
    void statKey() {
        assertSameStruct("stat_key", StatKey.LAYOUT);
        assertEquals(8, StatKey.LAYOUT.byteSize());
    }

    @Test
    void overflowSlot() {
        assertSameStruct("overflow_slot", OverflowSlot.LAYOUT);
        assertEquals(List.of(new Member("ifindex", 0, 4), new Member("pad", 4, 4), new Member("packets", 8, 32),
                        new Member("bytes", 40, 32)),
                structMembers(type(find("overflow_slot", BTF_KIND_STRUCT))));
    }

    @Test
    void processKey() {
        assertSameStruct("proc_key", dev.ebpftraffic.flow.ProcessKey.LAYOUT);
        assertEquals(16, dev.ebpftraffic.flow.ProcessKey.LAYOUT.byteSize());
        assertSameStruct("proc_comm", dev.ebpftraffic.flow.ProcessKey.COMM);
    }

    @Test
    void workloadKey() {
        assertSameStruct("workload_key", dev.ebpftraffic.flow.WorkloadKey.LAYOUT);
        assertEquals(16, dev.ebpftraffic.flow.WorkloadKey.LAYOUT.byteSize());
    }

    @Test
    void peerKey() {
        assertSameStruct("wl_peer_key", dev.ebpftraffic.flow.PeerKey.LAYOUT);
        assertEquals(32, dev.ebpftraffic.flow.PeerKey.LAYOUT.byteSize());
    }

    @Test
    void ipGroupKey() {
        assertSameStruct("ip_group_key", IpGroups.KEY);
        assertEquals(20, IpGroups.KEY.byteSize());
    }

    @Test
    void enumStat() {
        Map<String, Integer> c = enumValues("stat");
        Map<String, Integer> java = new LinkedHashMap<>();
        for (KernelStat s : KernelStat.values()) {
            java.put(s.cName(), s.code());
            assertEquals(s, KernelStat.ofCode(s.code()));
        }
        java.put("STAT_MAX", KernelStat.values().length);
        assertEquals(c, java, "enum stat (C, expected) vs KernelStat (plus STAT_MAX = number of stats)");
    }

    @Test
    void enumDirection() {
        Map<String, Integer> c = enumValues("direction");
        assertEquals(c, Map.of("DIR_INGRESS", Direction.INBOUND.code(), "DIR_EGRESS", Direction.OUTBOUND.code()),
                "enum direction (C, expected) vs Direction codes");
        assertEquals(2, Direction.values().length);
        assertEquals(Arrays.asList(Direction.values()),
                List.of(Direction.ofCode(c.get("DIR_INGRESS")), Direction.ofCode(c.get("DIR_EGRESS"))));
        assertEquals("inbound", Direction.ofCode(c.get("DIR_INGRESS")).label());
        assertEquals("outbound", Direction.ofCode(c.get("DIR_EGRESS")).label());
    }
}
