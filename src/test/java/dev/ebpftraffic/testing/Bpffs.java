package dev.ebpftraffic.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A bpffs mount of the test's own under /tmp: unmounting it drops whatever stayed pinned. */
public final class Bpffs implements AutoCloseable {
    public final Path mount;

    public Bpffs() {
        try {
            mount = Files.createTempDirectory("ete-test-bpffs-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Cmd.run("mount", "-t", "bpf", "bpf", mount.toString()).ok();
    }

    @Override
    public void close() {
        Cmd.run("umount", mount.toString());
        try {
            Files.deleteIfExists(mount);
        } catch (IOException ignored) {
            // left in /tmp: an empty directory
        }
    }
}
