import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A steady UDP load for the Prometheus end-to-end test, run with the JDK's source launcher inside
 * a network namespace:
 *
 *   java UdpLoad.java BIND_IP PORT DEST_IP PPS PAYLOAD SECONDS START_FILE
 *
 * Drains whatever arrives on BIND_IP:PORT (so the peer never answers with ICMP errors), prints
 * "bound", and once START_FILE exists sends PPS datagrams of PAYLOAD bytes per second to
 * DEST_IP:PORT for SECONDS seconds on a fixed schedule (a late packet does not delay the later
 * ones). Prints "sent N in T ms", then, 1.5 s later, "received M".
 */
public class UdpLoad {
    public static void main(String[] a) throws Exception {
        String bind = a[0];
        int port = Integer.parseInt(a[1]);
        String dest = a[2];
        int pps = Integer.parseInt(a[3]);
        int payload = Integer.parseInt(a[4]);
        int seconds = Integer.parseInt(a[5]);
        java.nio.file.Path startFile = java.nio.file.Path.of(a[6]);

        AtomicLong received = new AtomicLong();
        DatagramChannel sink = DatagramChannel.open().bind(new InetSocketAddress(bind, port));
        Thread t = new Thread(() -> {
            ByteBuffer b = ByteBuffer.allocate(65536);
            try {
                while (true) {
                    b.clear();
                    sink.receive(b);
                    received.incrementAndGet();
                }
            } catch (Exception e) {
                // closed
            }
        });
        t.setDaemon(true);
        t.start();
        System.out.println("bound");
        System.out.flush();

        DatagramChannel out = DatagramChannel.open().bind(new InetSocketAddress(bind, 0));
        out.connect(new InetSocketAddress(dest, port));
        ByteBuffer buf = ByteBuffer.allocate(payload);
        long total = (long) pps * seconds;
        while (!java.nio.file.Files.exists(startFile)) {
            Thread.sleep(2);
        }
        long t0 = System.nanoTime();
        for (long i = 0; i < total; i++) {
            long due = t0 + i * 1_000_000_000L / pps;
            long now;
            while ((now = System.nanoTime()) < due) {
                LockSupport.parkNanos(Math.min(due - now, 500_000));
            }
            buf.clear();
            out.write(buf);
        }
        long elapsed = System.nanoTime() - t0;
        System.out.println("sent " + total + " in " + elapsed / 1_000_000 + " ms");
        Thread.sleep(1500);
        System.out.println("received " + received.get());
        sink.close();
        out.close();
    }
}
