package dev.ebpftraffic.metrics;

import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.OtherKey;
import dev.ebpftraffic.flow.SeriesKey;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static dev.ebpftraffic.metrics.TrafficCollector.BYTES;
import static dev.ebpftraffic.metrics.TrafficCollector.BYTES_HELP;
import static dev.ebpftraffic.metrics.TrafficCollector.OTHER;
import static dev.ebpftraffic.metrics.TrafficCollector.PACKETS;
import static dev.ebpftraffic.metrics.TrafficCollector.PACKETS_HELP;

/**
 * The streaming writer of the two traffic families in the text format 0.0.4 or OpenMetrics 1.0,
 * which a 100k-series scrape needs. It keeps each exported series' label text, rendered once;
 * a series not exported by a scrape (folded, expired) drops out of the cache at that scrape.
 * Not thread-safe: {@link #copy} runs under the collector's lock, {@link #write} needs none.
 */
final class TrafficText {
    /** One exported traffic series, copied out under the lock so writing needs none. */
    record Row(byte[] labels, long packets, long bytes) {
    }

    private static final byte[] BYTES_NAME = (BYTES + "_total").getBytes(StandardCharsets.US_ASCII);
    private static final byte[] PACKETS_NAME = (PACKETS + "_total").getBytes(StandardCharsets.US_ASCII);

    /** Label text by series (identity): the series the last scrape exported. */
    private Map<FlowAggregator.Series, byte[]> labelCache = new IdentityHashMap<>();

    /** Copies every traffic series, "other" included, as this scrape exports them. Caller holds the collector's lock. */
    List<Row> copy(FlowAggregator flows) {
        List<Row> rows = new ArrayList<>(flows.exportedSeries() + 8);
        Map<FlowAggregator.Series, byte[]> before = labelCache;
        Map<FlowAggregator.Series, byte[]> now = new IdentityHashMap<>(Math.max(16, flows.exportedSeries()));
        flows.scrape(new FlowAggregator.ScrapeVisitor() {
            @Override
            public void series(SeriesKey key, FlowAggregator.Series s, long packets, long bytes) {
                byte[] l = before.get(s);
                if (l == null) {
                    l = labelText(key);
                }
                now.put(s, l);
                rows.add(new Row(l, packets, bytes));
            }

            @Override
            public void other(OtherKey k, long packets, long bytes) {
                rows.add(new Row(labelText(k.direction().label(), OTHER, k.iface(), k.ipType(), OTHER), packets, bytes));
            }
        });
        labelCache = now;
        return rows;
    }

    /** A pair's labels; with Kubernetes names (--kubernetes), the src_/dst_ namespace, workload and kind too. */
    private static byte[] labelText(SeriesKey k) {
        if (k.srcPeer() == null) {
            return labelText(k.direction().label(), k.dst(), k.iface(), k.ipType(), k.src());
        }
        String text = "{direction=\"" + k.direction().label() + "\",dst_ip=\"" + TextLines.escape(k.dst())
                + "\"," + peerText("dst", k.dstPeer()) + ",iface=\"" + TextLines.escape(k.iface()) + "\",ip_type=\""
                + k.ipType() + "\",src_ip=\"" + TextLines.escape(k.src()) + "\"," + peerText("src", k.srcPeer()) + "}";
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static String peerText(String side, dev.ebpftraffic.flow.Peer p) {
        return side + "_kind=\"" + TextLines.escape(p.kind()) + "\"," + side + "_namespace=\"" + TextLines.escape(p.namespace())
                + "\"," + side + "_workload=\"" + TextLines.escape(p.workload()) + "\"";
    }

    /** {direction="...",dst_ip="...",iface="...",ip_type="...",src_ip="..."}. */
    private static byte[] labelText(String direction, String dst, String iface, String ipType, String src) {
        String text = "{direction=\"" + direction + "\",dst_ip=\"" + TextLines.escape(dst) + "\",iface=\""
                + TextLines.escape(iface) + "\",ip_type=\"" + ipType + "\",src_ip=\"" + TextLines.escape(src) + "\"}";
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** Writes both families (OpenMetrics without the final "# EOF": the rest of the scrape follows). */
    static void write(List<Row> rows, OutputStream out, boolean openMetrics) throws IOException {
        TextLines w = new TextLines(out);
        w.ascii(header(BYTES, "bytes", BYTES_HELP, openMetrics));
        for (Row r : rows) {
            w.bytes(BYTES_NAME).bytes(r.labels()).ch(' ').number(r.bytes()).ch('\n');
        }
        w.ascii(header(PACKETS, null, PACKETS_HELP, openMetrics));
        for (Row r : rows) {
            w.bytes(PACKETS_NAME).bytes(r.labels()).ch(' ').number(r.packets()).ch('\n');
        }
        w.flush();
    }

    /** The text format writes metadata under the sample name; OpenMetrics under the family name, with UNIT. */
    private static String header(String family, String unit, String help, boolean openMetrics) {
        if (!openMetrics) {
            return "# HELP " + family + "_total " + help + "\n# TYPE " + family + "_total counter\n";
        }
        return "# TYPE " + family + " counter\n" + (unit == null ? "" : "# UNIT " + family + " " + unit + "\n")
                + "# HELP " + family + " " + help + "\n";
    }
}
