package dev.ebpftraffic.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A tun device (IFF_TUN | IFF_NO_PI: L3, no link-layer header, ARPHRD_NONE) in a network namespace,
 * held open by this process: IP packets written here arrive at the device (its TC ingress hook), and
 * packets the namespace routes to the device (its TC egress hook) are read here. Opened with
 * /dev/net/tun and TUNSETIFF from a thread inside the namespace, so the device is created there.
 * close() closes the fd, which deletes the (non-persistent) device.
 */
public final class Tun implements AutoCloseable {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = handle("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle IOCTL = LINKER.downcallHandle(LINKER.defaultLookup().find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final MethodHandle READ = handle("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = handle("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final short IFF_TUN = 0x0001;
    private static final short IFF_NO_PI = 0x1000;
    private static final int EAGAIN = 11;

    private final int fd;
    private final String name;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = arena.allocate(CAPTURE);
    private final MemorySegment buf = arena.allocate(65536);
    private boolean closed;

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, Linker.Option.captureCallState("errno"));
    }

    private Tun(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /** Creates tun device name in namespace ns (down; bring it up with ip link). */
    public static Tun create(String ns, String name) {
        return Setns.call(ns, () -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment st = a.allocate(CAPTURE);
                int fd = (int) OPEN.invokeExact(st, a.allocateFrom("/dev/net/tun"), O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0) {
                    throw new IllegalStateException("open /dev/net/tun: errno " + (int) ERRNO.get(st, 0L));
                }
                MemorySegment ifr = a.allocate(40); // struct ifreq: name[16], then short flags
                MemorySegment.copy(name.getBytes(StandardCharsets.US_ASCII), 0, ifr, JAVA_BYTE, 0, name.length());
                ifr.set(JAVA_SHORT, 16, (short) (IFF_TUN | IFF_NO_PI));
                int r = (int) IOCTL.invokeExact(st, fd, TUNSETIFF, ifr);
                if (r < 0) {
                    int errno = (int) ERRNO.get(st, 0L);
                    int ignored = (int) CLOSE.invokeExact(st, fd);
                    throw new IllegalStateException("TUNSETIFF " + name + ": errno " + errno);
                }
                return new Tun(fd, name);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        });
    }

    public String name() {
        return name;
    }

    /** Hands one IP packet to the device: it is received there (TC ingress). */
    public synchronized void write(byte[] packet) {
        MemorySegment.copy(packet, 0, buf, JAVA_BYTE, 0, packet.length);
        try {
            long n = (long) WRITE.invokeExact(state, fd, buf, (long) packet.length);
            if (n != packet.length) {
                throw new IllegalStateException("tun write returned " + n + ", errno " + (int) ERRNO.get(state, 0L));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Every packet the device sent (TC egress) until none arrives for quietMillis. */
    public synchronized List<byte[]> readAll(long quietMillis) {
        List<byte[]> out = new ArrayList<>();
        long deadline = System.currentTimeMillis() + quietMillis;
        while (System.currentTimeMillis() < deadline) {
            try {
                long n = (long) READ.invokeExact(state, fd, buf, buf.byteSize());
                if (n > 0) {
                    out.add(buf.asSlice(0, n).toArray(JAVA_BYTE));
                    deadline = System.currentTimeMillis() + quietMillis;
                    continue;
                }
                if (n < 0 && (int) ERRNO.get(state, 0L) != EAGAIN) {
                    throw new IllegalStateException("tun read: errno " + (int) ERRNO.get(state, 0L));
                }
                Thread.sleep(5);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
        return out;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            int ignored = (int) CLOSE.invokeExact(state, fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            arena.close();
        }
    }
}
