package dev.ebpftraffic.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libc calls the exporter makes, bound once for every package and linked on first use:
 * interface names, strerror, vsnprintf, membarrier, and the socket, pipe and poll calls of the
 * netlink readers. Calls that fail with errno return -errno.
 */
public final class Libc {
    // The non-variadic functions in the shared shape of Native.function (see Native.words why that is
    // exact); the comment after each gives its C signature, which the calls below follow (int results narrowed).
    private static final Native.Downcall IF_NAMETOINDEX = Native.libcFunction("if_nametoindex", 1, false); // unsigned (ptr)
    private static final Native.Downcall IF_INDEXTONAME = Native.libcFunction("if_indextoname", 2, false); // ptr (unsigned, ptr)
    private static final Native.Downcall STRERROR = Native.libcFunction("strerror", 1, false); // ptr (int)
    private static final Native.Downcall VSNPRINTF = Native.libcFunction("vsnprintf", 4, false); // int (ptr, size_t, ptr, va_list)
    private static final Native.Downcall SYSCALL = Native.libc("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(1));
    private static final Native.Downcall CLOSE = Native.libcFunction("close", 1, true); // int (int)
    private static final Native.Downcall SOCKET = Native.libcFunction("socket", 3, true); // int (int, int, int)
    private static final Native.Downcall BIND = Native.libcFunction("bind", 3, true); // int (int, ptr, socklen_t)
    private static final Native.Downcall SEND = Native.libcFunction("send", 4, true); // ssize_t (int, ptr, size_t, int)
    private static final Native.Downcall RECV = Native.libcFunction("recv", 4, true); // ssize_t (int, ptr, size_t, int)
    private static final Native.Downcall POLL = Native.libcFunction("poll", 3, true); // int (ptr, nfds_t, int)
    private static final Native.Downcall PIPE2 = Native.libcFunction("pipe2", 2, true); // int (ptr, int)
    private static final Native.Downcall WRITE = Native.libcFunction("write", 3, true); // ssize_t (int, ptr, size_t)
    private static final Native.Downcall READ = Native.libcFunction("read", 3, true); // ssize_t (int, ptr, size_t)

    private static final Native.Downcall OPEN = Native.libc("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Native.ERRNO_OPTION, java.lang.foreign.Linker.Option.firstVariadicArg(2));
    private static final int O_RDONLY_DIRECTORY_CLOEXEC = 0 | 0200000 | 02000000; // O_RDONLY | O_DIRECTORY | O_CLOEXEC

    private static final int IF_NAMESIZE = 16;
    /** __NR_membarrier: x86_64 and the generic table (aarch64, riscv64, ...). */
    private static final long NR_MEMBARRIER = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch")) ? 324 : 283;
    private static final int MEMBARRIER_CMD_GLOBAL = 1;

    private Libc() {
    }

    /** A call that captures errno: its result, or -errno when it is negative. */
    @FunctionalInterface
    private interface WithErrno {
        long call(MemorySegment state) throws Throwable;
    }

    private static long withErrno(WithErrno c) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Native.CAPTURE);
            long r = Native.callLong(() -> c.call(state));
            return r < 0 ? -Native.errno(state) : r;
        }
    }

    /** The result r of a call that wrote errno into state, or -errno when r is negative. */
    private static long orErrno(long r, MemorySegment state) {
        return r < 0 ? -Native.errno(state) : r;
    }

    /** open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC): an fd, or -errno. For a cgroup to attach to. */
    public static int openDirectory(String path) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocateFrom(path);
            return (int) withErrno(st -> (int) OPEN.get().invokeExact(st, p, O_RDONLY_DIRECTORY_CLOEXEC, 0));
        }
    }

    /**
     * open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600): a file with no name, gone when its last fd is closed
     * (reachable meanwhile as /proc/self/fd/N); an fd, or -errno (EOPNOTSUPP where the file system cannot).
     */
    public static int openTmpfile(String dir) {
        int oDirectory = "aarch64".equals(System.getProperty("os.arch")) ? 040000 : 0200000;
        int flags = 020000000 | oDirectory | 2 | 02000000; // __O_TMPFILE | O_DIRECTORY, O_RDWR, O_CLOEXEC
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocateFrom(dir);
            return (int) withErrno(st -> (int) OPEN.get().invokeExact(st, p, flags, 0600));
        }
    }

    /** socket(2): an fd, or -errno. */
    public static int socket(int domain, int type, int protocol) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return (int) orErrno((int) SOCKET.callErrno(st, domain, type, protocol), st);
        }
    }

    /** bind(2): 0 or -errno. */
    public static int bind(int fd, MemorySegment addr, int addrLen) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return (int) orErrno((int) BIND.callErrno(st, fd, Native.addr(addr), addrLen), st);
        }
    }

    /** send(2): bytes sent, or -errno. */
    public static long send(int fd, MemorySegment buf, long len, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return orErrno(SEND.callErrno(st, fd, Native.addr(buf), len, flags), st);
        }
    }

    /** recv(2): bytes received, or -errno. */
    public static long recv(int fd, MemorySegment buf, long len, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return orErrno(RECV.callErrno(st, fd, Native.addr(buf), len, flags), st);
        }
    }

    /** poll(2) on nfds struct pollfd at fds: how many are ready, 0 on a timeout, or -errno. */
    public static int poll(MemorySegment fds, long nfds, int timeoutMillis) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return (int) orErrno((int) POLL.callErrno(st, Native.addr(fds), nfds, timeoutMillis), st);
        }
    }

    /** pipe2(2) into two ints at fds: 0 or -errno. */
    public static int pipe2(MemorySegment fds, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return (int) orErrno((int) PIPE2.callErrno(st, Native.addr(fds), flags), st);
        }
    }

    /** read(2): bytes read, or -errno. */
    public static long read(int fd, MemorySegment buf, long len) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return orErrno(READ.callErrno(st, fd, Native.addr(buf), len), st);
        }
    }

    /** write(2): bytes written, or -errno. */
    public static long write(int fd, MemorySegment buf, long len) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            return orErrno(WRITE.callErrno(st, fd, Native.addr(buf), len), st);
        }
    }

    /** vsnprintf(3) for libbpf's log callback (va_list by pointer on x86-64 and aarch64). */
    public static int vsnprintf(MemorySegment buf, long size, MemorySegment format, MemorySegment vaList) {
        return (int) VSNPRINTF.call(Native.addr(buf), size, Native.addr(format), Native.addr(vaList));
    }

    /**
     * membarrier(MEMBARRIER_CMD_GLOBAL): returns after an RCU grace period (synchronize_rcu), i.e.
     * after every BPF program run that had started has finished. False when the kernel refuses
     * (no membarrier, or nohz_full CPUs).
     */
    public static boolean rcuGracePeriod() {
        return Native.callLong(() -> (long) SYSCALL.get().invokeExact(NR_MEMBARRIER, MEMBARRIER_CMD_GLOBAL, 0, 0)) == 0;
    }

    /** The ifindex of an interface in the calling thread's network namespace, or 0 when none has that name. */
    public static int ifNameToIndex(String name) {
        if (name.isEmpty() || name.length() >= IF_NAMESIZE) {
            return 0;
        }
        try (Arena arena = Arena.ofConfined()) {
            return (int) IF_NAMETOINDEX.call(Native.addr(arena.allocateFrom(name)));
        }
    }

    /** The name of an interface, or null when the index is unknown (the interface is gone). */
    public static String ifIndexToName(int ifindex) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(IF_NAMESIZE);
            MemorySegment r = Native.pointer(IF_INDEXTONAME.call(ifindex, Native.addr(buf)));
            if (r.equals(MemorySegment.NULL)) {
                return null;
            }
            byte[] b = buf.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            int z = 0;
            while (z < b.length && b[z] != 0) {
                z++;
            }
            return decodeName(b, z); // as netlink's names: invalid UTF-8 as \xHH
        }
    }

    public static String strerror(int errno) {
        MemorySegment s = Native.pointer(STRERROR.call(errno));
        return s.reinterpret(256).getString(0);
    }

    public static void close(int fd) {
        if (fd < 0) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(Native.CAPTURE);
            long ignored = CLOSE.callErrno(st, fd); // nothing to do about a failed close
        }
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
