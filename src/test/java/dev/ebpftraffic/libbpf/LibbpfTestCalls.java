package dev.ebpftraffic.libbpf;

import dev.ebpftraffic.sys.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.Map;
import java.util.WeakHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libbpf functions only tests and benchmarks call: BPF_PROG_TEST_RUN and BTF reads (for the
 * layout checks). Bound through the same {@link Libbpf} (same library, linked on first use), but
 * kept out of the exporter's binding.
 */
public final class LibbpfTestCalls {
    public static final int BTF_KIND_STRUCT = 4;
    /** struct bpf_test_run_opts (libbpf 1.1, up to batch_size). */
    public static final StructLayout TEST_RUN_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), ADDRESS.withName("data_in"), ADDRESS.withName("data_out"),
            JAVA_INT.withName("data_size_in"), JAVA_INT.withName("data_size_out"),
            ADDRESS.withName("ctx_in"), ADDRESS.withName("ctx_out"),
            JAVA_INT.withName("ctx_size_in"), JAVA_INT.withName("ctx_size_out"),
            JAVA_INT.withName("retval"), JAVA_INT.withName("repeat"), JAVA_INT.withName("duration"),
            JAVA_INT.withName("flags"), JAVA_INT.withName("cpu"), JAVA_INT.withName("batch_size"));
    /** struct btf_type { __u32 name_off; __u32 info; __u32 size_or_type; } followed by members. */
    public static final StructLayout BTF_TYPE = MemoryLayout.structLayout(
            JAVA_INT.withName("name_off"), JAVA_INT.withName("info"), JAVA_INT.withName("size"));
    /** struct btf_member { __u32 name_off; __u32 type; __u32 offset; } (offset in bits) */
    public static final StructLayout BTF_MEMBER = MemoryLayout.structLayout(
            JAVA_INT.withName("name_off"), JAVA_INT.withName("type"), JAVA_INT.withName("offset"));

    private static final Map<Libbpf, LibbpfTestCalls> BY_LIB = new WeakHashMap<>();

    private final Native.Downcall progTestRun;
    private final Native.Downcall btfFindByNameKind;
    private final Native.Downcall btfTypeById;
    private final Native.Downcall btfNameByOffset;

    private LibbpfTestCalls(Libbpf lib) {
        progTestRun = lib.bind("bpf_prog_test_run_opts", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        btfFindByNameKind = lib.bind("btf__find_by_name_kind", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        btfTypeById = lib.bind("btf__type_by_id", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        btfNameByOffset = lib.bind("btf__name_by_offset", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
    }

    /** The test calls of lib (one set per Libbpf). */
    public static synchronized LibbpfTestCalls of(Libbpf lib) {
        return BY_LIB.computeIfAbsent(lib, LibbpfTestCalls::new);
    }

    /** bpf_prog_test_run_opts; opts is a TEST_RUN_OPTS segment. Returns 0 or -errno. */
    public int progTestRun(int progFd, MemorySegment opts) {
        return Native.callInt(() -> (int) progTestRun.get().invokeExact(progFd, opts));
    }

    public int btfFindByNameKind(MemorySegment btf, String name, int kind) {
        try (Arena arena = Arena.ofConfined()) {
            return Native.callInt(() -> (int) btfFindByNameKind.get().invokeExact(btf, arena.allocateFrom(name), kind));
        }
    }

    public MemorySegment btfTypeById(MemorySegment btf, int id) {
        return Native.call(() -> (MemorySegment) btfTypeById.get().invokeExact(btf, id));
    }

    public String btfNameByOffset(MemorySegment btf, int offset) {
        MemorySegment s = Native.call(() -> (MemorySegment) btfNameByOffset.get().invokeExact(btf, offset));
        return s.equals(MemorySegment.NULL) ? null : s.reinterpret(1024).getString(0);
    }
}
