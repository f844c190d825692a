package dev.ebpftraffic.bpf;

import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.ebpftraffic.bpf.TrafficProgTestRunTest.NO_FLOWS;
import static dev.ebpftraffic.bpf.TrafficProgTestRunTest.stat;
import static dev.ebpftraffic.bpf.TrafficProgTestRunTest.v;
import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;

/**
 * "stats" is not preallocated, so a packet's stats key can fail to be created (map full, or no
 * memory). Such a packet counts, exactly, under the StatKey.LOST_IFINDEX key of its stat and
 * direction, which userspace created before: nothing is lost.
 */
@KernelTest
class StatsLostTestRunTest {
    private static StatKey lost(dev.ebpftraffic.flow.Direction dir, KernelStat stat) {
        return new StatKey(StatKey.LOST_IFINDEX, dir, stat);
    }

    @Test
    void aPacketWhoseStatsKeyCannotBeCreatedCountsUnderTheLostKey() {
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        byte[] bad = ethernet().ipv4("10.0.0.1", "198.51.100.1").ihl(3).build();
        // Room for the 8 lost-packet keys and one more: the first key of lo takes it, the rest do not fit.
        try (ProgTestRun t = ProgTestRun.load(obj -> obj.setMaxEntries(BpfObject.MAP_STATS, 9))) {
            t.assertMaps(NO_FLOWS, Map.of()); // the lost-packet keys are hidden while they count nothing
            t.run(INBOUND, arp);
            t.run(INBOUND, arp);
            t.run(INBOUND, bad);
            for (int i = 0; i < 3; i++) {
                t.run(OUTBOUND, bad);
            }
            t.run(OUTBOUND, arp);
            Map<StatKey, FlowValue> want = Map.of(
                    stat(INBOUND, KernelStat.NON_IP), v(2, 2L * arp.length),
                    lost(INBOUND, KernelStat.MALFORMED), v(1, bad.length),
                    lost(OUTBOUND, KernelStat.MALFORMED), v(3, 3L * bad.length),
                    lost(OUTBOUND, KernelStat.NON_IP), v(1, arp.length));
            t.assertMaps(NO_FLOWS, want);
        }
    }

    @Test
    void withRoomEveryKeyIsAllocatedOnItsFirstPacketAndCountsExactly() {
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        byte[] bad = ethernet().ipv4("10.0.0.1", "198.51.100.1").ihl(3).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            for (int i = 0; i < 5; i++) {
                t.run(INBOUND, arp);
                t.run(OUTBOUND, bad);
            }
            t.run(INBOUND, bad);
            t.assertMaps(NO_FLOWS, Map.of(
                    stat(INBOUND, KernelStat.NON_IP), v(5, 5L * arp.length),
                    stat(OUTBOUND, KernelStat.MALFORMED), v(5, 5L * bad.length),
                    stat(INBOUND, KernelStat.MALFORMED), v(1, bad.length)));
        }
    }
}
