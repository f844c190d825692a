package dev.ebpftraffic.bpf;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The split load (BpfObject.openEmbeddedSplit): the first load leaves the kernel's BTF alone, and the
 * CO-RE programs loaded afterwards write into the first object's maps. Whether libbpf parsed the
 * kernel's BTF is read from its own debug log ("loading kernel BTF '/sys/kernel/btf/vmlinux'").
 */
@KernelTest
class SplitLoadKernelTest {
    private static final String KERNEL_BTF = "kernel BTF";

    /** libbpf's log while run runs, every level. */
    private static List<String> logOf(Libbpf lib, Runnable run) {
        List<String> lines = new ArrayList<>();
        lib.setPrint(new Libbpf.PrintSink() {
            @Override
            public boolean enabled(int level) {
                return true;
            }

            @Override
            public synchronized void print(int level, String line) {
                lines.add(line);
            }
        });
        try {
            run.run();
        } finally {
            lib.setPrint(new Libbpf.PrintSink() {
                @Override
                public boolean enabled(int level) {
                    return false;
                }

                @Override
                public void print(int level, String line) {
                }
            });
        }
        return lines;
    }

    private static boolean readsKernelBtf(List<String> log) {
        return log.stream().anyMatch(l -> l.contains(KERNEL_BTF));
    }

    @Test
    void theFirstLoadLeavesTheKernelsBtfToTheCorePrograms() {
        Libbpf lib = ProgTestRun.lib();
        // The probe: a whole load does parse it (the object has CO-RE relocations).
        try (BpfObject whole = BpfObject.openEmbedded(lib)) {
            assertTrue(readsKernelBtf(logOf(lib, whole::load)), "a whole load did not log reading the kernel's BTF");
        }
        try (BpfObject obj = BpfObject.openEmbeddedSplit(lib)) {
            List<String> first = logOf(lib, obj::load);
            assertFalse(readsKernelBtf(first), "the first load read the kernel's BTF: " + first);
            assertTrue(obj.programFd(BpfObject.PROG_INGRESS) > 0);
            assertTrue(obj.programFd(BpfObject.PROG_PROC_INGRESS) > 0);
            assertThrows(IllegalStateException.class, () -> obj.programFd(BpfObject.PROG_PROC_SCAN));
            List<String> core = logOf(lib, obj::loadCore);
            assertTrue(readsKernelBtf(core), "loadCore did not read the kernel's BTF: " + core);
            assertTrue(obj.programFd(BpfObject.PROG_PROC_SCAN) > 0);
            assertTrue(obj.programFd(BpfObject.PROG_PROC_SOCK_CREATE) > 0);
            int fd = obj.programFd(BpfObject.PROG_PROC_SCAN);
            obj.loadCore(); // twice: nothing new
            assertEquals(fd, obj.programFd(BpfObject.PROG_PROC_SCAN));
        }
    }

    @Test
    void theCoreProgramsWriteTheFirstObjectsMaps() throws IOException {
        Libbpf lib = ProgTestRun.lib();
        List<DatagramChannel> held = new ArrayList<>();
        try (BpfObject obj = BpfObject.openEmbeddedSplit(lib)) {
            obj.load();
            obj.loadCore();
            for (int i = 0; i < 3; i++) {
                held.add(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
            }
            long[] missed = {0};
            assertEquals(null, WorkloadAttachment.scan(lib, obj.programFd(BpfObject.PROG_PROC_SCAN), missed));
            assertEquals(0, missed[0]);
            // The scan ran in the second object; what it stored is in the first one's "proc_scanned".
            long ours = ProcScanSizeTest.scanned(lib, obj.mapFd(BpfObject.MAP_PROC_SCANNED))[1];
            assertTrue(ours >= 3, "this process's sockets in proc_scanned: " + ours);
        } finally {
            for (DatagramChannel c : held) {
                c.close();
            }
        }
    }
}
