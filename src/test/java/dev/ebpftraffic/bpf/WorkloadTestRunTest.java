package dev.ebpftraffic.bpf;

import dev.ebpftraffic.bpf.ProgTestRun.Skb;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.flow.WorkloadKey;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.ebpftraffic.testing.Frames.ethernet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cgroup_skb programs with BPF_PROG_TEST_RUN (the kernel gives the test skb a socket of this
 * process's cgroup, and hands the program the packet from its IP header): each frame shape is run
 * through the TC program and the cgroup_skb program of the same direction; the workload counters
 * must equal the per-IP ones, packets exactly and bytes less the 14-byte Ethernet header per packet
 * (GSO skbs, IP options, padding of short frames, IPv6). The remote address's class picks ip_type
 * (source inbound, destination outbound), and the reader's epoch drain hands every count out once.
 */
@KernelTest
class WorkloadTestRunTest {
    record Shape(String name, byte[] frame, Skb skb) {
    }

    static final List<Shape> SHAPES = List.of(
            new Shape("IPv4 UDP", ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 53).payload(100).build(), null),
            new Shape("IPv4 options, TCP", ethernet().ipv4("10.0.0.1", "8.8.8.8").ipv4Options(8).tcp(1, 443, 12).payload(70).build(), null),
            new Shape("IPv4 UDP padded to 60", Arrays.copyOf(ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 2).payload(2).build(), 60), null),
            // A test run takes at most a page of data: GSO skbs of 4 segments of 900 bytes.
            new Shape("IPv6 UDP", ethernet().ipv6("fd00::1", "2001:db8::1").udp(1, 2).payload(300).build(), null),
            new Shape("IPv4 TCP GSO 4 x 900", ethernet().ipv4("10.0.0.1", "8.8.8.8").tcp(1, 2, 12).payload(2800).build(), Skb.gso(4, 900)),
            new Shape("IPv6 TCP GSO, untrusted", ethernet().ipv6("fd00::1", "2001:db8::1").tcp(1, 2).payload(2500).build(), Skb.gso(0, 900)));

    @Test
    void sameRulesAsThePerIpFamilyLessTheEthernetHeader() throws IOException {
        long self = ownCgroupId();
        try (ProgTestRun t = ProgTestRun.load()) {
            for (Shape s : SHAPES) {
                for (Direction d : Direction.values()) {
                    t.run(d, s.frame(), s.skb());
                    var o = t.tryRun(d == Direction.INBOUND ? BpfObject.PROG_CGROUP_INGRESS : BpfObject.PROG_CGROUP_EGRESS,
                            s.frame(), s.skb(), 0, 0, 0);
                    assertEquals(0, o.err(), s.name());
                    assertEquals(1, o.retval(), "cgroup_skb verdict: let it pass, " + s.name());
                    long[] ip = new long[2];
                    t.flows().values().forEach(v -> {
                        ip[0] += v.packets();
                        ip[1] += v.bytes();
                    });
                    Map<WorkloadKey, FlowValue> w = workloads(t.reader());
                    // Outbound: the remote is the destination (public); inbound: the source (private).
                    WorkloadKey key = new WorkloadKey(self, d, d == Direction.INBOUND);
                    assertEquals(Map.of(key, new FlowValue(ip[0], ip[1] - 14 * ip[0])), w, s.name() + " " + d);
                    assertTrue(ip[0] >= 1);
                    // The TC side is read as totals: drain it so the next shape starts from zero.
                    t.reader().readFlows((k, p, b) -> t.reader().drainFlow(k, (x, y, z) -> { }));
                }
            }
            // Drained: a read with nothing new hands nothing out, and the kernel map holds no entry of an old epoch.
            t.reader().readFlows((k, p, b) -> { });
            assertEquals(Map.of(), workloads(t.reader()));
        }
    }

    /**
     * cgroup_proc_* count every shape as cgroup_wl_* do, and the same packet once more in "procs": the
     * test run's socket has no tag (the kernel makes it for the run), so under pid 0 of the same cgroup.
     */
    @Test
    void perProcessProgramsCountTheSameAsTheWorkloadOnes() throws IOException {
        long self = ownCgroupId();
        try (ProgTestRun t = ProgTestRun.load()) {
            for (Shape s : SHAPES) {
                for (Direction d : Direction.values()) {
                    var o = t.tryRun(d == Direction.INBOUND ? BpfObject.PROG_PROC_INGRESS : BpfObject.PROG_PROC_EGRESS,
                            s.frame(), s.skb(), 0, 0, 0);
                    assertEquals(0, o.err(), s.name());
                    assertEquals(1, o.retval(), "cgroup_skb verdict: let it pass, " + s.name());
                    var wl = t.tryRun(d == Direction.INBOUND ? BpfObject.PROG_CGROUP_INGRESS : BpfObject.PROG_CGROUP_EGRESS,
                            s.frame(), s.skb(), 0, 0, 0);
                    assertEquals(0, wl.err(), s.name());
                    t.reader().readFlows((k, p, b) -> { }); // flips the epoch, as every refresh does
                    Map<WorkloadKey, FlowValue> w = workloads(t.reader());
                    Map<dev.ebpftraffic.flow.ProcessKey, long[]> procs = new HashMap<>();
                    t.reader().readProcessDeltas((k, p, b) -> {
                        long[] v = procs.computeIfAbsent(k, x -> new long[2]);
                        v[0] += p;
                        v[1] += b;
                    });
                    FlowValue both = w.get(new WorkloadKey(self, d, d == Direction.INBOUND));
                    assertEquals(1, w.size(), s.name() + " " + d + ": " + w);
                    assertEquals(1, procs.size(), s.name() + " " + d);
                    long[] p = procs.get(new dev.ebpftraffic.flow.ProcessKey(self, 0, d));
                    // The two runs counted the same packet: the workload has it twice, the process once.
                    assertEquals(both.packets(), 2 * p[0], s.name() + " " + d);
                    assertEquals(both.bytes(), 2 * p[1], s.name() + " " + d);
                    assertTrue(p[0] >= 1);
                }
            }
            t.reader().readFlows((k, p, b) -> { });
            List<Object> left = new java.util.ArrayList<>();
            t.reader().readProcessDeltas((k, p, b) -> left.add(k));
            assertEquals(List.of(), left, "drained: nothing handed out twice");
        }
    }

    /**
     * "workloads" and "procs" are not preallocated: an entry takes memory when inserted (its element
     * and 16 bytes per possible CPU), and an insert the kernel refuses (here: the map is full) is
     * counted in "workload_overflow" / "proc_overflow", exactly, never lost.
     */
    @Test
    void aRefusedInsertCountsInTheOverflowAndAnEntryTakesMemoryOnlyOnceInserted() throws IOException {
        long self = ownCgroupId();
        int cpus = dev.ebpftraffic.libbpf.Libbpf.load(dev.ebpftraffic.libbpf.Libbpf.DEFAULT_PATH).numPossibleCpus();
        byte[] out = ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 53).payload(100).build(); // remote public
        byte[] in = ethernet().ipv4("10.0.0.2", "10.0.0.1").udp(53, 1).payload(60).build();  // remote private
        try (ProgTestRun t = ProgTestRun.load(o -> {
            o.setMaxEntries(BpfObject.MAP_WORKLOADS, 1);
            o.setMaxEntries(BpfObject.MAP_PROCS, 1);
        })) {
            Map<String, Long> empty = t.object().mapMemory();
            assertEquals(0, t.tryRun(BpfObject.PROG_PROC_EGRESS, out, null, 0, 0, 0).err());
            Map<String, Long> one = t.object().mapMemory();
            // htab element (48 + 16-byte key + 8) + free-list node + per-CPU pointer + 16 bytes per possible CPU.
            assertEquals(96 + 16L * cpus, one.get(BpfObject.MAP_WORKLOADS) - empty.get(BpfObject.MAP_WORKLOADS));
            assertEquals(96 + 16L * cpus, one.get(BpfObject.MAP_PROCS) - empty.get(BpfObject.MAP_PROCS));
            for (int i = 0; i < 3; i++) {
                assertEquals(0, t.tryRun(BpfObject.PROG_PROC_INGRESS, in, null, 0, 0, 0).err());
            }
            assertEquals(one, t.object().mapMemory(), "nothing more allocated for refused inserts");
            t.reader().readFlows((k, p, b) -> { }); // flips the epoch, as every refresh does
            assertEquals(Map.of(new WorkloadKey(self, Direction.OUTBOUND, false), new FlowValue(1, out.length - 14)),
                    workloads(t.reader()));
            long[][] wo = t.reader().readWorkloadOverflow();
            assertEquals(List.of(3L, 3L * (in.length - 14)), List.of(wo[Direction.INBOUND.code() * 2 + 1][0],
                    wo[Direction.INBOUND.code() * 2 + 1][1]));
            long[][] po = t.reader().readProcessOverflow();
            assertEquals(List.of(3L, 3L * (in.length - 14)), List.of(po[Direction.INBOUND.code()][0], po[Direction.INBOUND.code()][1]));
            assertEquals(List.of(0L, 0L), List.of(po[Direction.OUTBOUND.code()][0], po[Direction.OUTBOUND.code()][1]));
        }
    }

    private static Map<WorkloadKey, FlowValue> workloads(BpfFlowReader r) {
        Map<WorkloadKey, long[]> m = new HashMap<>();
        r.readWorkloadDeltas((k, p, b) -> {
            long[] v = m.computeIfAbsent(k, x -> new long[2]);
            v[0] += p;
            v[1] += b;
        });
        Map<WorkloadKey, FlowValue> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, new FlowValue(v[0], v[1])));
        return out;
    }

    /** This process's cgroup v2 id: the inode of its group's directory. */
    private static long ownCgroupId() throws IOException {
        Path mount = ((dev.ebpftraffic.workload.Cgroup2Mount.Found) dev.ebpftraffic.workload.Cgroup2Mount.find()).mountPoint();
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return (Long) Files.getAttribute(mount.resolve(line.substring(4)), "unix:ino", LinkOption.NOFOLLOW_LINKS);
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
    }
}
