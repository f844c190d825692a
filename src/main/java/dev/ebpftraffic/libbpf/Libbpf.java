package dev.ebpftraffic.libbpf;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A small hand-written FFM binding to the system's libbpf.so.1 (libbpf >= 1.0 semantics:
 * int calls return -errno, pointer calls return NULL and set errno, which we capture).
 * Only what the exporter and its tests use is bound. Structs are declared in libbpf's
 * bpf.h / libbpf.h; the layouts below follow them for LP64.
 */
public final class Libbpf {
    public static final String DEFAULT_PATH = "libbpf.so.1";

    /** enum bpf_attach_type values; the TCX ones are newer than some system headers. */
    public static final int BPF_TCX_INGRESS = 46;
    public static final int BPF_TCX_EGRESS = 47;
    /** enum bpf_tc_attach_point. */
    public static final int BPF_TC_INGRESS = 1;
    public static final int BPF_TC_EGRESS = 2;
    public static final int BPF_TC_F_REPLACE = 1;
    public static final int BTF_KIND_STRUCT = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /** struct bpf_tc_hook { size_t sz; int ifindex; enum attach_point; __u32 parent; size_t :0; } */
    public static final StructLayout TC_HOOK = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), JAVA_INT.withName("ifindex"), JAVA_INT.withName("attach_point"),
            JAVA_INT.withName("parent"), MemoryLayout.paddingLayout(4));
    /** struct bpf_tc_opts { size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; size_t :0; } */
    public static final StructLayout TC_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), JAVA_INT.withName("prog_fd"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("prog_id"), JAVA_INT.withName("handle"), JAVA_INT.withName("priority"),
            MemoryLayout.paddingLayout(4));
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

    private final String path;
    private final SymbolLookup lib;
    private final MethodHandle setPrint;
    private final MethodHandle objectOpenMem;
    private final MethodHandle objectLoad;
    private final MethodHandle objectClose;
    private final MethodHandle objectFindMap;
    private final MethodHandle objectFindProgram;
    private final MethodHandle objectBtf;
    private final MethodHandle mapSetMaxEntries;
    private final MethodHandle mapMaxEntries;
    private final MethodHandle mapFd;
    private final MethodHandle programFd;
    private final MethodHandle linkCreate;
    private final MethodHandle tcHookCreate;
    private final MethodHandle tcHookDestroy;
    private final MethodHandle tcAttach;
    private final MethodHandle tcDetach;
    private final MethodHandle objGetInfoByFd;
    private final MethodHandle mapLookupBatch;
    private final MethodHandle mapGetNextKey;
    private final MethodHandle mapLookupElem;
    private final MethodHandle mapUpdateElem;
    private final MethodHandle mapDeleteElem;
    private final MethodHandle mapLookupAndDeleteElem;
    private final MethodHandle numPossibleCpus;
    private final MethodHandle progTestRun;
    private final MethodHandle btfFindByNameKind;
    private final MethodHandle btfTypeById;
    private final MethodHandle btfNameByOffset;

    private Libbpf(String path, SymbolLookup lib) {
        this.path = path;
        this.lib = lib;
        setPrint = handle("libbpf_set_print", FunctionDescriptor.of(ADDRESS, ADDRESS));
        objectOpenMem = handleErrno("bpf_object__open_mem", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        objectLoad = handle("bpf_object__load", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        objectClose = handle("bpf_object__close", FunctionDescriptor.ofVoid(ADDRESS));
        objectFindMap = handleErrno("bpf_object__find_map_by_name", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        objectFindProgram = handleErrno("bpf_object__find_program_by_name", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        objectBtf = handle("bpf_object__btf", FunctionDescriptor.of(ADDRESS, ADDRESS));
        mapSetMaxEntries = handle("bpf_map__set_max_entries", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        mapMaxEntries = handle("bpf_map__max_entries", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapFd = handle("bpf_map__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        programFd = handle("bpf_program__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        linkCreate = handle("bpf_link_create", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
        tcHookCreate = handle("bpf_tc_hook_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        tcHookDestroy = handle("bpf_tc_hook_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        tcAttach = handle("bpf_tc_attach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        tcDetach = handle("bpf_tc_detach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        objGetInfoByFd = handle("bpf_obj_get_info_by_fd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        mapLookupBatch = handle("bpf_map_lookup_batch",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        mapGetNextKey = handle("bpf_map_get_next_key", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        mapLookupElem = handle("bpf_map_lookup_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        mapUpdateElem = handle("bpf_map_update_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        mapDeleteElem = handle("bpf_map_delete_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        mapLookupAndDeleteElem = handle("bpf_map_lookup_and_delete_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        numPossibleCpus = handle("libbpf_num_possible_cpus", FunctionDescriptor.of(JAVA_INT));
        progTestRun = handle("bpf_prog_test_run_opts", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        btfFindByNameKind = handle("btf__find_by_name_kind", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        btfTypeById = handle("btf__type_by_id", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        btfNameByOffset = handle("btf__name_by_offset", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
    }

    /**
     * Opens libbpf. Throws with a one-line, actionable message when it is missing or too old.
     */
    public static Libbpf load(String path) {
        if (path.contains("/")) { // a path, not a name for the loader's search: dlopen would block on a FIFO
            java.nio.file.Path p = java.nio.file.Path.of(path);
            if (java.nio.file.Files.exists(p) && !java.nio.file.Files.isRegularFile(p)) {
                throw new LibbpfException("invalid --libbpf-path " + path + ": it is not a regular file; give the path of "
                        + "libbpf.so.1, or leave the flag out", 0);
            }
        }
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(path, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new LibbpfException("cannot load " + path + ": install libbpf >= 1.0 (Debian/Ubuntu: apt-get install libbpf1)", 0);
        }
        return new Libbpf(path, lib);
    }

    public String path() {
        return path;
    }

    private MethodHandle handle(String name, FunctionDescriptor fd, Linker.Option... options) {
        MemorySegment symbol = lib.find(name).orElseThrow(() -> new LibbpfException(
                path + " has no symbol " + name + ": libbpf >= 1.0 is required (apt-get install libbpf1)", 0));
        return LINKER.downcallHandle(symbol, fd, options);
    }

    private MethodHandle handleErrno(String name, FunctionDescriptor fd) {
        return handle(name, fd, Linker.Option.captureCallState("errno"));
    }

    // ---- logging ------------------------------------------------------------------------

    /** Receives libbpf's log lines; level 0 = warn, 1 = info, 2 = debug. */
    public interface PrintSink {
        boolean enabled(int level);

        void print(int level, String line);
    }

    private static volatile PrintSink printSink;

    /** Routes libbpf's log through sink (kept for the life of the process). */
    public void setPrint(PrintSink sink) {
        printSink = sink;
        try {
            MethodHandle target = MethodHandles.lookup().findStatic(Libbpf.class, "printUpcall",
                    MethodType.methodType(int.class, int.class, MemorySegment.class, MemorySegment.class));
            MemorySegment stub = LINKER.upcallStub(target, FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), Arena.global());
            MemorySegment ignored = (MemorySegment) setPrint.invokeExact(stub);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    @SuppressWarnings("unused") // called from native code
    private static int printUpcall(int level, MemorySegment format, MemorySegment vaList) {
        PrintSink sink = printSink;
        if (sink == null || !sink.enabled(level)) {
            return 0;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(2048);
            // va_list is passed by pointer on x86-64 and aarch64, so vsnprintf can take it as is.
            int n = (int) Libc.VSNPRINTF.invokeExact(buf, 2048L, format, vaList);
            if (n > 0) {
                sink.print(level, buf.getString(0).stripTrailing());
            }
        } catch (Throwable t) {
            // An exception must never unwind into libbpf.
        }
        return 0;
    }

    // ---- objects, maps, programs -------------------------------------------------------

    /** bpf_object__open_mem; buf must stay alive until the object is closed. */
    public MemorySegment objectOpenMem(MemorySegment buf) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            MemorySegment obj = (MemorySegment) objectOpenMem.invokeExact(state, buf, buf.byteSize(), MemorySegment.NULL);
            if (obj.equals(MemorySegment.NULL)) {
                int errno = (int) ERRNO.get(state, 0L);
                throw new LibbpfException("cannot open the BPF object: " + Libc.strerror(errno), errno);
            }
            return obj;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** bpf_object__load: returns 0 or -errno. */
    public int objectLoad(MemorySegment obj) {
        try {
            return (int) objectLoad.invokeExact(obj);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public void objectClose(MemorySegment obj) {
        try {
            objectClose.invokeExact(obj);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public MemorySegment findMap(MemorySegment obj, String name) {
        return findByName(objectFindMap, obj, "map", name);
    }

    public MemorySegment findProgram(MemorySegment obj, String name) {
        return findByName(objectFindProgram, obj, "program", name);
    }

    private static MemorySegment findByName(MethodHandle mh, MemorySegment obj, String what, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            MemorySegment p = (MemorySegment) mh.invokeExact(state, obj, arena.allocateFrom(name));
            if (p.equals(MemorySegment.NULL)) {
                int errno = (int) ERRNO.get(state, 0L);
                throw new LibbpfException("the BPF object has no " + what + " named " + name, errno);
            }
            return p;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int mapSetMaxEntries(MemorySegment map, int entries) {
        try {
            return (int) mapSetMaxEntries.invokeExact(map, entries);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int mapMaxEntries(MemorySegment map) {
        try {
            return (int) mapMaxEntries.invokeExact(map);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int mapFd(MemorySegment map) {
        try {
            return (int) mapFd.invokeExact(map);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int programFd(MemorySegment prog) {
        try {
            return (int) programFd.invokeExact(prog);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public MemorySegment objectBtf(MemorySegment obj) {
        try {
            return (MemorySegment) objectBtf.invokeExact(obj);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    // ---- attach ----------------------------------------------------------------------------

    /** bpf_link_create(prog_fd, ifindex, attach_type, NULL): a link fd, or -errno. */
    public int linkCreate(int progFd, int targetFd, int attachType) {
        try {
            return (int) linkCreate.invokeExact(progFd, targetFd, attachType, MemorySegment.NULL);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int tcHookCreate(MemorySegment hook) {
        return call1(tcHookCreate, hook);
    }

    public int tcHookDestroy(MemorySegment hook) {
        return call1(tcHookDestroy, hook);
    }

    public int tcAttach(MemorySegment hook, MemorySegment opts) {
        return call2(tcAttach, hook, opts);
    }

    public int tcDetach(MemorySegment hook, MemorySegment opts) {
        return call2(tcDetach, hook, opts);
    }

    /**
     * bpf_obj_get_info_by_fd: fills info (a bpf_prog_info, bpf_map_info or bpf_link_info of
     * info.byteSize() bytes; the kernel fills what it knows and says how much in *len); 0 or -errno.
     */
    public int objGetInfoByFd(int fd, MemorySegment info) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, (int) info.byteSize());
            return (int) objGetInfoByFd.invokeExact(fd, info, len);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    // ---- map access (bpf.h low-level API) ------------------------------------------------

    /** bpf_map_lookup_batch with NULL opts; returns 0, -ENOENT at the end, or -errno. */
    public int mapLookupBatch(int fd, MemorySegment inBatch, MemorySegment outBatch, MemorySegment keys,
                              MemorySegment values, MemorySegment count) {
        try {
            return (int) mapLookupBatch.invokeExact(fd, inBatch, outBatch, keys, values, count, MemorySegment.NULL);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int mapGetNextKey(int fd, MemorySegment key, MemorySegment nextKey) {
        try {
            return (int) mapGetNextKey.invokeExact(fd, key, nextKey);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int mapLookupElem(int fd, MemorySegment key, MemorySegment value) {
        try {
            return (int) mapLookupElem.invokeExact(fd, key, value);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** bpf_map_update_elem: 0 or -errno; flags BPF_ANY (0), BPF_NOEXIST (1), BPF_EXIST (2). */
    public int mapUpdateElem(int fd, MemorySegment key, MemorySegment value, long flags) {
        try {
            return (int) mapUpdateElem.invokeExact(fd, key, value, flags);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int mapDeleteElem(int fd, MemorySegment key) {
        try {
            return (int) mapDeleteElem.invokeExact(fd, key);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** bpf_map_lookup_and_delete_elem (hash maps: Linux 5.14+): 0 or -errno. */
    public int mapLookupAndDeleteElem(int fd, MemorySegment key, MemorySegment value) {
        try {
            return (int) mapLookupAndDeleteElem.invokeExact(fd, key, value);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int numPossibleCpus() {
        try {
            int n = (int) numPossibleCpus.invokeExact();
            if (n <= 0) {
                throw new LibbpfException("cannot read the number of possible CPUs: " + Libc.strerror(-n), -n);
            }
            return n;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** bpf_prog_test_run_opts; opts is a TEST_RUN_OPTS segment. Returns 0 or -errno. */
    public int progTestRun(int progFd, MemorySegment opts) {
        try {
            return (int) progTestRun.invokeExact(progFd, opts);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    // ---- BTF (for layout checks) -----------------------------------------------------------

    public int btfFindByNameKind(MemorySegment btf, String name, int kind) {
        try (Arena arena = Arena.ofConfined()) {
            return (int) btfFindByNameKind.invokeExact(btf, arena.allocateFrom(name), kind);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public MemorySegment btfTypeById(MemorySegment btf, int id) {
        try {
            return (MemorySegment) btfTypeById.invokeExact(btf, id);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public String btfNameByOffset(MemorySegment btf, int offset) {
        try {
            MemorySegment s = (MemorySegment) btfNameByOffset.invokeExact(btf, offset);
            return s.equals(MemorySegment.NULL) ? null : s.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    private static int call1(MethodHandle mh, MemorySegment a) {
        try {
            return (int) mh.invokeExact(a);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    private static int call2(MethodHandle mh, MemorySegment a, MemorySegment b) {
        try {
            return (int) mh.invokeExact(a, b);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }
}
