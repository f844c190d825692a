package dev.ebpftraffic.app;

import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;

import static dev.ebpftraffic.app.TopScreen.BOLD;
import static dev.ebpftraffic.app.TopScreen.RESET;
import static dev.ebpftraffic.app.TopScreen.REVERSE;
import static dev.ebpftraffic.app.TopScreen.bits;
import static dev.ebpftraffic.app.TopScreen.bytes;
import static dev.ebpftraffic.app.TopScreen.fit;
import static dev.ebpftraffic.app.TopScreen.left;
import static dev.ebpftraffic.app.TopScreen.pad;

/**
 * What every `top` view draws around its table: the title with the clock, the totals, the status
 * line, the header in reverse video, the rows that fit and the key help at the bottom; and the rate
 * columns the tables share. Each view supplies only its words and its own columns, so the views
 * keep one layout of the screen and {@link TopScreen#rowsFor} holds for all of them.
 */
final class TopChrome {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss", Locale.ROOT)
            .withZone(ZoneId.systemDefault());
    private static final String[] WINDOWS = {"2s", "10s", "40s"};
    private static final Query.Sort[] BIT_SORTS = {Query.Sort.BITS_2S, Query.Sort.BITS_10S, Query.Sort.BITS_40S};
    private static final Query.Sort[] PACKET_SORTS = {Query.Sort.PACKETS_2S, Query.Sort.PACKETS_10S, Query.Sort.PACKETS_40S};

    private final List<String> out = new ArrayList<>();
    private final int width;
    private final int height;

    /** Starts a screen with its title line; timeMillis is null while there is no data (no clock). */
    TopChrome(String title, Long timeMillis, int width, int height) {
        this.width = width;
        this.height = height;
        String clock = timeMillis == null ? "" : CLOCK.format(Instant.ofEpochMilli(timeMillis));
        out.add(BOLD + fit(pad(title, width - clock.length() - 1) + " " + clock, width) + RESET);
    }

    /** "ebpf-traffic-exporter top · workloads · source"; view null for the pairs view. */
    static String title(String view, String source) {
        return "ebpf-traffic-exporter top · " + (view == null ? "" : view + " · ") + source;
    }

    /** No data yet: the message (or that we wait) and the key help at the bottom. */
    List<String> waiting(String message, String help) {
        out.add(fit(message == null ? "waiting for data..." : message, width));
        return finish(help);
    }

    /** One line per direction; packets: with the 2 s packet rate. */
    TopChrome totals(List<Snapshot.Total> totals, boolean packets) {
        for (Snapshot.Total t : totals) {
            String arrow = t.direction().equals("inbound") ? "IN " : "OUT";
            double[] b = t.rates().bitsPerSecond();
            out.add(fit(arrow + "  2s " + left(bits(b[0]) + "/s", 9) + "  10s " + left(bits(b[1]) + "/s", 9) + "  40s "
                    + left(bits(b[2]) + "/s", 9) + "   "
                    + (packets ? left(TopScreen.packets(t.rates().packetsPerSecond()[0]), 6) + " p/s (2s)   " : "")
                    + bytes(t.bytes()) + " since start", width));
        }
        return this;
    }

    /** The start of the status line: the sort and the direction. */
    static StringBuilder status(Query.Sort sort, boolean ascending, String direction) {
        return new StringBuilder().append("sort ").append(TopScreen.sortName(sort)).append(ascending ? " ↑" : " ↓")
                .append(" · dir ").append(direction == null ? "both" : direction);
    }

    /** The text filter: while typed ("ip filter: 10.0_") or once applied ("ip ~ 10.0"). */
    static void filter(StringBuilder status, String typing, String editing, String applied, String value) {
        if (editing != null) {
            status.append(" · ").append(typing).append(": ").append(editing).append('_');
        } else if (value != null) {
            status.append(" · ").append(applied).append(" ~ ").append(value);
        }
    }

    /** Ends the status line (how many matched, history still filling, the message) and adds it. */
    TopChrome status(StringBuilder status, int matched, String what, int coveredSeconds, String message) {
        status.append(" · ").append(matched).append(' ').append(what);
        if (coveredSeconds < 40) {
            status.append(" · ").append(coveredSeconds).append(" s of history");
        }
        if (message != null) {
            status.append(" · ").append(message);
        }
        out.add(fit(status.toString(), width));
        return this;
    }

    /** The header, the rows that fit above the help (or the empty text), and the help. */
    List<String> table(String header, int rows, IntFunction<String> row, String empty, String help) {
        out.add(REVERSE + fit(pad(header, width), width) + RESET);
        int room = height - out.size() - 1;
        for (int i = 0; i < Math.min(room, rows); i++) {
            out.add(fit(row.apply(i), width));
        }
        if (rows == 0) {
            out.add(fit(empty, width));
        }
        return finish(help);
    }

    private List<String> finish(String help) {
        while (out.size() < height - 1) {
            out.add("");
        }
        out.add(fit(help, width));
        return out;
    }

    /** Three rate headings, each followed by a space; the one sorted by has a star. */
    static void rateHeads(StringBuilder b, Query.Sort sort, boolean packets, int width) {
        Query.Sort[] sorts = packets ? PACKET_SORTS : BIT_SORTS;
        for (int i = 0; i < 3; i++) {
            b.append(left((sort == sorts[i] ? "*" : "") + (packets ? "p/s " : "b/s ") + WINDOWS[i], width)).append(' ');
        }
    }

    /** Three rates (bits/s or packets/s), each followed by a space. */
    static void rates(StringBuilder b, double[] v, boolean packets, int width) {
        for (int i = 0; i < 3; i++) {
            b.append(left(packets ? TopScreen.packets(v[i]) : bits(v[i]), width)).append(' ');
        }
    }

    /** The heading of the total column, starred when the sort is by a total. */
    static String totalHead(Query.Sort sort, String name) {
        return left((sort == Query.Sort.BYTES || sort == Query.Sort.PACKETS ? "*" : "") + name, 8);
    }

    /** The heading of the sparkline column. */
    static String sparkHead(int spark) {
        return pad(spark > 11 ? "LAST MINUTE" : "LAST MIN", spark);
    }
}
