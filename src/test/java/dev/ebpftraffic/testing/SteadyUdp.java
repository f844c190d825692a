package dev.ebpftraffic.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A steady one-way UDP stream between two namespaces: datagrams of a fixed payload at a fixed
 * rate (absolute deadlines, so no drift), into a sink bound first so nothing answers with ICMP.
 * close() stops it and waits until the sink got every datagram sent; {@link #sent()} is exact.
 */
public final class SteadyUdp implements AutoCloseable {
    private final DatagramChannel sink;
    private final DatagramChannel source;
    private final Thread sender;
    private final Thread receiver;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    private final int payload;
    private final String dst;
    private volatile boolean stop;
    private volatile Throwable failure;

    private SteadyUdp(String srcNs, String src, String dstNs, String dst, int port, int payload,
                      java.util.function.DoubleUnaryOperator perSecondAt) {
        this(srcNs, null, src, dstNs, null, dst, port, payload, perSecondAt);
    }

    /** srcGroup, dstGroup: the cgroup v2 groups the two sockets are made in (null: this JVM's own). */
    private SteadyUdp(String srcNs, java.nio.file.Path srcGroup, String src, String dstNs, java.nio.file.Path dstGroup,
                      String dst, int port, int payload, java.util.function.DoubleUnaryOperator perSecondAt) {
        this.payload = payload;
        this.dst = dst;
        InetAddress d = NetNs.parse(dst);
        ProtocolFamily fam = d instanceof Inet4Address ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
        InetSocketAddress target = new InetSocketAddress(d, port);
        sink = inGroup(dstGroup, () -> Setns.call(dstNs, () -> {
            DatagramChannel c = DatagramChannel.open(fam);
            c.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 22);
            c.bind(target);
            return c;
        }));
        source = inGroup(srcGroup, () -> Setns.call(srcNs, () -> {
            DatagramChannel c = DatagramChannel.open(fam);
            c.bind(new InetSocketAddress(NetNs.parse(src), 0));
            return c;
        }));
        sender = Thread.ofPlatform().daemon(true).name("udp " + src + " -> " + dst).unstarted(() -> {
            long start = System.nanoTime();
            long next = start;
            ByteBuffer buf = ByteBuffer.allocate(payload);
            try {
                while (!stop) {
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                        continue;
                    }
                    buf.clear();
                    if (source.send(buf, target) != payload) {
                        throw new IOException("short send");
                    }
                    sent.incrementAndGet();
                    next += (long) (1e9 / perSecondAt.applyAsDouble((next - start) / 1e9));
                }
            } catch (Throwable t) {
                failure = t;
            }
        });
        receiver = Thread.ofPlatform().daemon(true).name("sink " + dst).unstarted(() -> {
            ByteBuffer buf = ByteBuffer.allocate(65536);
            try {
                while (true) {
                    buf.clear();
                    sink.receive(buf);
                    if (buf.position() != payload) {
                        throw new IOException("datagram of " + buf.position() + " bytes, expected " + payload);
                    }
                    received.incrementAndGet();
                }
            } catch (java.nio.channels.ClosedChannelException e) {
                // closed by close()
            } catch (Throwable t) {
                failure = t;
            }
        });
    }

    private static DatagramChannel inGroup(java.nio.file.Path group, java.util.concurrent.Callable<DatagramChannel> make) {
        try {
            return group == null ? make.call() : TestCgroups.callIn(group, make);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("cannot make a socket in " + group + ": " + e, e);
        }
    }

    /** As {@link #start(String, String, String, String, int, int, double)}, the sockets made in these cgroup v2 groups. */
    public static SteadyUdp startInGroups(String srcNs, java.nio.file.Path srcGroup, String src, String dstNs,
                                          java.nio.file.Path dstGroup, String dst, int port, int payload, double perSecond) {
        SteadyUdp u = new SteadyUdp(srcNs, srcGroup, src, dstNs, dstGroup, dst, port, payload, t -> perSecond);
        u.receiver.start();
        u.sender.start();
        return u;
    }

    /** Starts sending payload-byte datagrams src -> dst:port at perSecond, src in srcNs, dst in dstNs. */
    public static SteadyUdp start(String srcNs, String src, String dstNs, String dst, int port, int payload, double perSecond) {
        return start(srcNs, src, dstNs, dst, port, payload, t -> perSecond);
    }

    /** As above, at a rate that changes with the seconds since the start (must stay above 0). */
    public static SteadyUdp start(String srcNs, String src, String dstNs, String dst, int port, int payload,
                                  java.util.function.DoubleUnaryOperator perSecondAt) {
        SteadyUdp u = new SteadyUdp(srcNs, src, dstNs, dst, port, payload, perSecondAt);
        u.receiver.start();
        u.sender.start();
        return u;
    }

    /** Stops sending and waits (up to 5 s) until every datagram arrived; throws if one did not. */
    public SteadyUdp stop() {
        stop = true;
        try {
            sender.join(5000);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (received.get() < sent.get() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw new AssertionError("UDP stream to " + dst + " failed: " + failure, failure);
        }
        if (received.get() != sent.get()) {
            throw new AssertionError("UDP stream to " + dst + ": sent " + sent.get() + ", received " + received.get());
        }
        return this;
    }

    public long sent() {
        return sent.get();
    }

    /** Frame bytes sent (Ethernet header included), as the exporter counts them. */
    public long frameBytes() {
        return sent.get() * Traffic.udpFrame(dst, payload);
    }

    @Override
    public void close() {
        stop = true;
        try {
            source.close();
            sink.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
