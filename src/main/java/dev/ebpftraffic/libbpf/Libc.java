package dev.ebpftraffic.libbpf;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** The few libc calls the exporter needs: interface names, strerror, close, vsnprintf, membarrier. */
public final class Libc {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();

    private static final MethodHandle IF_NAMETOINDEX = handle("if_nametoindex", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle IF_INDEXTONAME = handle("if_indextoname", FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS));
    private static final MethodHandle STRERROR = handle("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    static final MethodHandle VSNPRINTF = handle("vsnprintf", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));

    private static final java.lang.foreign.StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final MethodHandle OPEN = LINKER.downcallHandle(
            LIBC.find("open").orElseThrow(() -> new IllegalStateException("libc has no open")),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.captureCallState("errno"),
            Linker.Option.firstVariadicArg(2));
    private static final int O_RDONLY_DIRECTORY_CLOEXEC = 0 | 0200000 | 02000000; // O_RDONLY | O_DIRECTORY | O_CLOEXEC

    private static final int IF_NAMESIZE = 16;
    private static final MethodHandle SYSCALL = LINKER.downcallHandle(
            LIBC.find("syscall").orElseThrow(() -> new IllegalStateException("libc has no syscall")),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(1));
    /** __NR_membarrier: x86_64 and the generic table (aarch64, riscv64, ...). */
    private static final long NR_MEMBARRIER = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch")) ? 324 : 283;
    private static final int MEMBARRIER_CMD_GLOBAL = 1;

    private Libc() {
    }

    static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new IllegalStateException("libc has no " + name)), fd);
    }

    /**
     * membarrier(MEMBARRIER_CMD_GLOBAL): returns after an RCU grace period (synchronize_rcu), i.e.
     * after every BPF program run that had started has finished. False when the kernel refuses
     * (no membarrier, or nohz_full CPUs).
     */
    public static boolean rcuGracePeriod() {
        try {
            return (long) SYSCALL.invokeExact(NR_MEMBARRIER, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The ifindex of an interface in the calling thread's network namespace, or 0 when none has that name. */
    public static int ifNameToIndex(String name) {
        if (name.isEmpty() || name.length() >= IF_NAMESIZE) {
            return 0;
        }
        try (Arena arena = Arena.ofConfined()) {
            return (int) IF_NAMETOINDEX.invokeExact(arena.allocateFrom(name));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The name of an interface, or null when the index is unknown (the interface is gone). */
    public static String ifIndexToName(int ifindex) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(IF_NAMESIZE);
            MemorySegment r = (MemorySegment) IF_INDEXTONAME.invokeExact(ifindex, buf);
            if (r.equals(MemorySegment.NULL)) {
                return null;
            }
            byte[] b = buf.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            int z = 0;
            while (z < b.length && b[z] != 0) {
                z++;
            }
            return decodeName(b, z); // as netlink's names: invalid UTF-8 as \xHH
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC): an fd, or -errno. For a cgroup to attach to. */
    public static int openDirectory(String path) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), O_RDONLY_DIRECTORY_CLOEXEC, 0);
            if (fd >= 0) {
                return fd;
            }
            return -state.get(JAVA_INT, CALL_STATE.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void close(int fd) {
        if (fd < 0) {
            return;
        }
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /**
     * A C name (an interface name) as a Java string: UTF-8 as it is, each byte that is not part of
     * valid UTF-8 as \xHH, so names that differ only in invalid bytes stay distinct.
     */
    public static String decodeName(byte[] b, int len) {
        java.nio.charset.CharsetDecoder d = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(b, 0, len);
        java.nio.CharBuffer out = java.nio.CharBuffer.allocate(4 * len + 1);
        while (true) {
            java.nio.charset.CoderResult r = d.decode(in, out, true);
            if (r.isUnderflow()) {
                d.flush(out);
                break;
            }
            for (int i = 0; i < r.length(); i++) { // malformed: escape these bytes, go on after them
                int x = in.get() & 0xff;
                out.put('\\').put('x').put(Character.forDigit(x >> 4, 16)).put(Character.forDigit(x & 0xf, 16));
            }
        }
        return out.flip().toString();
    }
}
