package dev.ebpftraffic.live;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * The query of GET /api/v1/processes: as /api/v1/top's ({@link Query}) for n, sort, order and
 * direction, and a text filter over the process. Parsing throws {@link Query.BadQuery} with a
 * one-line reason for anything it does not know.
 *
 * @param filter a case-insensitive substring of the command name, the workload or the kind, or the
 *               pid written out in full; null for all
 */
public record ProcessQuery(int n, Query.Sort sort, boolean ascending, String direction, String filter) {
    static final String KNOWN = "n, sort, order, direction, filter";

    public static ProcessQuery defaults() {
        return new ProcessQuery(Query.DEFAULT_N, Query.Sort.BITS_10S, false, null, null);
    }

    /** Parses a raw (still percent-encoded) query string; null or empty is the defaults. */
    public static ProcessQuery parse(String rawQuery) {
        ProcessQuery q = defaults();
        if (rawQuery == null || rawQuery.isEmpty()) {
            return q;
        }
        int n = q.n;
        Query.Sort sort = q.sort;
        boolean asc = false;
        String direction = null;
        String filter = null;
        Set<String> seen = new HashSet<>();
        for (String part : rawQuery.split("&", -1)) {
            if (part.isEmpty()) {
                continue;
            }
            int eq = part.indexOf('=');
            String name = Query.decode(eq < 0 ? part : part.substring(0, eq));
            String value = eq < 0 ? "" : Query.decode(part.substring(eq + 1));
            if (!seen.add(name)) {
                throw new Query.BadQuery("query parameter \"" + Query.oneLine(name) + "\" is given twice");
            }
            switch (name) {
                case "n" -> n = Query.parseN(value);
                case "sort" -> {
                    sort = Query.Sort.of(value);
                    if (sort == null) {
                        throw new Query.BadQuery("invalid sort \"" + Query.oneLine(value) + "\": use one of " + Query.Sort.names());
                    }
                }
                case "order" -> {
                    switch (value) {
                        case "asc" -> asc = true;
                        case "desc" -> asc = false;
                        default -> throw new Query.BadQuery("invalid order \"" + Query.oneLine(value) + "\": use asc or desc");
                    }
                }
                case "direction" -> direction = Query.oneOf("direction", value, "inbound", "outbound");
                case "filter" -> filter = value.isEmpty() ? null : Query.checkText("filter", value).toLowerCase(Locale.ROOT);
                default -> throw new Query.BadQuery("unknown query parameter \"" + Query.oneLine(name) + "\" (known: " + KNOWN + ")");
            }
        }
        return new ProcessQuery(n, sort, asc, direction, filter);
    }

    /** Whether a row passes the direction and text filters. */
    boolean matches(int pid, String comm, String workload, String kind, String dir) {
        if (direction != null && !direction.equals(dir)) {
            return false;
        }
        if (filter == null) {
            return true;
        }
        return Integer.toString(pid).equals(filter) || comm.toLowerCase(Locale.ROOT).contains(filter)
                || workload.toLowerCase(Locale.ROOT).contains(filter) || kind.contains(filter);
    }

    /** This query as URL parameters (for `top --from`), defaults left out. */
    public String toParams() {
        StringBuilder b = new StringBuilder();
        b.append("n=").append(n).append("&sort=").append(sort.param);
        if (ascending) {
            b.append("&order=asc");
        }
        if (direction != null) {
            b.append("&direction=").append(direction);
        }
        if (filter != null) {
            b.append("&filter=").append(java.net.URLEncoder.encode(filter, StandardCharsets.UTF_8));
        }
        return b.toString();
    }

    public ProcessQuery withSort(Query.Sort s) {
        return new ProcessQuery(n, s, ascending, direction, filter);
    }

    public ProcessQuery withN(int rows) {
        return new ProcessQuery(rows, sort, ascending, direction, filter);
    }

    public ProcessQuery withDirection(String d) {
        return new ProcessQuery(n, sort, ascending, d, filter);
    }

    public ProcessQuery withFilter(String text) {
        return new ProcessQuery(n, sort, ascending, direction,
                text == null || text.isEmpty() ? null : text.toLowerCase(Locale.ROOT));
    }

    public ProcessQuery reversed() {
        return new ProcessQuery(n, sort, !ascending, direction, filter);
    }
}
