package dev.ebpftraffic.bpf;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The names BpfObject uses exist in the compiled object (opened only, nothing loaded: no root needed). */
class BpfNamesTest {

    @Test
    void namesExistInTheObject() {
        try (BpfObject obj = BpfObject.openEmbedded(Libbpf.load(Libbpf.DEFAULT_PATH))) {
            assertTrue(obj.hasMap(BpfObject.MAP_FLOWS4), BpfObject.MAP_FLOWS4);
            assertTrue(obj.hasMap(BpfObject.MAP_FLOWS6), BpfObject.MAP_FLOWS6);
            assertTrue(obj.hasMap(BpfObject.MAP_STATS), BpfObject.MAP_STATS);
            assertTrue(obj.hasMap(BpfObject.MAP_IP_GROUPS), BpfObject.MAP_IP_GROUPS);
            assertTrue(obj.hasMap(BpfObject.MAP_EPOCH), BpfObject.MAP_EPOCH);
            assertTrue(obj.hasMap(BpfObject.MAP_FLOWS_FULL), BpfObject.MAP_FLOWS_FULL);
            assertTrue(obj.hasMap(BpfObject.MAP_OVERFLOW), BpfObject.MAP_OVERFLOW);
            for (String m : BpfObject.MAPS) {
                assertTrue(obj.hasMap(m), m);
            }
            assertTrue(obj.hasMap(BpfObject.MAP_WORKLOADS), BpfObject.MAP_WORKLOADS);
            assertTrue(obj.hasMap(BpfObject.MAP_WORKLOAD_OVERFLOW), BpfObject.MAP_WORKLOAD_OVERFLOW);
            for (String m : java.util.List.of(BpfObject.MAP_WL_PEERS, BpfObject.MAP_WL_PEERS_ON, BpfObject.MAP_WL_PEERS_FULL)) {
                assertTrue(obj.hasMap(m), m);
            }
            for (String m : java.util.List.of(BpfObject.MAP_PROCS, BpfObject.MAP_PROC_OVERFLOW, BpfObject.MAP_PROC_COMMS)) {
                assertTrue(obj.hasMap(m), m);
            }
            for (String p : java.util.List.of(BpfObject.PROG_PROC_INGRESS, BpfObject.PROG_PROC_EGRESS,
                    BpfObject.PROG_PROC_SOCK_CREATE, BpfObject.PROG_PROC_SCAN)) {
                assertTrue(obj.hasProgram(p), p);
            }
            assertTrue(obj.hasProgram(BpfObject.PROG_CGROUP_INGRESS), BpfObject.PROG_CGROUP_INGRESS);
            assertTrue(obj.hasProgram(BpfObject.PROG_CGROUP_EGRESS), BpfObject.PROG_CGROUP_EGRESS);
            assertTrue(obj.hasProgram(BpfObject.PROG_INGRESS), BpfObject.PROG_INGRESS);
            assertTrue(obj.hasProgram(BpfObject.PROG_EGRESS), BpfObject.PROG_EGRESS);
            assertTrue(obj.hasProgram(BpfObject.PROG_INGRESS_L3), BpfObject.PROG_INGRESS_L3);
            assertTrue(obj.hasProgram(BpfObject.PROG_EGRESS_L3), BpfObject.PROG_EGRESS_L3);

            assertFalse(obj.hasMap("no_such_map"));
            assertFalse(obj.hasProgram("no_such_prog"));
            // A map name is not a program name and the other way round.
            assertFalse(obj.hasProgram(BpfObject.MAP_FLOWS4));
            assertFalse(obj.hasMap(BpfObject.PROG_INGRESS));
            // Near misses.
            assertFalse(obj.hasMap("flows"));
            assertFalse(obj.hasProgram("tc_ingres"));

            // Sizes from bpf/traffic.h (FLOWS_DEFAULT_ENTRIES, STATS_ENTRIES), readable before load.
            assertEquals(dev.ebpftraffic.cli.Options.DEFAULT_MAP_SIZE, obj.maxEntries(BpfObject.MAP_FLOWS4), "FLOWS_DEFAULT_ENTRIES is --map-size's default");
            assertEquals(dev.ebpftraffic.cli.Options.DEFAULT_MAP_SIZE, obj.maxEntries(BpfObject.MAP_FLOWS6));
            assertEquals(4096, obj.maxEntries(BpfObject.MAP_STATS));
            assertEquals(1, obj.maxEntries(BpfObject.MAP_IP_GROUPS)); // IP_GROUPS_DEFAULT_ENTRIES
            assertEquals(1, obj.maxEntries(BpfObject.MAP_EPOCH));
            assertEquals(2, obj.maxEntries(BpfObject.MAP_FLOWS_FULL));
            assertEquals(OverflowSlot.SLOTS, obj.maxEntries(BpfObject.MAP_OVERFLOW)); // OVERFLOW_SLOTS
            assertEquals(2 * HotSlots.SLOTS, obj.maxEntries(BpfObject.MAP_HOT4)); // HOT_SLOTS per epoch parity
            assertEquals(2 * HotSlots.SLOTS, obj.maxEntries(BpfObject.MAP_HOT6));
            obj.setMaxEntries(BpfObject.MAP_FLOWS4, 1000);
            assertEquals(1000, obj.maxEntries(BpfObject.MAP_FLOWS4));
            assertEquals(dev.ebpftraffic.cli.Options.DEFAULT_MAP_SIZE, obj.maxEntries(BpfObject.MAP_FLOWS6));

            LibbpfException e = assertThrows(LibbpfException.class, () -> obj.maxEntries("no_such_map"));
            assertEquals("the BPF object has no map named no_such_map", e.getMessage());
            // Fds need a loaded object.
            assertThrows(IllegalStateException.class, () -> obj.mapFd(BpfObject.MAP_FLOWS4));
            assertThrows(IllegalStateException.class, () -> obj.programFd(BpfObject.PROG_INGRESS));
        }
    }
}
