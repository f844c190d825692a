package dev.ebpftraffic.bpf;

import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Which legacy filter handle this process owns. Several exporters (or `top --iface`) may use the
 * legacy hook of one interface at once, so each needs its own handle, and a process started after
 * a SIGKILL should take over the filter its dead predecessor left rather than add another. A slot
 * is an abstract Unix socket name, bound for the life of the process: the kernel frees it when the
 * process dies, however it dies, and the name is scoped to the network namespace, like the
 * interfaces. Whoever holds slot N owns handle {@code 0xEB9F0000 | N}, so a filter with that handle
 * found while we hold N was left by a process that is gone.
 */
final class LegacySlot {
    static final int MAX = 256;
    private static final String PREFIX = "ebpf-traffic-exporter/tc-handle/";
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int EADDRINUSE = 98;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = handle("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));

    private static int slot; // guarded by LegacySlot.class; 0: none yet

    private LegacySlot() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, Linker.Option.captureCallState("errno"));
    }

    /** This process's slot (1..MAX), taken on first use and held until the process exits. */
    static synchronized int get() {
        if (slot == 0) {
            for (int n = 1; n <= MAX; n++) {
                int fd = bind(n);
                if (fd >= 0) {
                    slot = n; // the socket stays open: it is the lock
                    return n;
                }
                if (fd != -EADDRINUSE) {
                    throw new LibbpfException("cannot take a legacy filter handle (an abstract Unix socket): "
                            + Libc.strerror(-fd), -fd);
                }
            }
            throw new LibbpfException("more than " + MAX + " processes use the legacy TC hook in this network namespace", 0);
        }
        return slot;
    }

    /**
     * Runs action while holding slot n, if no live process holds it; returns whether it ran. A
     * process that starts meanwhile takes another slot, so it cannot attach at n under our feet.
     */
    static boolean ifFree(int n, Runnable action) {
        int fd = bind(n);
        if (fd < 0) {
            return false;
        }
        try {
            action.run();
            return true;
        } finally {
            Libc.close(fd);
        }
    }

    /** The slot of a filter handle, or 0 when the handle is not one of ours. */
    static int slotOf(int handle) {
        int n = handle & 0xFFFF;
        return (handle & 0xFFFF0000) == 0xEB9F0000 && n >= 1 && n <= MAX ? n : 0;
    }

    /** The filter handle of slot n. */
    static int handle(int n) {
        return 0xEB9F0000 | n;
    }

    /** A socket bound to slot n's name, or -errno (-EADDRINUSE: a live process holds it). */
    private static int bind(int n) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int fd = (int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                return -(int) ERRNO.get(state, 0L);
            }
            byte[] name = (PREFIX + n).getBytes(StandardCharsets.US_ASCII);
            MemorySegment sa = arena.allocate(110, 2); // struct sockaddr_un: family, then the path
            sa.set(JAVA_SHORT, 0, (short) AF_UNIX);
            // path[0] = 0: an abstract name, nothing on any filesystem
            MemorySegment.copy(name, 0, sa, JAVA_BYTE, 3, name.length);
            int r = (int) BIND.invokeExact(state, fd, sa, 3 + name.length);
            if (r < 0) {
                int err = (int) ERRNO.get(state, 0L);
                Libc.close(fd);
                return -err;
            }
            return fd;
        } catch (Throwable t) {
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(t);
        }
    }
}
