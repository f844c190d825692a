package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.PeerKey;
import dev.ebpftraffic.flow.WorkloadKey;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.libbpf.Libbpf;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.ebpftraffic.testing.Frames.ethernet;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The live view's per-workload peers ("wl_peers") with BPF_PROG_TEST_RUN of the cgroup_skb programs:
 * nothing is counted while the "wl_peers_on" flag is off; while it is on, each packet counts for its
 * remote address (source inbound, destination outbound) with exactly the packets and bytes the
 * "workloads" map counts for it; after the flag goes off the map drains to empty; a full map counts
 * in "wl_peers_full" (never dropped).
 */
@KernelTest
class WorkloadPeersTestRunTest {
    static final byte[] V4_OUT = ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 53).payload(100).build();
    static final byte[] V6_IN = ethernet().ipv6("2001:db8::7", "fd00::1").tcp(443, 2, 12).payload(300).build();
    static final byte[] V4_IN_PRIVATE = ethernet().ipv4("192.168.3.4", "10.0.0.1").udp(5, 6).payload(10).build();

    @Test
    void countedOnlyWhileTheFlagIsOnAndExactlyAsTheWorkload() throws IOException {
        long self = ownCgroupId();
        try (ProgTestRun t = ProgTestRun.load()) {
            BpfFlowReader r = t.reader();
            assertTrue(r.hasPeers());
            assertEquals(0, flag(t), "off after load");
            run(t, Direction.OUTBOUND, V4_OUT, 3);
            r.readFlows((k, p, b) -> { });
            Map<WorkloadKey, FlowValue> w0 = workloads(r);
            assertEquals(3, w0.get(new WorkloadKey(self, Direction.OUTBOUND, false)).packets(), w0.toString());
            assertEquals(Map.of(), peers(r), "flag off: no peer counted");
            assertEquals(0, entries(t), "flag off: the peers map stays empty");

            r.peerSampling(true);
            assertEquals(1, flag(t));
            run(t, Direction.OUTBOUND, V4_OUT, 2);
            run(t, Direction.INBOUND, V6_IN, 4);
            run(t, Direction.INBOUND, V4_IN_PRIVATE, 1);
            r.readFlows((k, p, b) -> { });
            Map<WorkloadKey, FlowValue> w = workloads(r);
            Map<PeerKey, FlowValue> p = peers(r);
            assertEquals(Map.of(
                    new PeerKey(self, IpAddress.parse("8.8.8.8"), Direction.OUTBOUND, false),
                    w.get(new WorkloadKey(self, Direction.OUTBOUND, false)),
                    new PeerKey(self, IpAddress.parse("2001:db8::7"), Direction.INBOUND, false),
                    w.get(new WorkloadKey(self, Direction.INBOUND, false)),
                    new PeerKey(self, IpAddress.parse("192.168.3.4"), Direction.INBOUND, true),
                    w.get(new WorkloadKey(self, Direction.INBOUND, true))), p);
            assertEquals(new FlowValue(2, 2 * (20 + 8 + 100)), w.get(new WorkloadKey(self, Direction.OUTBOUND, false)));
            assertEquals(new FlowValue(4, 4 * (40 + 32 + 300)), w.get(new WorkloadKey(self, Direction.INBOUND, false)));
            assertEquals("8.8.8.8", p.keySet().stream().filter(k -> k.direction() == Direction.OUTBOUND)
                    .findFirst().orElseThrow().remote().toString());

            // More of the same peer in the next epoch: only the growth is handed out.
            run(t, Direction.OUTBOUND, V4_OUT, 5);
            r.readFlows((k, x, b) -> { });
            assertEquals(Map.of(new PeerKey(self, IpAddress.parse("8.8.8.8"), Direction.OUTBOUND, false),
                    new FlowValue(5, 5 * 128)), peers(r));

            run(t, Direction.OUTBOUND, V4_OUT, 1);
            long[] got = new long[1];
            assertEquals(1, r.readPeerDeltas((k, x, b) -> got[0] += x), "an entry of the current epoch stays in the kernel");
            assertEquals(1, got[0]);
            r.peerSampling(false);
            assertEquals(0, flag(t));
            run(t, Direction.OUTBOUND, V4_OUT, 7);
            for (int i = 0; i < 2; i++) { // two epoch flips drain both epochs' entries
                r.readFlows((k, x, b) -> { });
                assertEquals(Map.of(), peers(r), "flag off: nothing new");
            }
            assertEquals(0, entries(t), "drained to empty once the flag is off");
            assertEquals(0, r.readPeerDeltas((k, x, b) -> { }), "and the reader says so");
        }
    }

    @Test
    void aFullMapCountsInWlPeersFull() throws IOException {
        long self = ownCgroupId();
        try (ProgTestRun t = ProgTestRun.load()) {
            BpfFlowReader r = t.reader();
            int cap = t.object().maxEntries(BpfObject.MAP_WL_PEERS);
            r.peerSampling(true);
            int extra = 25;
            for (int i = 0; i < cap + extra; i++) {
                String dst = "198.51." + (100 + i / 256) + "." + (i % 256);
                t.tryRun(BpfObject.PROG_CGROUP_EGRESS, ethernet().ipv4("10.0.0.1", dst).udp(1, 2).payload(2).build(),
                        null, 0, 0, 0);
            }
            r.readFlows((k, p, b) -> { });
            Map<PeerKey, FlowValue> p = peers(r);
            assertEquals(cap, p.size(), "the map holds max_entries peers");
            long[][] full = r.readPeerOverflow();
            int o = Direction.OUTBOUND.code() * 2;
            assertEquals(extra, full[o][0] + full[o + 1][0], "the rest counts in wl_peers_full, outbound");
            assertEquals(extra * 30L, full[o][1] + full[o + 1][1]);
            assertEquals(0, full[0][0] + full[1][0], "nothing inbound");
            long wp = workloads(r).entrySet().stream().filter(e -> e.getKey().cgroup() == self
                    && e.getKey().direction() == Direction.OUTBOUND).mapToLong(e -> e.getValue().packets()).sum();
            long peerPackets = p.values().stream().mapToLong(FlowValue::packets).sum();
            assertEquals(cap + extra, wp);
            assertEquals(wp, peerPackets + full[o][0] + full[o + 1][0], "every packet is somewhere");
        }
    }

    private static void run(ProgTestRun t, Direction d, byte[] frame, int times) {
        for (int i = 0; i < times; i++) {
            var o = t.tryRun(d == Direction.INBOUND ? BpfObject.PROG_CGROUP_INGRESS : BpfObject.PROG_CGROUP_EGRESS,
                    frame, null, 0, 0, 0);
            assertEquals(0, o.err());
            assertEquals(1, o.retval());
        }
    }

    static int flag(ProgTestRun t) {
        Libbpf lib = t.object().lib();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(JAVA_INT);
            MemorySegment v = a.allocate(JAVA_INT);
            assertEquals(0, lib.mapLookupElem(t.object().mapFd(BpfObject.MAP_WL_PEERS_ON), k, v));
            return v.get(JAVA_INT, 0);
        }
    }

    /** Entries in the kernel's "wl_peers", by walking its keys. */
    static int entries(ProgTestRun t) {
        Libbpf lib = t.object().lib();
        int fd = t.object().mapFd(BpfObject.MAP_WL_PEERS);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(PeerKey.LAYOUT.byteSize(), 8);
            MemorySegment next = a.allocate(PeerKey.LAYOUT.byteSize(), 8);
            int n = 0;
            int ret = lib.mapGetNextKey(fd, MemorySegment.NULL, next);
            while (ret == 0) {
                n++;
                MemorySegment.copy(next, 0, key, 0, key.byteSize());
                ret = lib.mapGetNextKey(fd, key, next);
            }
            return n;
        }
    }

    private static Map<WorkloadKey, FlowValue> workloads(BpfFlowReader r) {
        Map<WorkloadKey, long[]> m = new HashMap<>();
        r.readWorkloadDeltas((k, p, b) -> add(m, k, p, b));
        return values(m);
    }

    private static Map<PeerKey, FlowValue> peers(BpfFlowReader r) {
        Map<PeerKey, long[]> m = new HashMap<>();
        r.readPeerDeltas((k, p, b) -> add(m, k, p, b));
        return values(m);
    }

    private static <K> void add(Map<K, long[]> m, K k, long p, long b) {
        long[] v = m.computeIfAbsent(k, x -> new long[2]);
        v[0] += p;
        v[1] += b;
    }

    private static <K> Map<K, FlowValue> values(Map<K, long[]> m) {
        Map<K, FlowValue> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, new FlowValue(v[0], v[1])));
        return out;
    }

    /** This process's cgroup v2 id: the inode of its group's directory. */
    static long ownCgroupId() throws IOException {
        Path mount = ((dev.ebpftraffic.workload.Cgroup2Mount.Found) dev.ebpftraffic.workload.Cgroup2Mount.find()).mountPoint();
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return (Long) Files.getAttribute(mount.resolve(line.substring(4)), "unix:ino", LinkOption.NOFOLLOW_LINKS);
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
    }
}
