package dev.ebpftraffic.metrics;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A growable byte buffer for Prometheus text lines: ASCII numbers without boxing or
 * Double.toString, flushed to the stream in large chunks.
 */
final class TextLines {
    private final OutputStream out;
    private byte[] buf = new byte[64 * 1024];
    private int len;

    TextLines(OutputStream out) {
        this.out = out;
    }

    TextLines bytes(byte[] b) {
        ensure(b.length);
        System.arraycopy(b, 0, buf, len, b.length);
        len += b.length;
        return this;
    }

    TextLines ascii(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    TextLines ch(char c) {
        ensure(1);
        buf[len++] = (byte) c;
        return this;
    }

    /** A non-negative counter value as an integer: exact beyond 2^53, unlike a double. */
    TextLines number(long v) {
        ensure(20);
        if (v == 0) {
            buf[len++] = '0';
            return this;
        }
        if (v < 0) { // not expected for counters; keep the text valid anyway
            buf[len++] = '-';
            v = -v;
        }
        int start = len;
        while (v > 0) {
            buf[len++] = (byte) ('0' + v % 10);
            v /= 10;
        }
        for (int i = start, j = len - 1; i < j; i++, j--) {
            byte t = buf[i];
            buf[i] = buf[j];
            buf[j] = t;
        }
        return this;
    }

    private void ensure(int n) {
        if (len + n <= buf.length) {
            return;
        }
        if (n <= buf.length) {
            flushBuffer();
            return;
        }
        byte[] bigger = new byte[Math.max(buf.length * 2, len + n)];
        System.arraycopy(buf, 0, bigger, 0, len);
        buf = bigger;
    }

    private void flushBuffer() {
        try {
            out.write(buf, 0, len);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        len = 0;
    }

    void flush() throws IOException {
        out.write(buf, 0, len);
        len = 0;
        out.flush();
    }

    /** Label value escaping of the text format: backslash, double quote, newline. */
    static String escape(String v) {
        if (v.indexOf('\\') < 0 && v.indexOf('"') < 0 && v.indexOf('\n') < 0) {
            return v;
        }
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
