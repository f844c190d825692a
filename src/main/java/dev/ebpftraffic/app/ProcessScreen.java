package dev.ebpftraffic.app;

import dev.ebpftraffic.live.ProcessQuery;
import dev.ebpftraffic.live.ProcessSnapshot;
import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static dev.ebpftraffic.app.TopScreen.bits;
import static dev.ebpftraffic.app.TopScreen.bytes;
import static dev.ebpftraffic.app.TopScreen.cut;
import static dev.ebpftraffic.app.TopScreen.fit;
import static dev.ebpftraffic.app.TopScreen.left;
import static dev.ebpftraffic.app.TopScreen.pad;

/**
 * The Processes view of `top` (key v), nethogs-like: one line per process, cgroup and direction,
 * drawn from a {@link ProcessSnapshot} with TopScreen's chrome (title, totals, status, header, help).
 * A pure function of the snapshot, the view state and the terminal size.
 */
final class ProcessScreen {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    /** What the user chose with the keys, and what the status line says. */
    record View(ProcessQuery query, String source, String editing, String message) {
    }

    private ProcessScreen() {
    }

    static List<String> render(ProcessSnapshot s, View v, int width, int height) {
        List<String> out = new ArrayList<>();
        ProcessQuery q = v.query();
        String title = "ebpf-traffic-exporter top · processes · " + v.source();
        String clock = s == null ? "" : CLOCK.format(Instant.ofEpochMilli(s.timeMillis()));
        out.add(TopScreen.BOLD + fit(pad(title, width - clock.length() - 1) + " " + clock, width) + TopScreen.RESET);
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
                    + left(bits(b[2]) + "/s", 9) + "   " + bytes(t.bytes()) + " since start", width));
        }
        StringBuilder status = new StringBuilder();
        status.append("sort ").append(TopScreen.sortName(q.sort())).append(q.ascending() ? " ↑" : " ↓");
        status.append(" · dir ").append(q.direction() == null ? "both" : q.direction());
        if (v.editing() != null) {
            status.append(" · filter: ").append(v.editing()).append('_');
        } else if (q.filter() != null) {
            status.append(" · filter ~ ").append(q.filter());
        }
        status.append(" · ").append(s.matched()).append(" rows");
        if (s.coveredSeconds() < 40) {
            status.append(" · ").append(s.coveredSeconds()).append(" s of history");
        }
        if (v.message() != null) {
            status.append(" · ").append(v.message());
        }
        out.add(fit(status.toString(), width));
        Layout l = Layout.of(s.rows(), width, packetSort(q.sort()));
        out.add(TopScreen.REVERSE + fit(pad(l.header(q.sort()), width), width) + TopScreen.RESET);
        int room = height - out.size() - 1;
        for (int i = 0; i < Math.min(room, s.rows().size()); i++) {
            out.add(fit(l.row(s.rows().get(i)), width));
        }
        if (s.rows().isEmpty()) {
            out.add(fit("  no process matches", width));
        }
        while (out.size() < height - 1) {
            out.add("");
        }
        out.add(fit(help(v), width));
        return out;
    }

    static String help(View v) {
        if (v.editing() != null) {
            return "type part of a command, workload or a pid · Enter apply · Esc cancel · Backspace delete";
        }
        return "q quit · v view · 1/2/3 sort 2s/10s/40s · p bits/packets · b bytes · r reverse · d direction · / filter · c clear";
    }

    static boolean packetSort(Query.Sort sort) {
        return switch (sort) {
            case PACKETS_2S, PACKETS_10S, PACKETS_40S, PACKETS -> true;
            default -> false;
        };
    }

    /**
     * Column widths: the sparkline shrinks, then goes, then the workload column shrinks. packets: the
     * rates and the total are in packets (the sort is by packets), else in bits/s and bytes.
     */
    record Layout(int workload, int spark, boolean packets) {
        static final int RATE = 8;
        static final int PID = 7;
        static final int COMM = 15;

        static Layout of(List<ProcessSnapshot.Row> rows, int width, boolean packets) {
            int w = 8; // "WORKLOAD"
            for (ProcessSnapshot.Row r : rows) {
                w = Math.max(w, r.workload().length());
            }
            w = Math.min(w, 40);
            for (int spark : new int[] {20, 10, 0}) {
                Layout l = new Layout(w, spark, packets);
                if (l.width() <= width) {
                    return l;
                }
            }
            return new Layout(Math.max(8, w - (new Layout(w, 0, packets).width() - width)), 0, packets);
        }

        int width() {
            return PID + 1 + COMM + 1 + workload + 1 + 3 + 1 + 3 * (RATE + 1) + 8 + (spark > 0 ? 1 + spark : 0);
        }

        String header(Query.Sort sort) {
            StringBuilder b = new StringBuilder();
            b.append(left("PID", PID)).append(' ').append(pad("COMMAND", COMM)).append(' ')
                    .append(pad("WORKLOAD", workload)).append(' ').append(pad("DIR", 3)).append(' ');
            String[] w = {"2s", "10s", "40s"};
            Query.Sort[] sorts = packets
                    ? new Query.Sort[] {Query.Sort.PACKETS_2S, Query.Sort.PACKETS_10S, Query.Sort.PACKETS_40S}
                    : new Query.Sort[] {Query.Sort.BITS_2S, Query.Sort.BITS_10S, Query.Sort.BITS_40S};
            for (int i = 0; i < 3; i++) {
                b.append(left((sort == sorts[i] ? "*" : "") + (packets ? "p/s " : "b/s ") + w[i], RATE)).append(' ');
            }
            b.append(left((sort == Query.Sort.BYTES || sort == Query.Sort.PACKETS ? "*" : "") + (packets ? "PACKETS" : "BYTES"), 8));
            if (spark > 0) {
                b.append(' ').append(pad(spark > 11 ? "LAST MINUTE" : "LAST MIN", spark));
            }
            return b.toString();
        }

        String row(ProcessSnapshot.Row r) {
            StringBuilder b = new StringBuilder();
            b.append(left(r.pid() == 0 ? "-" : Integer.toString(r.pid()), PID)).append(' ')
                    .append(pad(cut(r.comm(), COMM), COMM)).append(' ')
                    .append(pad(cut(r.workload(), workload), workload)).append(' ')
                    .append(pad(r.direction().equals("inbound") ? "in" : "out", 3)).append(' ');
            double[] v = packets ? r.rates().packetsPerSecond() : r.rates().bitsPerSecond();
            for (int i = 0; i < 3; i++) {
                b.append(left(packets ? TopScreen.packets(v[i]) : bits(v[i]), RATE)).append(' ');
            }
            b.append(left(packets ? TopScreen.packets(r.packets()) : bytes(r.bytes()), 8));
            if (spark > 0) {
                b.append(' ').append(TopScreen.sparkline(r.history(), spark));
            }
            return b.toString();
        }
    }
}
