package dev.ebpftraffic.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A plain HTTP/1.0 GET from inside a namespace that returns any status, for API tests. */
public final class HttpGet {
    /** Status line code, head and body. */
    public record Response(int status, String head, String body) {
    }

    private HttpGet() {
    }

    public static Response get(String ns, String host, int port, String pathAndQuery) {
        return Setns.call(ns, () -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 2000);
                s.setSoTimeout(10_000);
                OutputStream out = s.getOutputStream();
                out.write(("GET " + pathAndQuery + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String resp = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                int end = resp.indexOf("\r\n\r\n");
                if (end < 0) {
                    throw new IOException("incomplete HTTP response: " + resp);
                }
                String head = resp.substring(0, end);
                return new Response(Integer.parseInt(head.split(" ")[1]), head, resp.substring(end + 4));
            }
        });
    }
}
