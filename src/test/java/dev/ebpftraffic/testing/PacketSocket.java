package dev.ebpftraffic.testing;

import dev.ebpftraffic.sys.Libc;

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
 * An AF_PACKET/SOCK_RAW socket in a network namespace, for sending whole Ethernet frames as
 * they are (non-IP, truncated, VLAN-tagged) out of one interface. Protocol 0: it receives nothing.
 * A frame sent on an interface passes that interface's TC egress hook, and a veth delivers it to
 * the peer's ingress hook.
 */
public final class PacketSocket implements AutoCloseable {
    private static final int AF_PACKET = 17;
    private static final int SOCK_RAW = 3;
    private static final int SOCKADDR_LL_SIZE = 20;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = handle("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    // ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen)
    private static final MethodHandle SENDTO = handle("sendto",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));

    private final int fd;
    private final int ifindex;
    private final String where;

    private PacketSocket(int fd, int ifindex, String where) {
        this.fd = fd;
        this.ifindex = ifindex;
        this.where = where;
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd,
                Linker.Option.captureCallState("errno"));
    }

    /** Opens a packet socket in namespace ns for sending on iface. */
    public static PacketSocket open(String ns, String iface) {
        return Setns.call(ns, () -> {
            int ifindex = Libc.ifNameToIndex(iface);
            if (ifindex == 0) {
                throw new IllegalStateException("no interface " + iface + " in netns " + ns);
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = arena.allocate(CAPTURE);
                int fd = (int) SOCKET.invokeExact(state, AF_PACKET, SOCK_RAW, 0);
                if (fd < 0) {
                    throw new IllegalStateException("socket(AF_PACKET) in " + ns + ": " + Libc.strerror((int) ERRNO.get(state, 0L)));
                }
                return new PacketSocket(fd, ifindex, iface + "@" + ns);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        });
    }

    /** Sends one frame exactly as given (destination MAC and ethertype from the frame); fails unless all of it went. */
    /** Opens a socket on iface in namespace ns, sends the frames in order, closes it. */
    public static void send(String ns, String iface, byte[]... frames) {
        try (PacketSocket s = open(ns, iface)) {
            for (byte[] f : frames) {
                s.send(f);
            }
        }
    }

    public void send(byte[] frame) {
        if (frame.length < 14) {
            throw new IllegalArgumentException("a frame has at least an Ethernet header");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            MemorySegment buf = arena.allocateFrom(JAVA_BYTE, frame);
            MemorySegment sll = arena.allocate(SOCKADDR_LL_SIZE, 4);
            sll.set(JAVA_SHORT, 0, (short) AF_PACKET);
            sll.set(JAVA_BYTE, 2, frame[12]); // sll_protocol, network byte order: the frame's ethertype
            sll.set(JAVA_BYTE, 3, frame[13]);
            sll.set(JAVA_INT, 4, ifindex);
            sll.set(JAVA_BYTE, 11, (byte) 6); // sll_halen
            MemorySegment.copy(frame, 0, sll, JAVA_BYTE, 12, 6); // sll_addr: the destination MAC
            long n = (long) SENDTO.invokeExact(state, fd, buf, (long) frame.length, 0, sll, SOCKADDR_LL_SIZE);
            if (n != frame.length) {
                throw new IllegalStateException("sendto on " + where + " returned " + n + " for " + frame.length
                        + " bytes: " + (n < 0 ? Libc.strerror((int) ERRNO.get(state, 0L)) : "short write"));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** frame with its destination and source MACs replaced (colon-separated hex). */
    public static byte[] withMacs(byte[] frame, String dst, String src) {
        byte[] f = frame.clone();
        System.arraycopy(mac(dst), 0, f, 0, 6);
        System.arraycopy(mac(src), 0, f, 6, 6);
        return f;
    }

    public static byte[] mac(String s) {
        String[] p = s.split(":");
        if (p.length != 6) {
            throw new IllegalArgumentException("not a MAC address: " + s);
        }
        byte[] b = new byte[6];
        for (int i = 0; i < 6; i++) {
            b[i] = (byte) Integer.parseInt(p[i], 16);
        }
        return b;
    }

    @Override
    public void close() {
        Libc.close(fd);
    }
}
