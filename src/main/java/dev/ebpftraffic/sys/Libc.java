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
    private static final Native.Downcall IF_NAMETOINDEX = Native.libc("if_nametoindex", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final Native.Downcall IF_INDEXTONAME = Native.libc("if_indextoname", FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS));
    private static final Native.Downcall STRERROR = Native.libc("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final Native.Downcall VSNPRINTF = Native.libc("vsnprintf", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    private static final Native.Downcall SYSCALL = Native.libc("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(1));
    private static final Native.Downcall CLOSE = errnoCall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final Native.Downcall SOCKET = errnoCall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final Native.Downcall BIND = errnoCall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final Native.Downcall SEND = errnoCall("send", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final Native.Downcall RECV = errnoCall("recv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final Native.Downcall POLL = errnoCall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final Native.Downcall PIPE2 = errnoCall("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final Native.Downcall WRITE = errnoCall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final Native.Downcall READ = errnoCall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));

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

    private static Native.Downcall errnoCall(String name, FunctionDescriptor fd) {
        return Native.libc(name, fd, Native.ERRNO_OPTION);
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

    /** open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC): an fd, or -errno. For a cgroup to attach to. */
    public static int openDirectory(String path) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocateFrom(path);
            return (int) withErrno(st -> (int) OPEN.get().invokeExact(st, p, O_RDONLY_DIRECTORY_CLOEXEC, 0));
        }
    }

    /** socket(2): an fd, or -errno. */
    public static int socket(int domain, int type, int protocol) {
        return (int) withErrno(st -> (int) SOCKET.get().invokeExact(st, domain, type, protocol));
    }

    /** bind(2): 0 or -errno. */
    public static int bind(int fd, MemorySegment addr, int addrLen) {
        return (int) withErrno(st -> (int) BIND.get().invokeExact(st, fd, addr, addrLen));
    }

    /** send(2): bytes sent, or -errno. */
    public static long send(int fd, MemorySegment buf, long len, int flags) {
        return withErrno(st -> (long) SEND.get().invokeExact(st, fd, buf, len, flags));
    }

    /** recv(2): bytes received, or -errno. */
    public static long recv(int fd, MemorySegment buf, long len, int flags) {
        return withErrno(st -> (long) RECV.get().invokeExact(st, fd, buf, len, flags));
    }

    /** poll(2) on nfds struct pollfd at fds: how many are ready, 0 on a timeout, or -errno. */
    public static int poll(MemorySegment fds, long nfds, int timeoutMillis) {
        return (int) withErrno(st -> (int) POLL.get().invokeExact(st, fds, nfds, timeoutMillis));
    }

    /** pipe2(2) into two ints at fds: 0 or -errno. */
    public static int pipe2(MemorySegment fds, int flags) {
        return (int) withErrno(st -> (int) PIPE2.get().invokeExact(st, fds, flags));
    }

    /** read(2): bytes read, or -errno. */
    public static long read(int fd, MemorySegment buf, long len) {
        return withErrno(st -> (long) READ.get().invokeExact(st, fd, buf, len));
    }

    /** write(2): bytes written, or -errno. */
    public static long write(int fd, MemorySegment buf, long len) {
        return withErrno(st -> (long) WRITE.get().invokeExact(st, fd, buf, len));
    }

    /** vsnprintf(3) for libbpf's log callback (va_list by pointer on x86-64 and aarch64). */
    public static int vsnprintf(MemorySegment buf, long size, MemorySegment format, MemorySegment vaList) {
        return Native.callInt(() -> (int) VSNPRINTF.get().invokeExact(buf, size, format, vaList));
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
            return Native.callInt(() -> (int) IF_NAMETOINDEX.get().invokeExact(arena.allocateFrom(name)));
        }
    }

    /** The name of an interface, or null when the index is unknown (the interface is gone). */
    public static String ifIndexToName(int ifindex) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(IF_NAMESIZE);
            MemorySegment r = Native.call(() -> (MemorySegment) IF_INDEXTONAME.get().invokeExact(ifindex, buf));
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
        MemorySegment s = Native.call(() -> (MemorySegment) STRERROR.get().invokeExact(errno));
        return s.reinterpret(256).getString(0);
    }

    public static void close(int fd) {
        if (fd < 0) {
            return;
        }
        long ignored = withErrno(st -> (int) CLOSE.get().invokeExact(st, fd));
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
