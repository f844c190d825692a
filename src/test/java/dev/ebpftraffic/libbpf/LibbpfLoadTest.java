package dev.ebpftraffic.libbpf;

import dev.ebpftraffic.testing.Cmd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** --libbpf-path naming something that is not a library file: refused before dlopen could block on it. */
class LibbpfLoadTest {
    @Test
    @Timeout(value = 20, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // dlopen of a FIFO blocked for ever
    void aFifoOrADeviceIsRefused(@TempDir Path dir) {
        Path fifo = dir.resolve("libbpf.so.1");
        Cmd.run("mkfifo", fifo.toString()).ok();
        for (Path p : new Path[]{fifo, Path.of("/dev/zero"), dir}) {
            LibbpfException e = assertThrows(LibbpfException.class, () -> Libbpf.load(p.toString()));
            assertEquals("invalid --libbpf-path " + p + ": it is not a regular file; give the path of libbpf.so.1, "
                    + "or leave the flag out", e.getMessage());
        }
    }
}
