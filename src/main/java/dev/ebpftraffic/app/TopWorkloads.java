package dev.ebpftraffic.app;

import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.WorkloadSnapshot;

import java.util.List;

import static dev.ebpftraffic.app.TopScreen.bits;
import static dev.ebpftraffic.app.TopScreen.bytes;
import static dev.ebpftraffic.app.TopScreen.cut;
import static dev.ebpftraffic.app.TopScreen.left;
import static dev.ebpftraffic.app.TopScreen.pad;

/**
 * What `top` draws in the Workloads view: one line per workload series (as the Prometheus family
 * has them) with its rates, bytes, last minute and top remote peers; the same chrome as the pairs
 * view (title, totals, status, header, key help), so {@link TopScreen#rowsFor} holds for both.
 */
final class TopWorkloads {
    private TopWorkloads() {
    }

    static List<String> render(WorkloadSnapshot s, TopScreen.View v, int width, int height) {
        Query q = v.query();
        TopChrome c = new TopChrome(TopChrome.title("workloads", v.source()), s == null ? null : s.timeMillis(), width, height);
        if (s == null) {
            return c.waiting(v.message(), help(v));
        }
        StringBuilder status = TopChrome.status(q.sort(), q.ascending(), q.direction());
        status.append(" · type ").append(q.ipType() == null ? "both" : q.ipType());
        TopChrome.filter(status, "workload filter", v.editing(), "workload", v.workloadFilter());
        Layout l = Layout.of(s.rows(), width);
        return c.totals(s.totals(), true)
                .status(status, s.matched(), "series", s.coveredSeconds(), v.message())
                .table(l.header(q.sort()), s.rows().size(), i -> l.row(s.rows().get(i), width), "  no workload series match", help(v));
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
            TopChrome.rateHeads(b, sort, false, RATE);
            if (packets) {
                TopChrome.rateHeads(b, sort, true, RATE);
            }
            b.append(TopChrome.totalHead(sort, "BYTES")).append(' ');
            if (spark > 0) {
                b.append(TopChrome.sparkHead(spark)).append(' ');
            }
            return b.append("TOP PEERS (b/s 10s)").toString();
        }

        String row(WorkloadSnapshot.Row r, int width) {
            StringBuilder b = new StringBuilder();
            b.append(pad(cut(r.workload(), name), name)).append(' ').append(pad(cut(r.kind(), KIND), KIND)).append(' ')
                    .append(pad(r.direction().equals("inbound") ? "in" : "out", 3)).append(' ')
                    .append(pad(r.ipType().equals("private") ? "priv" : "pub", 4)).append(' ');
            TopChrome.rates(b, r.rates().bitsPerSecond(), false, RATE);
            if (packets) {
                TopChrome.rates(b, r.rates().packetsPerSecond(), true, RATE);
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
