package dev.ebpftraffic.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/** A parsed Prometheus text exposition (format 0.0.4), scraped over plain HTTP. */
public final class Metrics {
    /** One sample line. */
    public record Sample(String name, Map<String, String> labels, double value) {
        public String label(String key) {
            return labels.get(key);
        }

        @Override
        public String toString() {
            return name + labels + " " + value;
        }
    }

    private final String text;
    private final List<Sample> samples;

    private Metrics(String text, List<Sample> samples) {
        this.text = text;
        this.samples = samples;
    }

    /** GET http://host:port/metrics from inside namespace ns (HTTP/1.0, so no chunking). */
    public static Metrics scrape(String ns, String host, int port) {
        return parse(Setns.call(ns, () -> get(host, port, "/metrics")));
    }

    /** Returns the body of a 200 response; throws IOException on anything else. */
    public static String get(String host, int port, String path) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 2000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nAccept: text/plain\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            byte[] all = readAll(s.getInputStream());
            String resp = new String(all, StandardCharsets.UTF_8);
            int end = resp.indexOf("\r\n\r\n");
            if (end < 0) {
                throw new IOException("incomplete HTTP response: " + resp);
            }
            String head = resp.substring(0, end);
            String body = resp.substring(end + 4);
            if (!head.startsWith("HTTP/1.") || !head.split(" ")[1].equals("200")) {
                throw new IOException("HTTP error: " + head.lines().findFirst().orElse(head));
            }
            if (head.toLowerCase(Locale.ROOT).contains("transfer-encoding: chunked")) {
                body = dechunk(body);
            }
            return body;
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        in.transferTo(b);
        return b.toByteArray();
    }

    private static String dechunk(String s) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (true) {
            int eol = s.indexOf("\r\n", i);
            int len = Integer.parseInt(s.substring(i, eol).split(";")[0].trim(), 16);
            if (len == 0) {
                return out.toString();
            }
            out.append(s, eol + 2, eol + 2 + len); // ASCII body, so chars == bytes
            i = eol + 2 + len + 2;
        }
    }

    public static Metrics parse(String text) {
        List<Sample> samples = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            samples.add(parseLine(line));
        }
        return new Metrics(text, List.copyOf(samples));
    }

    private static Sample parseLine(String line) {
        int brace = line.indexOf('{');
        int space;
        String name;
        Map<String, String> labels = new LinkedHashMap<>();
        if (brace >= 0 && brace < line.indexOf(' ')) {
            name = line.substring(0, brace);
            int i = brace + 1;
            while (line.charAt(i) != '}') {
                int eq = line.indexOf('=', i);
                String key = line.substring(i, eq);
                if (line.charAt(eq + 1) != '"') {
                    throw new IllegalArgumentException("bad label in: " + line);
                }
                StringBuilder v = new StringBuilder();
                int j = eq + 2;
                for (; line.charAt(j) != '"'; j++) {
                    char c = line.charAt(j);
                    if (c == '\\') {
                        char n = line.charAt(++j);
                        v.append(n == 'n' ? '\n' : n);
                    } else {
                        v.append(c);
                    }
                }
                labels.put(key, v.toString());
                i = j + 1;
                if (line.charAt(i) == ',') {
                    i++;
                }
            }
            space = i + 1;
        } else {
            space = line.indexOf(' ');
            name = line.substring(0, space);
        }
        String[] rest = line.substring(space).trim().split("\\s+");
        return new Sample(name, Map.copyOf(labels), Double.parseDouble(rest[0]));
    }

    public String text() {
        return text;
    }

    public List<Sample> samples() {
        return samples;
    }

    public List<Sample> samples(String name) {
        return samples.stream().filter(s -> s.name().equals(name)).toList();
    }

    public List<Sample> samples(Predicate<Sample> filter) {
        return samples.stream().filter(filter).toList();
    }

    /** Sum of the values of the samples named name that pass filter, as a whole number. */
    public long sum(String name, Predicate<Sample> filter) {
        double total = 0;
        for (Sample s : samples) {
            if (s.name().equals(name) && filter.test(s)) {
                total += s.value();
            }
        }
        if (total != Math.rint(total) || total > 1L << 53) {
            throw new AssertionError("sum of " + name + " is not an exact whole number: " + total);
        }
        return (long) total;
    }

    public boolean has(String name) {
        return samples.stream().anyMatch(s -> s.name().equals(name));
    }

    @Override
    public String toString() {
        return text;
    }
}
