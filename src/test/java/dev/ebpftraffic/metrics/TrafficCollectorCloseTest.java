package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.testing.FakeFlowReader;
import dev.ebpftraffic.testing.GuardedFlowReader;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * close() under load: scrapes (both renderings), refreshes and retirements hammer the collector
 * while it closes and the reader closes after it, as the exporter does. No call may reach the
 * reader after close (the real one has freed its arena and the maps by then), and none may still
 * run in it when it closes; scrapes go on with the last totals.
 */
@Timeout(60)
class TrafficCollectorCloseTest {
    static final int ETH0 = 2;
    static final int VETH = 7;

    interface Body {
        void run() throws Exception;
    }

    @Test
    void noReaderUseAfterCloseWhileScrapesAndRefreshesHammer() throws Exception {
        FakeFlowReader fake = new FakeFlowReader(1024);
        fake.flow(ETH0, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 3, 300);
        for (int i = 0; i < 50; i++) {
            fake.flow(VETH, Direction.OUTBOUND, "10.1.0." + i, "192.0.2.1", 1, 100);
        }
        GuardedFlowReader reader = new GuardedFlowReader(fake);
        reader.callNanos = 200_000; // each read takes 0.2 ms: a close has reads to race with
        List<String> errors = new CopyOnWriteArrayList<>();
        TrafficCollector c = new TrafficCollector(reader, TrafficCollectorTest.unbounded(),
                i -> i == ETH0 ? "eth0" : "veth7", List::of, new BuildInfo("v", "j"), errors::add);
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(c);

        AtomicBoolean stop = new AtomicBoolean();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<Thread> threads = new ArrayList<>();
        List<Body> bodies = List.of(c::refresh, registry::scrape,
                () -> c.writeTrafficText(OutputStream.nullOutputStream(), false), () -> c.retire(VETH));
        for (Body body : bodies) {
            threads.add(Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    try {
                        body.run();
                    } catch (Throwable t) {
                        failures.add(t);
                        return;
                    }
                }
            }));
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (reader.calls() < 300 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(reader.calls() >= 300, "the hammer did not reach the reader: " + reader.calls() + " calls");

        c.close();
        reader.close();
        long callsAtClose = reader.calls();
        Thread.sleep(300); // the hammer goes on against the closed collector
        stop.set(true);
        for (Thread t : threads) {
            t.join(10_000);
        }

        assertEquals(List.of(), failures);
        assertEquals(List.of(), reader.misuse);
        assertEquals(callsAtClose, reader.calls(), "calls reached the reader after close");
        assertEquals(List.of(), errors);
        // scrapes after close serve the last totals
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("network_traffic_bytes_total{direction=\"inbound\",dst_ip=\"10.0.0.2\",iface=\"eth0\","
                + "ip_type=\"private\",src_ip=\"10.0.0.1\"} 300.0"), text);
        assertTrue(text.contains("network_traffic_bytes_total{direction=\"outbound\",dst_ip=\"192.0.2.1\",iface=\"veth7\","
                + "ip_type=\"public\",src_ip=\"10.1.0.49\"} 100.0"), text);
    }

    @Test
    void closeWaitsForARefreshThatRuns() throws Exception {
        FakeFlowReader fake = new FakeFlowReader(16);
        fake.flow(ETH0, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 1, 60);
        GuardedFlowReader reader = new GuardedFlowReader(fake);
        TrafficCollector c = new TrafficCollector(reader, TrafficCollectorTest.unbounded(), i -> "eth0", List::of,
                new BuildInfo("v", "j"), m -> { });
        reader.callNanos = 300_000_000L; // one refresh: two reads of 0.3 s
        Thread refresh = Thread.ofPlatform().start(c::refresh);
        while (reader.calls() == 0) {
            Thread.onSpinWait();
        }
        c.close(); // must wait for the refresh: it holds the lock
        reader.close();
        refresh.join();
        assertEquals(List.of(), reader.misuse);
        assertEquals(2, reader.calls(), "readStats and readFlows of the one refresh");
    }

}
