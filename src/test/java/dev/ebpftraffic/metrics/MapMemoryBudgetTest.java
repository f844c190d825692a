package dev.ebpftraffic.metrics;

import dev.ebpftraffic.bpf.BpfFlowReader;
import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.bpf.WorkloadAttachment;
import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Kernel memory of all the maps, loaded as the exporter loads them with its defaults (--map-size,
 * --workloads auto, proc_scanned sized from this host's sockets, the "stats" keys for lost packets
 * created): each map's fdinfo memlock equals README "Kernel memory"'s formula at this host's possible
 * CPUs, and by the same formulas all of them together stay within 16 MB at 128 possible CPUs.
 */
@KernelTest
class MapMemoryBudgetTest {
    static final long BUDGET_AT_128 = 16_000_000;
    /** Entries "stats" holds right after load: the StatKey.LOST_IFINDEX keys (4 stats x 2 directions). */
    static final int STATS_LOST_KEYS = 8;

    private static long pow2(long n) {
        return Long.highestOneBit(n - 1) << 1;
    }

    /** struct bpf_array and its per-element pointers, then the values (per possible CPU for a per-CPU array). */
    private static long array(int entries, long valueSize, boolean perCpu, int c) {
        return 312 + 8L * entries + (perCpu ? entries * valueSize * c : 0);
    }

    /** A hash's fixed part: struct bpf_htab, 16-byte buckets, the per-CPU lock counters. */
    private static long htab(int maxEntries, int c) {
        return 896 + 16 * pow2(maxEntries) + 32L * c;
    }

    /**
     * README "Kernel memory", per map, at c possible CPUs; n: --map-size, scanned: max_entries of
     * proc_scanned, statsEntries: entries in "stats" (not preallocated). The not preallocated
     * per-workload and per-process maps are empty here.
     */
    static Map<String, Long> formula(int n, int scanned, long statsEntries, int c) {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("flows4", 16 * pow2(n) + 88L * n + 128L * c + 896);
        m.put("flows6", 16 * pow2(n) + 112L * n + 152L * c + 896);
        m.put("stats", htab(4096, c) + statsEntries * (88 + 16L * c));
        m.put("overflow", array(64, 72, true, c));
        m.put("epoch", array(1, 8, false, c));
        m.put("flows_full", array(2, 8, false, c));
        m.put("ip_groups", 0L);
        m.put("hot4", array(64, 32, true, c));
        m.put("hot6", array(64, 64, true, c));
        m.put("workloads", htab(16384, c));
        m.put("workload_overflow", array(4, 16, true, c));
        m.put("wl_peers", htab(8192, c));
        m.put("wl_peers_on", array(1, 8, false, c));
        m.put("wl_peers_full", array(4, 16, true, c));
        m.put("proc_sk", 480 + 16L * c);
        m.put("proc_overflow", array(2, 16, true, c));
        m.put("procs", htab(16384, c));
        m.put("proc_scanned", htab(scanned, c));
        m.put("proc_comms", htab(4096, c) + 72L * 4096); // LRU, preallocated
        return m;
    }

    static long total(Map<String, Long> m) {
        return m.values().stream().mapToLong(Long::longValue).sum();
    }

    @Test
    void everyMapAtTheDefaultsMatchesTheFormulaAndAllFitIn16MbAt128Cpus() throws IOException {
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        int cpus = lib.numPossibleCpus();
        long sockets = WorkloadAttachment.inetSockets(Path.of("/proc/slabinfo"));
        assertTrue(sockets > 0, "no inet sockets in /proc/slabinfo");
        int scanned = WorkloadAttachment.scanEntries(sockets);
        try (BpfObject obj = BpfObject.openEmbedded(lib)) {
            obj.setMaxEntries(BpfObject.MAP_FLOWS4, Options.DEFAULT_MAP_SIZE);
            obj.setMaxEntries(BpfObject.MAP_FLOWS6, Options.DEFAULT_MAP_SIZE);
            obj.setMaxEntries(BpfObject.MAP_PROC_SCANNED, scanned);
            obj.load();
            try (BpfFlowReader reader = BpfFlowReader.of(obj)) { // creates the lost-packet keys of "stats"
                Map<String, Long> measured = obj.mapMemory();
                Map<String, Long> here = formula(Options.DEFAULT_MAP_SIZE, scanned, STATS_LOST_KEYS, cpus);
                System.out.println("[map memory] " + cpus + " possible CPUs, " + sockets + " inet sockets, proc_scanned "
                        + scanned + ": measured " + measured + ", all " + total(measured));
                assertEquals(here, measured, "fdinfo memlock per map against README \"Kernel memory\"");
                for (String map : measured.keySet()) { // the same figures as the kernel's own tool prints
                    assertEquals(measured.get(map), bpftoolMemlock(obj.mapFd(map)), "bpftool map show: " + map);
                }
                for (int c : new int[] {2, 64, 128, 256}) {
                    System.out.println("[map memory] by the formula at " + c + " CPUs: "
                            + total(formula(Options.DEFAULT_MAP_SIZE, scanned, STATS_LOST_KEYS, c)));
                }
                long at128 = total(formula(Options.DEFAULT_MAP_SIZE, scanned, STATS_LOST_KEYS, 128));
                assertTrue(at128 <= BUDGET_AT_128, "all maps at 128 possible CPUs: " + at128 + " bytes");
            }
        }
    }

    /** memlock of the map as `bpftool map show id` prints it (the map id from our fd's fdinfo). */
    private static long bpftoolMemlock(int fd) throws IOException {
        String id = Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd)).stream().filter(l -> l.startsWith("map_id:"))
                .map(l -> l.substring(7).trim()).findFirst().orElseThrow();
        try {
            Process p = new ProcessBuilder("bpftool", "map", "show", "id", id).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), out);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("memlock (\\d+)B").matcher(out);
            assertTrue(m.find(), out);
            return Long.parseLong(m.group(1));
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
    }
}
