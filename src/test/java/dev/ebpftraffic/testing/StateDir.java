package dev.ebpftraffic.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A temporary directory for one --state.file ({@link #file}); closing removes it with its lock and temp files. */
public final class StateDir implements AutoCloseable {
    public final Path dir;
    /** The --state.file path (not created: the exporter writes it). */
    public final Path file;

    public StateDir() {
        try {
            dir = Files.createTempDirectory("ete-test-state-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        file = dir.resolve("state");
    }

    @Override
    public void close() throws IOException {
        // Flat: the state file, its lock and temp files.
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }
}
