package dev.ebpftraffic.web;

import java.io.IOException;
import java.io.OutputStream;
import java.util.function.Predicate;

/**
 * Metric families the server renders itself, in the Prometheus text format or OpenMetrics,
 * because the client library's snapshots are too slow for them at 100k series. The client
 * renders every other family after them, and any other format (protobuf) in full.
 */
public interface StreamingFamilies {
    /** Whether this name (with or without _total) is one of the streamed families. */
    boolean owns(String name);

    /** Writes the streamed families; OpenMetrics without the final "# EOF". */
    void write(OutputStream out, boolean openMetrics) throws IOException;

    /** The writing half, for {@link #of}. */
    @FunctionalInterface
    interface Writer {
        void write(OutputStream out, boolean openMetrics) throws IOException;
    }

    static StreamingFamilies of(Predicate<String> owns, Writer writer) {
        return new StreamingFamilies() {
            @Override
            public boolean owns(String name) {
                return owns.test(name);
            }

            @Override
            public void write(OutputStream out, boolean openMetrics) throws IOException {
                writer.write(out, openMetrics);
            }
        };
    }
}
