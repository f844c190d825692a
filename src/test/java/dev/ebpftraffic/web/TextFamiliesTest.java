package dev.ebpftraffic.web;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.metrics.AttachCollector;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.FakeFlowReader;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TextFamilies writes exactly what the client library writes, or nothing and says so. */
class TextFamiliesTest {
    static final PrometheusTextFormatWriter LIBRARY = PrometheusTextFormatWriter.create();

    static String library(MetricSnapshots s) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        LIBRARY.write(b, s);
        return b.toString(StandardCharsets.UTF_8);
    }

    /** TextFamilies' text, or null when it left the snapshots to the library (then it wrote nothing). */
    static String ours(TextFamilies t, MetricSnapshots s) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (!t.write(b, s)) {
            assertEquals(0, b.size(), "wrote something and then gave up");
            return null;
        }
        return b.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theExportersOwnFamiliesAreWrittenAsTheLibraryWritesThem() throws IOException {
        FakeFlowReader reader = new FakeFlowReader(16);
        reader.flow(2, Direction.INBOUND, "1.1.1.1", "192.168.1.5", 10, 1234);
        TrafficCollector collector = new TrafficCollector(reader,
                new FlowAggregator(new FlowAggregator.Settings(0, Long.MAX_VALUE / 4, Long.MAX_VALUE / 4, Integer.MAX_VALUE),
                        Labeler.plain()),
                i -> "eth\"0\\x\n", List::of, new BuildInfo("1.2.3", "25.0.3+9-LTS"), e -> { });
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(collector);
        registry.register(new AttachCollector(AttachCollector::zero, () -> Map.of("eth0", 3L, "ünïcode", 1L)));
        TextFamilies t = new TextFamilies(LIBRARY);
        for (int i = 0; i < 3; i++) { // the first scrape renders the families' lines, the next ones reuse them
            collector.writeTrafficText(java.io.OutputStream.nullOutputStream(), false);
            MetricSnapshots rest = registry.scrape(name -> !TrafficCollector.isTrafficName(name));
            String expected = library(rest);
            assertTrue(expected.contains("# HELP ebpf_traffic_exporter_"), expected);
            assertEquals(expected, ours(t, rest));
        }
    }

    @Test
    void valuesLabelsHelpAndUnitsAsTheLibrary() throws IOException {
        MetricSnapshots s = MetricSnapshots.of(
                CounterSnapshot.builder().name("c_bytes").help("Help with \\ backslash,\nnewline, \"quotes\" and ünïcode")
                        .unit(Unit.BYTES)
                        .dataPoint(CounterDataPointSnapshot.builder().labels(Labels.of("a", "x\\y\"z\nw", "b", "é")).value(3).build())
                        .dataPoint(CounterDataPointSnapshot.builder().labels(Labels.of("a", "")).value(1e21).build())
                        .dataPoint(CounterDataPointSnapshot.builder().value(0.1 + 0.2).build())
                        .build(),
                GaugeSnapshot.builder().name("g").help("")
                        .dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of("k", "1")).value(Double.NaN).build())
                        .dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of("k", "2")).value(Double.POSITIVE_INFINITY).build())
                        .dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of("k", "3")).value(Double.NEGATIVE_INFINITY).build())
                        .dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of("k", "4")).value(-0.0).build())
                        .dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of("k", "5")).value(1e-9).build())
                        .dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of("k", "6")).value(Long.MAX_VALUE).build())
                        .build(),
                GaugeSnapshot.builder().name("g_seconds").unit(Unit.SECONDS).help("no points: not written").build(),
                CounterSnapshot.builder().name("plain").dataPoint(CounterDataPointSnapshot.builder().value(7).build()).build());
        TextFamilies t = new TextFamilies(LIBRARY);
        String expected = library(s);
        assertEquals(expected, ours(t, s));
        assertEquals(expected, ours(t, s), "from the kept lines");
        assertFalse(expected.contains("g_seconds"), expected);
    }

    @Test
    void whatItDoesNotWriteIsLeftToTheLibraryWhole() throws IOException {
        TextFamilies t = new TextFamilies(LIBRARY);
        CounterSnapshot ok = CounterSnapshot.builder().name("ok").dataPoint(CounterDataPointSnapshot.builder().value(1).build()).build();
        // another type after a family it writes: nothing written at all
        assertEquals(null, ours(t, MetricSnapshots.of(ok, InfoSnapshot.builder().name("i")
                .dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(Labels.of("v", "1")).build()).build())));
        // a timestamp on a point
        assertEquals(null, ours(t, MetricSnapshots.of(ok, GaugeSnapshot.builder().name("ts")
                .dataPoint(GaugeDataPointSnapshot.builder().value(1).scrapeTimestampMillis(1000).build()).build())));
        // a name the legacy rules do not allow (the library quotes it)
        assertEquals(null, ours(t, MetricSnapshots.of(ok, GaugeSnapshot.builder().name("ünïcode_gauge")
                .dataPoint(GaugeDataPointSnapshot.builder().value(1).build()).build())));
        // a writer that adds _created lines
        TextFamilies created = new TextFamilies(PrometheusTextFormatWriter.builder().setIncludeCreatedTimestamps(true).build());
        assertEquals(null, ours(created, MetricSnapshots.of(ok)));
        assertEquals(library(MetricSnapshots.of(ok)), ours(t, MetricSnapshots.of(ok)));
    }
}
