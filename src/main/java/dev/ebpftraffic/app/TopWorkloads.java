package dev.ebpftraffic.app;

import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;
import dev.ebpftraffic.live.WorkloadSnapshot;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static dev.ebpftraffic.app.TopScreen.BOLD;
import static dev.ebpftraffic.app.TopScreen.RESET;
import static dev.ebpftraffic.app.TopScreen.REVERSE;
import static dev.ebpftraffic.app.TopScreen.bits;
import static dev.ebpftraffic.app.TopScreen.bytes;
import static dev.ebpftraffic.app.TopScreen.cut;
import static dev.ebpftraffic.app.TopScreen.fit;
import static dev.ebpftraffic.app.TopScreen.left;
import static dev.ebpftraffic.app.TopScreen.pad;

/**
 * What `top` draws in the Workloads view: one line per workload series (as the Prometheus family
 * has them) with its rates, bytes, last minute and top remote peers; the same chrome as the pairs
 * view (title, totals, status, header, key help), so {@link TopScreen#rowsFor} holds for both.
 */
final class TopWorkloads {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    private TopWorkloads() {
    }

    static List<String> render(WorkloadSnapshot s, TopScreen.View v, int width, int height) {
        List<String> out = new ArrayList<>();
        Query q = v.query();
        String title = "ebpf-traffic-exporter top · workloads · " + v.source();
        String clock = s == null ? "" : CLOCK.format(Instant.ofEpochMilli(s.timeMillis()));
        out.add(BOLD + fit(pad(title, width - clock.length() - 1) + " " + clock, width) + RESET);
        if (s == null) {
            out.add(fit(v.message() == null ? "waiting for data..." : v.message(), width));
            while (out.size() < height - 1) {
                out.add("");
            }
            out.add(fit(help(v), width));
            return out;
        }
        for (Snapshot.Total t : s.totals()) {
            String arrow = t.direction().equals("inbound") ? "IN " : "OUT";
            double[] b = t.rates().bitsPerSecond();
            out.add(fit(arrow + "  2s " + left(bits(b[0]) + "/s", 9) + "  10s " + left(bits(b[1]) + "/s", 9) + "  40s "
                    + left(bits(b[2]) + "/s", 9) + "   " + left(TopScreen.packets(t.rates().packetsPerSecond()[0]), 6)
                    + " p/s (2s)   " + bytes(t.bytes()) + " since start", width));
        }
        StringBuilder status = new StringBuilder();
        status.append("sort ").append(TopScreen.sortName(q.sort())).append(q.ascending() ? " ↑" : " ↓");
        status.append(" · dir ").append(q.direction() == null ? "both" : q.direction());
        status.append(" · type ").append(q.ipType() == null ? "both" : q.ipType());
        if (v.editing() != null) {
            status.append(" · workload filter: ").append(v.editing()).append('_');
        } else if (v.workloadFilter() != null) {
            status.append(" · workload ~ ").append(v.workloadFilter());
        }
        status.append(" · ").append(s.matched()).append(" series");
        if (s.coveredSeconds() < 40) {
            status.append(" · ").append(s.coveredSeconds()).append(" s of history");
        }
        if (v.message() != null) {
            status.append(" · ").append(v.message());
        }
        out.add(fit(status.toString(), width));

        Layout l = Layout.of(s.rows(), width);
        out.add(REVERSE + fit(pad(l.header(q.sort()), width), width) + RESET);
        int room = height - out.size() - 1;
        for (int i = 0; i < Math.min(room, s.rows().size()); i++) {
            out.add(fit(l.row(s.rows().get(i), width), width));
        }
        if (s.rows().isEmpty()) {
            out.add(fit("  no workload series match", width));
        }
        while (out.size() < height - 1) {
            out.add("");
        }
        out.add(fit(help(v), width));
        return out;
    }

    static String help(TopScreen.View v) {
        if (v.editing() != null) {
            return "type part of a workload or kind · Enter apply · Esc cancel · Backspace delete";
        }
        return "q quit · v view · 1/2/3 sort 2s/10s/40s · p bits/packets · b bytes · r reverse · d direction · t ip_type · / workload filter · c clear";
    }

    /** Column widths: shortens the workload, then drops the sparkline, then packets/s; the peers take what is left. */
    record Layout(int name, boolean packets, int spark) {
        static final int RATE = 8;
        static final int KIND = 10;
        static final int PEERS = 24; // at least this much for the peers before the columns go

        static Layout of(List<WorkloadSnapshot.Row> rows, int width) {
            int name = 8; // "WORKLOAD"
            for (WorkloadSnapshot.Row r : rows) {
                name = Math.max(name, r.workload().length());
            }
            name = Math.min(name, 50);
            for (Layout l : List.of(new Layout(name, true, 10), new Layout(name, true, 0),
                    new Layout(Math.min(name, 30), true, 0), new Layout(Math.min(name, 30), false, 0))) {
                if (l.width() + PEERS <= width) {
                    return l;
                }
            }
            int shrunk = Math.max(8, width - new Layout(0, false, 0).width() - PEERS);
            return new Layout(Math.min(name, shrunk), false, 0);
        }

        int width() {
            int w = name + 1 + KIND + 1 + 3 + 1 + 4 + 1 + 3 * (RATE + 1) + 8 + 1;
            if (packets) {
                w += 3 * (RATE + 1);
            }
            if (spark > 0) {
                w += spark + 1;
            }
            return w;
        }

        String header(Query.Sort sort) {
            StringBuilder b = new StringBuilder();
            b.append(pad("WORKLOAD", name)).append(' ').append(pad("KIND", KIND)).append(' ').append(pad("DIR", 3)).append(' ')
                    .append(pad("TYPE", 4)).append(' ');
            String[] w = {"2s", "10s", "40s"};
            Query.Sort[] bitSorts = {Query.Sort.BITS_2S, Query.Sort.BITS_10S, Query.Sort.BITS_40S};
            Query.Sort[] pktSorts = {Query.Sort.PACKETS_2S, Query.Sort.PACKETS_10S, Query.Sort.PACKETS_40S};
            for (int i = 0; i < 3; i++) {
                b.append(left((sort == bitSorts[i] ? "*" : "") + "b/s " + w[i], RATE)).append(' ');
            }
            if (packets) {
                for (int i = 0; i < 3; i++) {
                    b.append(left((sort == pktSorts[i] ? "*" : "") + "p/s " + w[i], RATE)).append(' ');
                }
            }
            b.append(left((sort == Query.Sort.BYTES || sort == Query.Sort.PACKETS ? "*" : "") + "BYTES", 8)).append(' ');
            if (spark > 0) {
                b.append(pad("LAST MIN", spark)).append(' ');
            }
            return b.append("TOP PEERS (b/s 10s)").toString();
        }

        String row(WorkloadSnapshot.Row r, int width) {
            StringBuilder b = new StringBuilder();
            b.append(pad(cut(r.workload(), name), name)).append(' ').append(pad(cut(r.kind(), KIND), KIND)).append(' ')
                    .append(pad(r.direction().equals("inbound") ? "in" : "out", 3)).append(' ')
                    .append(pad(r.ipType().equals("private") ? "priv" : "pub", 4)).append(' ');
            for (double v : r.rates().bitsPerSecond()) {
                b.append(left(bits(v), RATE)).append(' ');
            }
            if (packets) {
                double[] p = r.rates().packetsPerSecond();
                for (int i = 0; i < 3; i++) {
                    b.append(left(TopScreen.packets(p[i]), RATE)).append(' ');
                }
            }
            b.append(left(bytes(r.bytes()), 8)).append(' ');
            if (spark > 0) {
                b.append(TopScreen.sparkline(r.history(), spark)).append(' ');
            }
            return b.append(cut(peers(r), Math.max(0, width - b.length()))).toString();
        }
    }

    /** "10.0.0.1 1.20Mb, fd00::2 300kb, +other 12.0kb": the listed peers by the 10 s rate, then the rest. */
    static String peers(WorkloadSnapshot.Row r) {
        StringBuilder b = new StringBuilder();
        for (WorkloadSnapshot.Peer p : r.peers()) {
            b.append(b.isEmpty() ? "" : ", ").append(p.ip()).append(' ').append(bits(p.rates().bitsPerSecond()[1]));
        }
        if (r.otherPeers() != null) {
            b.append(b.isEmpty() ? "" : ", ").append("+other ").append(bits(r.otherPeers().rates().bitsPerSecond()[1]));
        }
        return b.isEmpty() ? "-" : b.toString();
    }
}
