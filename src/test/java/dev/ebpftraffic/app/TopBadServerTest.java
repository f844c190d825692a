package dev.ebpftraffic.app;

import dev.ebpftraffic.live.Query;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `top --from` against a hostile server on 127.0.0.1 (a raw socket that answers each request its
 * own way): deep JSON, a 600 MB body, a body that trickles, an error page with escape sequences.
 * Each ends in a one-line IOException, soon, without exhausting the stack or the heap.
 */
@Timeout(60)
class TopBadServerTest {
    interface Answer {
        void write(OutputStream out) throws IOException, InterruptedException;
    }

    /** Serves one answer to every connection until closed. */
    static final class BadServer implements AutoCloseable {
        final ServerSocket socket;

        BadServer(Answer answer) throws IOException {
            socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try {
                        Socket c = socket.accept();
                        Thread.ofVirtual().start(() -> {
                            try (c) {
                                InputStream in = c.getInputStream();
                                byte[] buf = new byte[8192];
                                int n = 0;
                                while (n < 4 || !new String(buf, 0, n, StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
                                    int r = in.read(buf, n, buf.length - n);
                                    if (r < 0) {
                                        return;
                                    }
                                    n += r;
                                }
                                answer.write(c.getOutputStream());
                            } catch (IOException | InterruptedException e) {
                                // the client went away
                            }
                        });
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        String url() {
            return "http://127.0.0.1:" + socket.getLocalPort() + "/";
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    static void head(OutputStream out, int status, long length) throws IOException {
        out.write(("HTTP/1.1 " + status + " X\r\nContent-Type: application/json\r\n"
                + (length >= 0 ? "Content-Length: " + length + "\r\n" : "") + "Connection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
    }

    static IOException fetchFails(Answer answer) throws Exception {
        try (BadServer s = new BadServer(answer)) {
            Top.HttpSource src = new Top.HttpSource(s.url(), false, null);
            return assertThrows(IOException.class, () -> src.fetch(Query.defaults()));
        }
    }

    @Test
    void deepJsonIsRefusedWithoutAStackOverflow() throws Exception {
        byte[] deep = ("[".repeat(200_000) + "]".repeat(200_000)).getBytes(StandardCharsets.US_ASCII);
        IOException e = fetchFails(out -> {
            head(out, 200, deep.length);
            out.write(deep);
        });
        assertTrue(e.getMessage().endsWith("did not answer with the live view's JSON: bad JSON at offset 32: nested deeper "
                + "than 32 levels"), e.getMessage());
    }

    @Test
    void a600MegabyteBodyIsCutOffAt16MiB() throws Exception {
        long before = usedHeap();
        IOException e = fetchFails(out -> {
            head(out, 200, 600L << 20);
            byte[] chunk = new byte[1 << 20];
            java.util.Arrays.fill(chunk, (byte) ' ');
            for (int i = 0; i < 600; i++) {
                out.write(chunk);
            }
        });
        assertTrue(e.getMessage().endsWith(": the answer is larger than 16 MiB; is this the exporter's address?"), e.getMessage());
        assertTrue(usedHeap() - before < 200L << 20, "heap grew by " + ((usedHeap() - before) >> 20) + " MiB");
    }

    @Test
    void aTricklingBodyGivesUpAfterFiveSeconds() throws Exception {
        long t0 = System.nanoTime();
        IOException e = fetchFails(out -> {
            head(out, 200, 1 << 20);
            for (int i = 0; i < 600; i++) {
                out.write(' ');
                out.flush();
                Thread.sleep(100);
            }
        });
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(e.getMessage().endsWith(": no complete answer within 5 s"), e.getMessage());
        assertTrue(ms >= 4500 && ms < 8000, "gave up after " + ms + " ms");
    }

    @Test
    void anErrorPageWithEscapeSequencesIsShownEscaped() throws Exception {
        byte[] body = "\033]0;PWN\007\033[31mred".getBytes(StandardCharsets.UTF_8);
        IOException e = fetchFails(out -> {
            head(out, 500, body.length);
            out.write(body);
        });
        TopScreen.View v = new TopScreen.View(Query.defaults(), "from x", null, "cannot read: " + e.getMessage());
        List<String> screen = TopScreen.render(null, v, 200, 10);
        String all = String.join("\n", screen);
        assertTrue(all.contains("answered 500: \\x1b]0;PWN\\x07\\x1b[31mred"), all);
        assertEquals(1, all.chars().filter(c -> c == 0x1b).count() / 2, "only the title's bold and reset:\n" + all);
    }

    private static long usedHeap() {
        System.gc();
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }
}
