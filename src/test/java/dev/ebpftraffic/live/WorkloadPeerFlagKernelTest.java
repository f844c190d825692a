package dev.ebpftraffic.live;

import dev.ebpftraffic.bpf.BpfFlowReader;
import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.workload.WorkloadAggregator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernel's "wl_peers_on" flag of a loaded object (not attached anywhere) follows the live view:
 * 1 from the first /api/v1/workloads request, 0 again once nobody asked for the idle time, and 0
 * after close. While it is 0 the cgroup_skb programs do not touch "wl_peers" (WorkloadPeersTestRunTest).
 */
@KernelTest
@Timeout(60)
class WorkloadPeerFlagKernelTest {
    static int flag(BpfObject obj) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(JAVA_INT);
            MemorySegment v = a.allocate(JAVA_INT);
            assertEquals(0, obj.lib().mapLookupElem(obj.mapFd(BpfObject.MAP_WL_PEERS_ON), k, v));
            return v.get(JAVA_INT, 0);
        }
    }

    @Test
    void onWhileTheWorkloadsViewIsSampledOffWhenItStops() throws Exception {
        try (BpfObject obj = BpfObject.openEmbedded(Libbpf.load(Libbpf.DEFAULT_PATH))) {
            obj.load();
            BpfFlowReader reader = BpfFlowReader.of(obj);
            FlowAggregator agg = new FlowAggregator(new FlowAggregator.Settings(0, Duration.ofMinutes(10).toNanos(),
                    Duration.ofSeconds(30).toNanos(), Integer.MAX_VALUE), Labeler.plain());
            TrafficCollector collector = new TrafficCollector(reader, agg, i -> "if" + i, List::of,
                    new BuildInfo("1", "25"), m -> { throw new AssertionError(m); });
            collector.setWorkloads(new WorkloadAggregator(0, Duration.ofMinutes(10).toNanos(), id -> Optional.empty()));
            try (LiveView live = new LiveView(collector, Duration.ofMillis(100), Duration.ofMillis(500))) {
                assertEquals(0, flag(obj), "off after load");
                live.query(Query.defaults());
                assertEquals(0, flag(obj), "the pairs view does not turn it on");
                live.queryWorkloads(WorkloadQuery.defaults());
                assertEquals(1, flag(obj), "on with the first workloads query");
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (live.sampling() && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                assertFalse(live.sampling(), "the sampler stopped after the idle time");
                assertEquals(0, flag(obj), "off again when sampling stopped");
                live.queryWorkloads(WorkloadQuery.defaults());
                assertEquals(1, flag(obj));
                assertTrue(live.workloadSampling());
                live.close();
                assertEquals(0, flag(obj), "off after close");
            } finally {
                collector.close();
                reader.close();
            }
        }
    }
}
