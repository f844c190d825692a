package dev.ebpftraffic.web;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.DataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricMetadata;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.PrometheusNaming;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The Prometheus text format (0.0.4) of counter and gauge families, byte for byte as the client
 * library's {@link PrometheusTextFormatWriter} writes them (TextFamiliesTest compares the two),
 * without its cost per scrape: the library appends the HELP text one char at a time through a
 * writer it makes per scrape. Each family's HELP and TYPE lines and its sample name are rendered
 * once, by the library itself, and kept; a scrape writes the points. Anything else (another type,
 * a name the legacy rules do not allow, a timestamp, two families of one name, a writer that adds
 * _created lines) leaves the whole scrape to the library.
 */
final class TextFamilies {
    /** Families kept at most; more (not expected: the names are the exporter's own) are rendered but not kept. */
    static final int MAX_SHAPES = 256;

    private record Shape(String name, String help, String unit, boolean counter) {
    }

    private record Rendered(byte[] header, String sample) {
    }

    private final PrometheusTextFormatWriter library;
    private final Map<Shape, Rendered> shapes = new ConcurrentHashMap<>();
    private volatile Boolean plain; // null: not checked yet; false: the library writes more than we do

    TextFamilies(PrometheusTextFormatWriter library) {
        this.library = library;
    }

    /** Writes snapshots and returns true, or writes nothing and returns false (then the library must). */
    boolean write(OutputStream out, MetricSnapshots snapshots) throws IOException {
        if (!plain()) {
            return false;
        }
        // Everything is checked, and every family's lines rendered, before anything is written.
        Set<String> names = new HashSet<>();
        Rendered[] rendered = new Rendered[snapshots.size()];
        int n = 0;
        for (MetricSnapshot s : snapshots) {
            if (!(s instanceof CounterSnapshot || s instanceof GaugeSnapshot) || !names.add(s.getMetadata().getName())
                    || !PrometheusNaming.isValidLegacyMetricName(s.getMetadata().getName())) {
                return false;
            }
            for (DataPointSnapshot p : s.getDataPoints()) {
                if (p.hasScrapeTimestamp() || !legacyLabels(p.getLabels())) {
                    return false;
                }
            }
            // The library leaves out a family without points, HELP and TYPE included.
            if (!s.getDataPoints().isEmpty() && (rendered[n] = rendered(s)) == null) {
                return false;
            }
            n++;
        }
        StringBuilder sb = new StringBuilder(4096);
        n = 0;
        for (MetricSnapshot s : snapshots) {
            Rendered r = rendered[n++];
            if (r == null) {
                continue;
            }
            out.write(r.header());
            for (DataPointSnapshot p : s.getDataPoints()) {
                sb.append(r.sample());
                Labels labels = p.getLabels();
                if (!labels.isEmpty()) {
                    sb.append('{');
                    for (int i = 0; i < labels.size(); i++) {
                        if (i > 0) {
                            sb.append(',');
                        }
                        sb.append(labels.getName(i)).append("=\"");
                        escape(sb, labels.getValue(i));
                        sb.append('"');
                    }
                    sb.append('}');
                }
                sb.append(' ');
                double v = p instanceof CounterSnapshot.CounterDataPointSnapshot c ? c.getValue()
                        : ((GaugeSnapshot.GaugeDataPointSnapshot) p).getValue();
                if (v == Double.POSITIVE_INFINITY) {
                    sb.append("+Inf");
                } else if (v == Double.NEGATIVE_INFINITY) {
                    sb.append("-Inf");
                } else {
                    sb.append(Double.toString(v));
                }
                sb.append('\n');
            }
            out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
            sb.setLength(0);
        }
        return true;
    }

    private static boolean legacyLabels(Labels labels) {
        for (int i = 0; i < labels.size(); i++) {
            if (!PrometheusNaming.isValidLegacyLabelName(labels.getName(i))) {
                return false;
            }
        }
        return true;
    }

    /** Label values as the library escapes them: backslash, double quote and newline. */
    private static void escape(StringBuilder sb, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '"' -> sb.append("\\\"");
                case '\n' -> sb.append("\\n");
                default -> sb.append(c);
            }
        }
    }

    /** Whether the library writes nothing beyond the families (no _created lines): checked once. */
    private boolean plain() throws IOException {
        Boolean p = plain;
        if (p == null) {
            CounterSnapshot probe = CounterSnapshot.builder().name("probe").dataPoint(CounterSnapshot.CounterDataPointSnapshot
                    .builder().value(1).createdTimestampMillis(1).build()).build();
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            library.write(b, MetricSnapshots.of(probe));
            p = b.toString(StandardCharsets.UTF_8).equals("# TYPE probe_total counter\nprobe_total 1.0\n");
            plain = p;
        }
        return p;
    }

    /** The family's HELP and TYPE lines and sample name, as the library writes them for a point without labels. */
    private Rendered rendered(MetricSnapshot s) throws IOException {
        MetricMetadata m = s.getMetadata();
        Shape shape = new Shape(m.getName(), m.getHelp(), Objects.toString(m.getUnit(), null), s instanceof CounterSnapshot);
        Rendered r = shapes.get(shape);
        if (r != null) {
            return r;
        }
        MetricSnapshot one = s instanceof CounterSnapshot
                ? new CounterSnapshot(m, java.util.List.of(CounterSnapshot.CounterDataPointSnapshot.builder().value(0).build()))
                : new GaugeSnapshot(m, java.util.List.of(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(0).build()));
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        library.write(b, MetricSnapshots.of(one));
        String text = b.toString(StandardCharsets.UTF_8);
        int last = text.lastIndexOf('\n', text.length() - 2) + 1; // the sample line: "NAME 0.0\n"
        String sampleLine = text.substring(last);
        if (!sampleLine.endsWith(" 0.0\n") || sampleLine.startsWith("{") || sampleLine.startsWith("#")) {
            return null;
        }
        r = new Rendered(text.substring(0, last).getBytes(StandardCharsets.UTF_8),
                sampleLine.substring(0, sampleLine.length() - " 0.0\n".length()));
        if (shapes.size() < MAX_SHAPES) {
            shapes.put(shape, r);
        }
        return r;
    }
}
