package dev.ebpftraffic.testing;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A separate process that makes sockets and traffic on command, for per-process attribution tests.
 * {@link #start} runs it in a network namespace under a command name of the test's choosing (the
 * JVM started through a symlink of that name: the kernel names a process after the file it executed).
 * It prints "ready", then answers each command line on stdin with one line:
 * <ul>
 *   <li>{@code udp BIND DST PORT N SIZE REPLY}: a new UDP socket bound to BIND, N datagrams of SIZE
 *       bytes to DST:PORT, each answered by one of REPLY bytes; "ok"</li>
 *   <li>{@code hold BIND}: a UDP socket bound to BIND, kept; "ok"</li>
 *   <li>{@code held DST PORT N SIZE REPLY}: as udp, from the held socket; "ok"</li>
 *   <li>{@code listen BIND}: a TCP listener; its port</li>
 *   <li>{@code accept}: accepts one connection, reads it to its end; "ok BYTES"</li>
 *   <li>{@code connect DST PORT N}: a TCP connection, N bytes sent, read to the end; "ok"</li>
 * </ul>
 * Errors answer "error ..." (the test fails on them); end of input ends the process.
 */
public final class SocketPeer implements Closeable {
    private final Process process;
    private final BufferedReader out;
    private final java.io.Writer in;
    private final Path link;

    private SocketPeer(Process process, Path link) {
        this.process = process;
        this.link = link;
        this.out = process.inputReader(StandardCharsets.UTF_8);
        this.in = process.outputWriter(StandardCharsets.UTF_8);
    }

    /** Starts a peer named comm (at most 15 characters: the kernel's limit) in namespace ns. */
    public static SocketPeer start(String ns, String comm) throws IOException {
        if (comm.length() > 15) {
            throw new IllegalArgumentException("a command name has at most 15 characters: " + comm);
        }
        Path dir = Files.createTempDirectory("ete-peer-");
        Path link = dir.resolve(comm);
        String java = ProcessHandle.current().info().command().orElseThrow();
        Files.createSymbolicLink(link, Path.of(java));
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=/var/run/netns/" + ns, link.toString(),
                "-Xss512k", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), SocketPeer.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        SocketPeer peer = new SocketPeer(p, link);
        try {
            String first = peer.out.readLine();
            if (!"ready".equals(first)) {
                throw new IOException("peer " + comm + " did not start: " + first);
            }
        } catch (IOException | RuntimeException e) {
            peer.close();
            throw e;
        }
        return peer;
    }

    public long pid() {
        return process.pid();
    }

    /** Sends one command and returns its answer; throws on an error answer. */
    public String command(String line) throws IOException {
        in.write(line + "\n");
        in.flush();
        String answer = out.readLine();
        if (answer == null || answer.startsWith("error")) {
            throw new IOException("peer " + link.getFileName() + ": " + line + ": " + answer);
        }
        return answer;
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException e) {
            // gone already
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        try {
            Files.deleteIfExists(link);
            Files.deleteIfExists(link.getParent());
        } catch (IOException e) {
            // a temp directory
        }
    }

    // ---- the peer process --------------------------------------------------------------------

    public static void main(String[] args) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        System.out.println("ready");
        System.out.flush();
        DatagramChannel held = null;
        ServerSocketChannel listener = null;
        String line;
        while ((line = r.readLine()) != null) {
            String[] a = line.split(" ");
            String answer;
            try {
                switch (a[0]) {
                    case "udp" -> {
                        try (DatagramChannel c = udp(a[1])) {
                            exchange(c, a, 2);
                        }
                        answer = "ok";
                    }
                    case "hold" -> {
                        held = udp(a[1]);
                        answer = "ok";
                    }
                    case "held" -> {
                        exchange(held, a, 1);
                        answer = "ok";
                    }
                    case "listen" -> {
                        listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getByName(a[1]), 0));
                        answer = Integer.toString(((InetSocketAddress) listener.getLocalAddress()).getPort());
                    }
                    case "accept" -> {
                        long n = 0;
                        try (SocketChannel c = listener.accept()) {
                            ByteBuffer b = ByteBuffer.allocate(65536);
                            int k;
                            while ((k = c.read(b.clear())) >= 0) {
                                n += k;
                            }
                        }
                        answer = "ok " + n;
                    }
                    case "connect" -> {
                        try (SocketChannel c = SocketChannel.open(new InetSocketAddress(InetAddress.getByName(a[1]), Integer.parseInt(a[2])))) {
                            ByteBuffer b = ByteBuffer.allocate(Integer.parseInt(a[3]));
                            while (b.hasRemaining()) {
                                c.write(b);
                            }
                            c.shutdownOutput();
                            while (c.read(ByteBuffer.allocate(4096)) >= 0) {
                                // to the peer's close
                            }
                        }
                        answer = "ok";
                    }
                    default -> answer = "error unknown command";
                }
            } catch (IOException | RuntimeException e) {
                answer = "error " + e;
            }
            System.out.println(answer);
            System.out.flush();
        }
    }

    private static DatagramChannel udp(String bind) throws IOException {
        InetAddress addr = InetAddress.getByName(bind);
        return DatagramChannel.open(addr instanceof java.net.Inet6Address ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET)
                .bind(new InetSocketAddress(addr, 0));
    }

    /** a[from..]: DST PORT N SIZE REPLY. */
    private static void exchange(DatagramChannel c, String[] a, int from) throws IOException {
        InetSocketAddress dst = new InetSocketAddress(InetAddress.getByName(a[from]), Integer.parseInt(a[from + 1]));
        int n = Integer.parseInt(a[from + 2]);
        int size = Integer.parseInt(a[from + 3]);
        int reply = Integer.parseInt(a[from + 4]);
        java.net.DatagramSocket s = c.socket();
        s.setSoTimeout(5000);
        for (int i = 0; i < n; i++) {
            s.send(new java.net.DatagramPacket(new byte[size], size, dst));
            java.net.DatagramPacket got = new java.net.DatagramPacket(new byte[65536], 65536);
            s.receive(got); // SocketTimeoutException after 5 s
            if (got.getLength() != reply) {
                throw new IOException("reply of " + got.getLength() + " bytes, not " + reply);
            }
        }
    }
}
