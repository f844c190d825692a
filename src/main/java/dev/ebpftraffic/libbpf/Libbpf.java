package dev.ebpftraffic.libbpf;

import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.sys.Native;

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
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A small hand-written FFM binding to the system's libbpf.so.1 (libbpf >= 1.0 semantics:
 * int calls return -errno, pointer calls return NULL and set errno, which we capture).
 * Only what the exporter uses is bound here (what only tests call is bound in the test tree), and
 * each function is linked on its first call. Structs are declared in libbpf's bpf.h / libbpf.h;
 * the layouts below follow them for LP64.
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

    /** struct bpf_tc_hook { size_t sz; int ifindex; enum attach_point; __u32 parent; size_t :0; } */
    public static final StructLayout TC_HOOK = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), JAVA_INT.withName("ifindex"), JAVA_INT.withName("attach_point"),
            JAVA_INT.withName("parent"), MemoryLayout.paddingLayout(4));
    /** struct bpf_tc_opts { size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; size_t :0; } */
    public static final StructLayout TC_OPTS = MemoryLayout.structLayout(
            JAVA_LONG.withName("sz"), JAVA_INT.withName("prog_fd"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("prog_id"), JAVA_INT.withName("handle"), JAVA_INT.withName("priority"),
            MemoryLayout.paddingLayout(4));
    private final String path;
    private final SymbolLookup lib;
    /** Every function bound so far: its presence is checked at load, its linking waits for its first call. */
    private final List<Native.Downcall> bound = new ArrayList<>();
    // Every function in the shared shape of Native.function (see Native.words why that is exact): the
    // comment after each gives its C signature, which the calls below follow (int results narrowed).
    private final Native.Downcall setPrint = fn("libbpf_set_print", 1, false); // fn ptr (fn ptr)
    private final Native.Downcall objectOpenMem = fn("bpf_object__open_mem", 3, true); // ptr (ptr, size_t, ptr)
    private final Native.Downcall objectLoad = fn("bpf_object__load", 1, false); // int (ptr)
    private final Native.Downcall objectClose = fn("bpf_object__close", 1, false); // void (ptr)
    private final Native.Downcall objectFindMap = fn("bpf_object__find_map_by_name", 2, true); // ptr (ptr, ptr)
    private final Native.Downcall objectFindProgram = fn("bpf_object__find_program_by_name", 2, true); // ptr (ptr, ptr)
    private final Native.Downcall objectBtf = fn("bpf_object__btf", 1, false); // ptr (ptr)
    private final Native.Downcall mapSetMaxEntries = fn("bpf_map__set_max_entries", 2, false); // int (ptr, __u32)
    private final Native.Downcall mapMaxEntries = fn("bpf_map__max_entries", 1, false); // __u32 (ptr)
    private final Native.Downcall mapFd = fn("bpf_map__fd", 1, false); // int (ptr)
    private final Native.Downcall programFd = fn("bpf_program__fd", 1, false); // int (ptr)
    private final Native.Downcall linkCreate = fn("bpf_link_create", 4, false); // int (int, int, enum, ptr)
    private final Native.Downcall programSetAutoload = fn("bpf_program__set_autoload", 2, false); // int (ptr, bool)
    private final Native.Downcall iterCreate = fn("bpf_iter_create", 1, false); // int (int)
    private final Native.Downcall tcHookCreate = fn("bpf_tc_hook_create", 1, false); // int (ptr)
    private final Native.Downcall tcHookDestroy = fn("bpf_tc_hook_destroy", 1, false); // int (ptr)
    private final Native.Downcall tcAttach = fn("bpf_tc_attach", 2, false); // int (ptr, ptr)
    private final Native.Downcall tcDetach = fn("bpf_tc_detach", 2, false); // int (ptr, ptr)
    private final Native.Downcall objGetInfoByFd = fn("bpf_obj_get_info_by_fd", 3, false); // int (int, ptr, ptr)
    private final Native.Downcall mapLookupBatch = fn("bpf_map_lookup_batch", 7, false); // int (int, ptr x 6)
    private final Native.Downcall mapGetNextKey = fn("bpf_map_get_next_key", 3, false); // int (int, ptr, ptr)
    private final Native.Downcall mapLookupElem = fn("bpf_map_lookup_elem", 3, false); // int (int, ptr, ptr)
    private final Native.Downcall mapUpdateElem = fn("bpf_map_update_elem", 4, false); // int (int, ptr, ptr, __u64)
    private final Native.Downcall mapDeleteElem = fn("bpf_map_delete_elem", 2, false); // int (int, ptr)
    private final Native.Downcall mapLookupAndDeleteElem = fn("bpf_map_lookup_and_delete_elem", 3, false); // int (int, ptr, ptr)
    private final Native.Downcall numPossibleCpus = fn("libbpf_num_possible_cpus", 0, false); // int (void)
    private final Native.Downcall objectNextMap = fn("bpf_object__next_map", 2, false); // ptr (ptr, ptr)
    private final Native.Downcall objectNextProgram = fn("bpf_object__next_program", 2, false); // ptr (ptr, ptr)
    private final Native.Downcall mapName = fn("bpf_map__name", 1, false); // ptr (ptr)
    private final Native.Downcall programName = fn("bpf_program__name", 1, false); // ptr (ptr)
    private final Native.Downcall mapReuseFd = fn("bpf_map__reuse_fd", 2, false); // int (ptr, int)

    private Libbpf(String path, SymbolLookup lib) {
        this.path = path;
        this.lib = lib; // before the field initializers, which bind through it
        super();
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
        Libbpf l = new Libbpf(path, lib);
        for (Native.Downcall d : l.bound) { // a too old libbpf is refused at start, not at its first call
            if (!d.present()) {
                throw l.missing(d.name());
            }
        }
        return l;
    }

    public String path() {
        return path;
    }

    /**
     * A function of this libbpf, linked on its first call. Package-private for the test tree's
     * bindings (bpf_prog_test_run_opts, BTF reads), which the exporter never calls.
     */
    Native.Downcall bind(String name, FunctionDescriptor fd, Linker.Option... options) {
        Native.Downcall d = Native.downcall(lib, name, fd, this::missing, options);
        bound.add(d);
        return d;
    }

    /** A function of this libbpf in the shared shape of Native.function, linked on its first call. */
    private Native.Downcall fn(String name, int arity, boolean errno) {
        Native.Downcall d = Native.function(lib, name, arity, errno, this::missing);
        bound.add(d);
        return d;
    }

    private LibbpfException missing(String name) {
        return new LibbpfException(path + " has no symbol " + name + ": libbpf >= 1.0 is required (apt-get install libbpf1)", 0);
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
            MemorySegment stub = Native.LINKER.upcallStub(target, FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), Arena.global());
            long ignored = setPrint.call(Native.addr(stub));
        } catch (Throwable t) {
            throw Native.rethrow(t);
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
            int n = Libc.vsnprintf(buf, 2048L, format, vaList);
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
            MemorySegment state = arena.allocate(Native.CAPTURE);
            MemorySegment obj = Native.pointer(objectOpenMem.callErrno(state, Native.addr(buf), buf.byteSize(), 0L));
            if (obj.equals(MemorySegment.NULL)) {
                int errno = Native.errno(state);
                throw new LibbpfException("cannot open the BPF object: " + Libc.strerror(errno), errno);
            }
            return obj;
        }
    }

    /**
     * bpf_object__open_mem with opts.btf_custom_path: CO-RE relocations are made against that BTF file
     * instead of the kernel's (struct bpf_object_open_opts of libbpf 1.0+: sz at 0, btf_custom_path at 48;
     * a shorter sz than libbpf's own is how an older caller is told apart, and is accepted).
     */
    public MemorySegment objectOpenMem(MemorySegment buf, String btfCustomPath) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = arena.allocate(56, 8);
            opts.set(JAVA_LONG, 0, 56);
            opts.set(ADDRESS, 48, arena.allocateFrom(btfCustomPath)); // libbpf copies the string
            MemorySegment state = arena.allocate(Native.CAPTURE);
            MemorySegment obj = Native.pointer(objectOpenMem.callErrno(state, Native.addr(buf), buf.byteSize(), Native.addr(opts)));
            if (obj.equals(MemorySegment.NULL)) {
                int errno = Native.errno(state);
                throw new LibbpfException("cannot open the BPF object: " + Libc.strerror(errno), errno);
            }
            return obj;
        }
    }

    /** The object's maps, in order (names as libbpf gives them, internal .rodata/.bss maps included). */
    public List<MemorySegment> maps(MemorySegment obj) {
        return walk(objectNextMap, obj);
    }

    /** The object's programs, in order. */
    public List<MemorySegment> programs(MemorySegment obj) {
        return walk(objectNextProgram, obj);
    }

    private static List<MemorySegment> walk(Native.Downcall next, MemorySegment obj) {
        List<MemorySegment> all = new ArrayList<>();
        MemorySegment p = MemorySegment.NULL;
        while (!(p = Native.pointer(next.call(Native.addr(obj), p.address()))).equals(MemorySegment.NULL)) {
            all.add(p);
        }
        return all;
    }

    public String mapName(MemorySegment map) {
        return Native.pointer(mapName.call(Native.addr(map))).reinterpret(256).getString(0);
    }

    public String programName(MemorySegment prog) {
        return Native.pointer(programName.call(Native.addr(prog))).reinterpret(256).getString(0);
    }

    /** bpf_map__reuse_fd: before load, the map is this existing one (fd duplicated) instead of a new one; 0 or -errno. */
    public int mapReuseFd(MemorySegment map, int fd) {
        return (int) mapReuseFd.call(Native.addr(map), (long) fd);
    }

    /** bpf_object__load: returns 0 or -errno. */
    public int objectLoad(MemorySegment obj) {
        return (int) objectLoad.call(Native.addr(obj));
    }

    public void objectClose(MemorySegment obj) {
        long ignored = objectClose.call(Native.addr(obj)); // void: nothing to read
    }

    public MemorySegment findMap(MemorySegment obj, String name) {
        return findByName(objectFindMap, obj, "map", name);
    }

    public MemorySegment findProgram(MemorySegment obj, String name) {
        return findByName(objectFindProgram, obj, "program", name);
    }

    private static MemorySegment findByName(Native.Downcall find, MemorySegment obj, String what, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Native.CAPTURE);
            MemorySegment p = Native.pointer(find.callErrno(state, Native.addr(obj), Native.addr(arena.allocateFrom(name))));
            if (p.equals(MemorySegment.NULL)) {
                throw new LibbpfException("the BPF object has no " + what + " named " + name, Native.errno(state));
            }
            return p;
        }
    }

    public int mapSetMaxEntries(MemorySegment map, int entries) {
        return (int) mapSetMaxEntries.call(Native.addr(map), (long) entries);
    }

    public int mapMaxEntries(MemorySegment map) {
        return (int) mapMaxEntries.call(Native.addr(map));
    }

    public int mapFd(MemorySegment map) {
        return (int) mapFd.call(Native.addr(map));
    }

    public int programFd(MemorySegment prog) {
        return (int) programFd.call(Native.addr(prog));
    }

    public MemorySegment objectBtf(MemorySegment obj) {
        return Native.pointer(objectBtf.call(Native.addr(obj)));
    }

    // ---- attach ----------------------------------------------------------------------------

    /** bpf_link_create(prog_fd, ifindex, attach_type, NULL): a link fd, or -errno. */
    public int linkCreate(int progFd, int targetFd, int attachType) {
        return (int) linkCreate.call((long) progFd, (long) targetFd, (long) attachType, 0L);
    }

    /** bpf_program__set_autoload: before load, whether the program is loaded at all; 0 or -errno. */
    public int programSetAutoload(MemorySegment prog, boolean autoload) {
        return (int) programSetAutoload.call(Native.addr(prog), autoload ? 1L : 0L);
    }

    /** bpf_iter_create(link_fd): a file whose read() runs the iterator program, or -errno. */
    public int iterCreate(int linkFd) {
        return (int) iterCreate.call((long) linkFd);
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
            return (int) objGetInfoByFd.call((long) fd, Native.addr(info), Native.addr(len));
        }
    }

    // ---- map access (bpf.h low-level API) ------------------------------------------------

    /** bpf_map_lookup_batch with NULL opts; returns 0, -ENOENT at the end, or -errno. */
    public int mapLookupBatch(int fd, MemorySegment inBatch, MemorySegment outBatch, MemorySegment keys,
                              MemorySegment values, MemorySegment count) {
        return (int) mapLookupBatch.call((long) fd, Native.addr(inBatch), Native.addr(outBatch),
                Native.addr(keys), Native.addr(values), Native.addr(count), 0L);
    }

    public int mapGetNextKey(int fd, MemorySegment key, MemorySegment nextKey) {
        return (int) mapGetNextKey.call((long) fd, Native.addr(key), Native.addr(nextKey));
    }

    public int mapLookupElem(int fd, MemorySegment key, MemorySegment value) {
        return (int) mapLookupElem.call((long) fd, Native.addr(key), Native.addr(value));
    }

    /** bpf_map_update_elem: 0 or -errno; flags BPF_ANY (0), BPF_NOEXIST (1), BPF_EXIST (2). */
    public int mapUpdateElem(int fd, MemorySegment key, MemorySegment value, long flags) {
        return (int) mapUpdateElem.call((long) fd, Native.addr(key), Native.addr(value), flags);
    }

    public int mapDeleteElem(int fd, MemorySegment key) {
        return (int) mapDeleteElem.call((long) fd, Native.addr(key));
    }

    /** bpf_map_lookup_and_delete_elem (hash maps: Linux 5.14+): 0 or -errno. */
    public int mapLookupAndDeleteElem(int fd, MemorySegment key, MemorySegment value) {
        return (int) mapLookupAndDeleteElem.call((long) fd, Native.addr(key), Native.addr(value));
    }

    public int numPossibleCpus() {
        int n = (int) numPossibleCpus.call();
        if (n <= 0) {
            throw new LibbpfException("cannot read the number of possible CPUs: " + Libc.strerror(-n), -n);
        }
        return n;
    }

    private static int call1(Native.Downcall f, MemorySegment a) {
        return (int) f.call(Native.addr(a));
    }

    private static int call2(Native.Downcall f, MemorySegment a, MemorySegment b) {
        return (int) f.call(Native.addr(a), Native.addr(b));
    }
}
