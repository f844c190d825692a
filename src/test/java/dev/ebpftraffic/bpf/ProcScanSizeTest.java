package dev.ebpftraffic.bpf;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * "proc_scanned" is sized from the host's inet sockets (its buckets are allocated at load), and a
 * socket the start-up scan cannot store is counted, not dropped silently.
 */
class ProcScanSizeTest {
    @Test
    void entriesAreTwiceTheSocketsWithinBounds() {
        assertEquals(WorkloadAttachment.SCAN_ENTRIES_MAX, WorkloadAttachment.scanEntries(-1)); // unknown: the most
        assertEquals(WorkloadAttachment.SCAN_ENTRIES_MIN, WorkloadAttachment.scanEntries(0));
        assertEquals(WorkloadAttachment.SCAN_ENTRIES_MIN, WorkloadAttachment.scanEntries(2048));
        assertEquals(10_000, WorkloadAttachment.scanEntries(5000));
        assertEquals(WorkloadAttachment.SCAN_ENTRIES_MAX, WorkloadAttachment.scanEntries(131_073));
        assertEquals(WorkloadAttachment.SCAN_ENTRIES_MAX, WorkloadAttachment.scanEntries(10_000_000));
    }

    @Test
    void socketsAreTheActiveObjectsOfTheInetSocketSlabs(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("slabinfo");
        Files.writeString(f, """
                slabinfo - version: 2.1
                # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
                RAWv6                 61    108   1344   12    4 : tunables    0    0    0 : slabdata      9      9      0
                UDPv6                 44     44   1472   22    8 : tunables    0    0    0 : slabdata      2      2      0
                TCPv6                 65    117   2496   13    8 : tunables    0    0    0 : slabdata      9      9      0
                tw_sock_TCP          112    176    256   16    1 : tunables    0    0    0 : slabdata     11     11      0
                request_sock_TCP     120    120    320   12    1 : tunables    0    0    0 : slabdata     10     10      0
                TCP                   26     26   2368   13    8 : tunables    0    0    0 : slabdata      2      2      0
                UDP                   84    108   1344   12    4 : tunables    0    0    0 : slabdata      9      9      0
                PING                  32     32   1024   16    4 : tunables    0    0    0 : slabdata      2      2      0
                kmalloc-64          4000   4000     64   64    1 : tunables    0    0    0 : slabdata     63     63      0
                """);
        assertEquals(61 + 44 + 65 + 26 + 84 + 32, WorkloadAttachment.inetSockets(f));
        assertEquals(-1, WorkloadAttachment.inetSockets(dir.resolve("missing")));
    }

    /** Entries of a "proc_scanned" map (fd): {all of them, those of this process}. */
    static long[] scanned(Libbpf lib, int fd) {
        long pid = ProcessHandle.current().pid();
        long[] n = {0, 0};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment key = arena.allocate(JAVA_LONG);
            MemorySegment next = arena.allocate(JAVA_LONG);
            MemorySegment value = arena.allocate(8, 8); // struct proc_scan
            MemorySegment prev = MemorySegment.NULL;
            while (lib.mapGetNextKey(fd, prev, next) == 0) {
                n[0]++;
                assertEquals(0, lib.mapLookupElem(fd, next, value));
                if (value.get(JAVA_INT, 0) == pid) {
                    n[1]++;
                }
                key.copyFrom(next);
                prev = key;
            }
        }
        return n;
    }

    /** Loads the object with "proc_scanned" of that size, holds 3 UDP sockets, runs the scan once. */
    private static void scanWith(int scannedEntries, long[] missed, long[] stored, long[] ours) throws IOException {
        Libbpf lib = ProgTestRun.lib();
        List<DatagramChannel> held = new ArrayList<>();
        try (BpfObject obj = BpfObject.openEmbedded(lib)) {
            obj.setMaxEntries(BpfObject.MAP_PROC_SCANNED, scannedEntries);
            obj.load();
            for (int i = 0; i < 3; i++) {
                held.add(DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0)));
            }
            String err = WorkloadAttachment.scan(lib, obj.programFd(BpfObject.PROG_PROC_SCAN), missed);
            assertEquals(null, err);
            long[] s = scanned(lib, obj.mapFd(BpfObject.MAP_PROC_SCANNED));
            stored[0] = s[0];
            ours[0] = s[1];
        } finally {
            for (DatagramChannel c : held) {
                c.close();
            }
        }
    }

    @Test
    @KernelTest
    void aScanThatDoesNotFitCountsWhatItCouldNotStore() throws IOException {
        long[] missed = {0}, stored = {0}, ours = {0};
        scanWith(1, missed, stored, ours);
        assertEquals(1, stored[0]);
        // This process alone holds at least 3 inet sockets: all but the one stored are counted.
        assertTrue(missed[0] >= 2, "missed " + missed[0]);
    }

    @Test
    @KernelTest
    void aScanSizedFromTheHostsSocketsStoresThemAll() throws IOException {
        long sockets = WorkloadAttachment.inetSockets(Path.of("/proc/slabinfo"));
        assertTrue(sockets > 0, "no inet sockets in /proc/slabinfo");
        long[] missed = {0}, stored = {0}, ours = {0};
        scanWith(WorkloadAttachment.scanEntries(sockets), missed, stored, ours);
        assertEquals(0, missed[0]);
        assertTrue(ours[0] >= 3, "this process's sockets stored: " + ours[0]);
        // The slab count bounds what the scan finds (sockets come and go meanwhile: the larger count, and some slack).
        long after = Math.max(sockets, WorkloadAttachment.inetSockets(Path.of("/proc/slabinfo")));
        assertTrue(stored[0] <= after + 64, stored[0] + " sockets found, " + after + " counted in /proc/slabinfo");
    }
}
