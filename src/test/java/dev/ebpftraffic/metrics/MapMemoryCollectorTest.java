package dev.ebpftraffic.metrics;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.testing.KernelTest;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ebpf_traffic_exporter_bpf_map_memory_bytes{map}: every map of the loaded object, its fdinfo memlock,
 * and the flows maps grow with --map-size as README "Kernel memory" says (shared hashes: no CPU term per entry).
 */
@KernelTest
class MapMemoryCollectorTest {
    private static Map<String, Double> collect(BpfObject obj) {
        MetricSnapshots s = new MapMemoryCollector(obj::mapMemory).collect();
        assertEquals(1, s.size());
        MetricSnapshot m = s.get(0);
        assertEquals("ebpf_traffic_exporter_bpf_map_memory_bytes", m.getMetadata().getPrometheusName());
        Map<String, Double> out = new TreeMap<>();
        for (GaugeSnapshot.GaugeDataPointSnapshot d : ((GaugeSnapshot) m).getDataPoints()) {
            out.put(d.getLabels().get("map"), d.getValue());
        }
        return out;
    }

    private static BpfObject load(Libbpf lib, int mapSize) {
        BpfObject obj = BpfObject.openEmbedded(lib);
        obj.setMaxEntries(BpfObject.MAP_FLOWS4, mapSize);
        obj.setMaxEntries(BpfObject.MAP_FLOWS6, mapSize);
        obj.load();
        return obj;
    }

    private static long memlock(int fd) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd)).stream().filter(l -> l.startsWith("memlock:"))
                .mapToLong(l -> Long.parseLong(l.substring(8).trim())).findFirst().orElseThrow();
    }

    /** vlen of the DATASEC '.maps' in the BTF of the object the build embeds. */
    private static int mapsInObject() throws IOException {
        Path o = Path.of("target/classes/bpf/traffic.bpf.o");
        try {
            Process p = new ProcessBuilder("bpftool", "btf", "dump", "file", o.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), out);
            Matcher m = Pattern.compile("DATASEC '\\.maps' size=\\d+ vlen=(\\d+)").matcher(out);
            assertTrue(m.find(), out);
            return Integer.parseInt(m.group(1));
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
    }

    @Test
    void everyMapWithItsMemlockAndTheFlowsMapsGrowPerEntryWithoutACpuTerm() throws IOException {
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        try (BpfObject small = load(lib, 1000); BpfObject big = load(lib, 2000)) {
            Map<String, Double> a = collect(small);
            Map<String, Double> b = collect(big);
            // Every map the object defines (the ".maps" section of its BTF), none left out of the metric.
            assertEquals(mapsInObject(), a.size());
            System.out.println("[map memory] " + lib.numPossibleCpus() + " possible CPUs, --map-size 1000: " + a);
            assertEquals(new TreeSet<>(BpfObject.MAPS), a.keySet());
            for (String map : BpfObject.MAPS) {
                assertEquals((double) memlock(small.mapFd(map)), a.get(map), map);
            }
            assertTrue(a.get(BpfObject.MAP_FLOWS4) > 0);
            // 1000 -> 2000 entries: buckets 1024 -> 2048 (16 bytes each), elements 88 (IPv4) / 112 (IPv6) bytes.
            assertEquals(16.0 * 1024 + 88.0 * 1000, b.get(BpfObject.MAP_FLOWS4) - a.get(BpfObject.MAP_FLOWS4));
            assertEquals(16.0 * 1024 + 112.0 * 1000, b.get(BpfObject.MAP_FLOWS6) - a.get(BpfObject.MAP_FLOWS6));
            assertEquals(a.get(BpfObject.MAP_HOT4), b.get(BpfObject.MAP_HOT4));
            assertEquals(a.get(BpfObject.MAP_STATS), b.get(BpfObject.MAP_STATS));
            // The per-CPU workload and process hashes are not preallocated: empty, they hold their
            // buckets (16 bytes each, 16,384) and the struct, not 16 bytes per possible CPU per entry.
            int cpus = lib.numPossibleCpus();
            for (String map : List.of(BpfObject.MAP_WORKLOADS, BpfObject.MAP_PROCS)) {
                assertEquals(16.0 * 16384 + 896 + 32.0 * cpus, a.get(map), map);
            }
        }
    }
}
