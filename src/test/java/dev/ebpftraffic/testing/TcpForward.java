package dev.ebpftraffic.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Forwards TCP connections made to 127.0.0.1:port inside a network namespace to 127.0.0.1:target
 * in the test's own (root) namespace, where a test server runs (the mock Kubernetes API server):
 * the exporter in the namespace reaches it on its own loopback, and nothing leaves the machine.
 * The listening socket is made on a thread that joined the namespace (Setns), so it lives there.
 */
public final class TcpForward implements AutoCloseable {
    private final ServerSocket listener;
    private final int target;
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private TcpForward(ServerSocket listener, int target) {
        this.listener = listener;
        this.target = target;
        Thread.ofPlatform().name("tcp-forward-" + listener.getLocalPort()).daemon(true).start(this::acceptLoop);
    }

    /** Listens on 127.0.0.1:port in ns (0: any free port) and forwards to 127.0.0.1:target here. */
    public static TcpForward start(String ns, int port, int target) {
        ServerSocket s = Setns.call(ns, () -> {
            ServerSocket ss = new ServerSocket();
            ss.setReuseAddress(true);
            ss.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return ss;
        });
        return new TcpForward(s, target);
    }

    public int port() {
        return listener.getLocalPort();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket in = listener.accept();
                Socket out = new Socket(InetAddress.getLoopbackAddress(), target);
                open.add(in);
                open.add(out);
                pump(in, out);
                pump(out, in);
            } catch (IOException e) {
                if (!closed) {
                    System.err.println("tcp-forward: " + e);
                }
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread.ofPlatform().daemon(true).start(() -> {
            byte[] buf = new byte[16384];
            try (InputStream i = from.getInputStream(); OutputStream o = to.getOutputStream()) {
                int n;
                while ((n = i.read(buf)) >= 0) {
                    o.write(buf, 0, n);
                    o.flush();
                }
            } catch (IOException e) {
                // the other side closed: close both
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        });
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // closing
        }
    }

    /** Stops listening and cuts every forwarded connection (the client sees its watches break). */
    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException e) {
            // closing
        }
        open.forEach(TcpForward::closeQuietly);
    }
}
