package dev.ebpftraffic.app;

import dev.ebpftraffic.live.ProcessQuery;
import dev.ebpftraffic.live.ProcessSnapshot;
import dev.ebpftraffic.live.Query;

import java.util.List;

import static dev.ebpftraffic.app.TopScreen.bits;
import static dev.ebpftraffic.app.TopScreen.bytes;
import static dev.ebpftraffic.app.TopScreen.cut;
import static dev.ebpftraffic.app.TopScreen.left;
import static dev.ebpftraffic.app.TopScreen.pad;

/**
 * The Processes view of `top` (key v), nethogs-like: one line per process, cgroup and direction,
 * drawn from a {@link ProcessSnapshot} with TopScreen's chrome (title, totals, status, header, help).
 * A pure function of the snapshot, the view state and the terminal size.
 */
final class ProcessScreen {
    /** What the user chose with the keys, and what the status line says. */
    record View(ProcessQuery query, String source, String editing, String message) {
    }

    private ProcessScreen() {
    }

    static List<String> render(ProcessSnapshot s, View v, int width, int height) {
        ProcessQuery q = v.query();
        TopChrome c = new TopChrome(TopChrome.title("processes", v.source()), s == null ? null : s.timeMillis(), width, height);
        if (s == null) {
            return c.waiting(v.message(), help(v));
        }
        StringBuilder status = TopChrome.status(q.sort(), q.ascending(), q.direction());
        TopChrome.filter(status, "filter", v.editing(), "filter", q.filter());
        Layout l = Layout.of(s.rows(), width, packetSort(q.sort()));
        return c.totals(s.totals(), false)
                .status(status, s.matched(), "rows", s.coveredSeconds(), v.message())
                .table(l.header(q.sort()), s.rows().size(), i -> l.row(s.rows().get(i)), "  no process matches", help(v));
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
            TopChrome.rateHeads(b, sort, packets, RATE);
            b.append(TopChrome.totalHead(sort, packets ? "PACKETS" : "BYTES"));
            if (spark > 0) {
                b.append(' ').append(TopChrome.sparkHead(spark));
            }
            return b.toString();
        }

        String row(ProcessSnapshot.Row r) {
            StringBuilder b = new StringBuilder();
            b.append(left(r.pid() == 0 ? "-" : Integer.toString(r.pid()), PID)).append(' ')
                    .append(pad(cut(r.comm(), COMM), COMM)).append(' ')
                    .append(pad(cut(r.workload(), workload), workload)).append(' ')
                    .append(pad(r.direction().equals("inbound") ? "in" : "out", 3)).append(' ');
            TopChrome.rates(b, packets ? r.rates().packetsPerSecond() : r.rates().bitsPerSecond(), packets, RATE);
            b.append(left(packets ? TopScreen.packets(r.packets()) : bytes(r.bytes()), 8));
            if (spark > 0) {
                b.append(' ').append(TopScreen.sparkline(r.history(), spark));
            }
            return b.toString();
        }
    }
}
