package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.testing.GuardedFlowReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** close() returns only when no sampler tick runs any more: the exporter closes the maps next. */
@Timeout(60)
class LiveViewCloseTest {
    @Test
    void closeWaitsForTheSamplerTickThatRuns() throws Exception {
        FakeFlowReader fake = new FakeFlowReader(16);
        fake.flow(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 1, 60);
        GuardedFlowReader reader = new GuardedFlowReader(fake);
        FlowAggregator agg = new FlowAggregator(new FlowAggregator.Settings(0, Duration.ofMinutes(10).toNanos(),
                Duration.ofMinutes(10).toNanos(), Integer.MAX_VALUE), Labeler.plain());
        TrafficCollector collector = new TrafficCollector(reader, agg, i -> "eth0", List::of, new BuildInfo("1", "25"), m -> { });
        LiveView live = new LiveView(collector, Duration.ofMillis(20), Duration.ofSeconds(30));
        live.query(Query.defaults()); // starts the sampler
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (reader.calls() < 6 && System.nanoTime() < deadline) { // the baseline and two ticks
            Thread.sleep(5);
        }
        assertTrue(reader.calls() >= 6, "the sampler did not run: " + reader.calls() + " reads");
        reader.callNanos = 200_000_000L; // from now on a tick spends 0.4 s in the reader
        Thread.sleep(100); // a tick is in a read now
        live.close();
        reader.close(); // as the exporter does next (after the collector's close)
        long callsAtClose = reader.calls();
        Thread.sleep(200);
        assertEquals(List.of(), reader.misuse);
        assertEquals(callsAtClose, reader.calls(), "a tick ran after close");
    }
}
