package dev.ebpftraffic.app;

import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.RateTracker;
import dev.ebpftraffic.live.Snapshot;

import dev.ebpftraffic.cli.ControlChars;

import java.util.List;
import java.util.Locale;

/**
 * What `top` draws: a pure function of a snapshot, the view state and the terminal size, so it is
 * tested without a terminal. Lines are plain text with a few SGR codes (reverse video for the
 * header), each at most {@code width} columns wide.
 */
final class TopScreen {
    static final String REVERSE = "\033[7m";
    static final String BOLD = "\033[1m";
    static final String RESET = "\033[0m";
    static final String SPARKS = "▁▂▃▄▅▆▇█";
    /** Lines that are not rows: title, two totals, blank, header; and the key help at the bottom. */
    static final int CHROME = 6;

    /** What the user chose with the keys, and what the status line says. */
    record View(Query query, String source, String editing, String message, String view, String workloadFilter) {
        /** The pairs view. */
        View(Query query, String source, String editing, String message) {
            this(query, source, editing, message, "pairs", null);
        }
    }

    private TopScreen() {
    }

    /** Rows that fit under the chrome on a terminal this high. */
    static int rowsFor(int height) {
        return Math.max(1, height - CHROME);
    }

    static List<String> render(Snapshot s, View v, int width, int height) {
        Query q = v.query();
        TopChrome c = new TopChrome(TopChrome.title(null, v.source()), s == null ? null : s.timeMillis(), width, height);
        if (s == null) {
            return c.waiting(v.message(), help(v));
        }
        StringBuilder status = TopChrome.status(q.sort(), q.ascending(), q.direction());
        status.append(" · type ").append(q.ipType() == null ? "both" : q.ipType());
        status.append(" · iface ").append(q.iface() == null ? "all" : q.iface());
        TopChrome.filter(status, "ip filter", v.editing(), "ip", q.ip());
        Layout l = Layout.of(s.rows(), width);
        return c.totals(s.totals(), true)
                .status(status, s.matched(), "series", s.coveredSeconds(), v.message())
                .table(l.header(q.sort()), s.rows().size(), i -> l.row(s.rows().get(i)), "  no series match", help(v));
    }

    static String help(View v) {
        if (v.editing() != null) {
            return "type part of an IP · Enter apply · Esc cancel · Backspace delete";
        }
        return "q quit · v view · 1/2/3 sort 2s/10s/40s · p bits/packets · b bytes · r reverse · d direction · t ip_type · i iface · / ip filter · c clear";
    }

    static String sortName(Query.Sort s) {
        return switch (s) {
            case BITS_2S -> "bits/s 2s";
            case BITS_10S -> "bits/s 10s";
            case BITS_40S -> "bits/s 40s";
            case PACKETS_2S -> "packets/s 2s";
            case PACKETS_10S -> "packets/s 10s";
            case PACKETS_40S -> "packets/s 40s";
            case BYTES -> "bytes";
            case PACKETS -> "packets";
        };
    }

    /** Column widths for this terminal: shortens, then drops the sparkline, then packets/s, then type and iface. */
    record Layout(int ip, boolean typeIface, int iface, boolean packets, int spark) {
        static final int RATE = 8;

        static Layout of(List<Snapshot.Row> rows, int width) {
            int ip = 11; // "DESTINATION"
            int iface = 5;
            int most = 39; // an IPv6 address
            for (Snapshot.Row r : rows) {
                ip = Math.max(ip, Math.max(host(r.src(), r.srcName()).length(), host(r.dst(), r.dstName()).length()));
                iface = Math.max(iface, ControlChars.escape(r.iface()).length());
                if (r.srcName() != null || r.dstName() != null) {
                    most = 48; // room for a name next to the address
                }
            }
            ip = Math.min(ip, most);
            iface = Math.min(iface, 15);
            for (Layout l : List.of(new Layout(ip, true, iface, true, 20), new Layout(ip, true, iface, true, 10),
                    new Layout(ip, true, iface, true, 0), new Layout(ip, true, iface, false, 10),
                    new Layout(ip, true, iface, false, 0),
                    new Layout(ip, false, iface, false, 0))) {
                if (l.width() <= width) {
                    return l;
                }
            }
            int shrunk = Math.max(7, (width - new Layout(0, false, 0, false, 0).width()) / 2);
            return new Layout(Math.min(ip, shrunk), false, iface, false, 0);
        }

        int width() {
            int w = ip + 1 + ip + 1 + 3 + 1 + 3 * (RATE + 1) + 8;
            if (typeIface) {
                w += 4 + 1 + iface + 1;
            }
            if (packets) {
                w += 3 * (RATE + 1);
            }
            if (spark > 0) {
                w += 1 + spark;
            }
            return w;
        }

        String header(Query.Sort sort) {
            StringBuilder b = new StringBuilder();
            b.append(pad("SOURCE", ip)).append(' ').append(pad("DESTINATION", ip)).append(' ').append(pad("DIR", 3)).append(' ');
            if (typeIface) {
                b.append(pad("TYPE", 4)).append(' ').append(pad("IFACE", iface)).append(' ');
            }
            TopChrome.rateHeads(b, sort, false, RATE);
            if (packets) {
                TopChrome.rateHeads(b, sort, true, RATE);
            }
            b.append(TopChrome.totalHead(sort, "BYTES"));
            if (spark > 0) {
                b.append(' ').append(TopChrome.sparkHead(spark));
            }
            return b.toString();
        }

        String row(Snapshot.Row r) {
            StringBuilder b = new StringBuilder();
            b.append(pad(host(r.src(), r.srcName(), ip), ip)).append(' ').append(pad(host(r.dst(), r.dstName(), ip), ip)).append(' ')
                    .append(pad(r.direction().equals("inbound") ? "in" : "out", 3)).append(' ');
            if (typeIface) {
                b.append(pad(r.ipType().equals("private") ? "priv" : "pub", 4)).append(' ')
                        .append(pad(cut(ControlChars.escape(r.iface()), iface), iface)).append(' ');
            }
            TopChrome.rates(b, r.rates().bitsPerSecond(), false, RATE);
            if (packets) {
                TopChrome.rates(b, r.rates().packetsPerSecond(), true, RATE);
            }
            b.append(left(bytes(r.bytes()), 8));
            if (spark > 0) {
                b.append(' ').append(sparkline(r.history(), spark));
            }
            return b.toString();
        }
    }

    /** An address and its host name, if known: "10.0.0.1 db1.example.org". */
    static String host(String ip, String name) {
        return name == null ? ip : ip + " " + ControlChars.escape(name);
    }

    /** The same in w columns: the name is cut first, the address only when it alone is too wide. */
    static String host(String ip, String name, int w) {
        if (name == null || ip.length() + 2 > w) {
            return cut(ip, w);
        }
        return ip + " " + cut(ControlChars.escape(name), w - ip.length() - 1);
    }

    /**
     * The last minute in width characters, newest on the right: each character is the mean of its
     * share of the 60 seconds; seconds not yet covered are blank. Scaled to the row's own peak.
     */
    static String sparkline(float[] history, int width) {
        double[] cells = new double[width];
        boolean[] has = new boolean[width];
        int offset = RateTracker.HISTORY - history.length; // seconds before the history began
        int[] counts = new int[width];
        for (int i = 0; i < history.length; i++) {
            int cell = (int) ((long) (offset + i) * width / RateTracker.HISTORY);
            cells[cell] += history[i];
            counts[cell]++;
            has[cell] = true;
        }
        double max = 0;
        for (int c = 0; c < width; c++) {
            if (counts[c] > 0) {
                cells[c] /= counts[c];
                max = Math.max(max, cells[c]);
            }
        }
        StringBuilder b = new StringBuilder();
        for (int c = 0; c < width; c++) {
            if (!has[c]) {
                b.append(' ');
            } else if (max <= 0 || cells[c] <= 0) {
                b.append(SPARKS.charAt(0));
            } else {
                int level = (int) Math.round(cells[c] / max * (SPARKS.length() - 1));
                b.append(SPARKS.charAt(Math.max(0, Math.min(SPARKS.length() - 1, level))));
            }
        }
        return b.toString();
    }

    static String bits(double v) {
        return scaled(v, new String[] {"b", "kb", "Mb", "Gb", "Tb"});
    }

    static String packets(double v) {
        return scaled(v, new String[] {"", "k", "M", "G"});
    }

    static String bytes(long v) {
        return scaled(v, new String[] {"B", "kB", "MB", "GB", "TB", "PB"});
    }

    /** Three significant digits and an SI prefix: 0, 950, 1.08k, 12.3M. */
    static String scaled(double v, String[] units) {
        int i = 0;
        while (Math.abs(v) >= 999.5 && i < units.length - 1) {
            v /= 1000;
            i++;
        }
        String num;
        if (v == 0) {
            num = "0";
        } else if (i == 0 && v >= 99.95) {
            num = String.format(Locale.ROOT, "%.0f", v);
        } else if (v >= 99.95) {
            num = String.format(Locale.ROOT, "%.0f", v);
        } else if (v >= 9.995) {
            num = String.format(Locale.ROOT, "%.1f", v);
        } else {
            num = String.format(Locale.ROOT, "%.2f", v);
        }
        return num + units[i];
    }

    static String pad(String s, int w) {
        return s.length() >= w ? s : s + " ".repeat(w - s.length());
    }

    static String left(String s, int w) {
        return s.length() >= w ? s : " ".repeat(w - s.length()) + s;
    }

    static String cut(String s, int w) {
        return s.length() <= w ? s : s.substring(0, Math.max(0, w - 1)) + "…";
    }

    /** At most w columns (every character here is one column wide); control characters shown as \xHH. */
    static String fit(String s, int w) {
        s = ControlChars.escape(s);
        return s.length() <= w ? s : s.substring(0, Math.max(0, w));
    }
}
