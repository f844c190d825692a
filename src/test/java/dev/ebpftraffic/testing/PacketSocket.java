package dev.ebpftraffic.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Sends raw Ethernet frames (VLAN tags and all, exactly as built) out of an interface with an
 * AF_PACKET socket: the frame passes the interface's TC egress hook as written, and arrives at the
 * peer of a veth as received from a wire. Opened from a thread inside the namespace.
 */
public final class PacketSocket {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SENDTO = handle("sendto",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final int AF_PACKET = 17;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;

    private PacketSocket() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, Linker.Option.captureCallState("errno"));
    }

    /** Sends each frame once out of iface in namespace ns. */
    public static void send(String ns, String iface, byte[]... frames) {
        Setns.run(ns, () -> {
            int ifindex = dev.ebpftraffic.libbpf.Libc.ifNameToIndex(iface);
            if (ifindex == 0) {
                throw new IllegalStateException("no " + iface + " in " + ns);
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment st = a.allocate(CAPTURE);
                int fd = (int) SOCKET.invokeExact(st, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); // protocol 0: send only
                if (fd < 0) {
                    throw new IllegalStateException("socket(AF_PACKET): errno " + (int) ERRNO.get(st, 0L));
                }
                try {
                    MemorySegment sll = a.allocate(20, 4); // struct sockaddr_ll
                    sll.set(JAVA_SHORT, 0, (short) AF_PACKET);
                    sll.set(JAVA_INT, 4, ifindex);
                    sll.set(JAVA_BYTE, 11, (byte) 6); // halen
                    for (byte[] f : frames) {
                        MemorySegment buf = a.allocate(f.length);
                        MemorySegment.copy(f, 0, buf, JAVA_BYTE, 0, f.length);
                        MemorySegment.copy(f, 0, sll, JAVA_BYTE, 12, 6); // destination MAC
                        long n = (long) SENDTO.invokeExact(st, fd, buf, (long) f.length, 0, sll, 20);
                        if (n != f.length) {
                            throw new IllegalStateException("sendto on " + iface + ": " + n + ", errno " + (int) ERRNO.get(st, 0L));
                        }
                    }
                } finally {
                    int ignored = (int) CLOSE.invokeExact(st, fd);
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        });
    }
}
