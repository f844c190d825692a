package dev.ebpftraffic.live;

import java.util.Locale;

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
        var p = new Query.Params() {
            String filter;

            @Override
            boolean own(String name, String value) {
                if (!name.equals("filter")) {
                    return false;
                }
                filter = value.isEmpty() ? null : Query.checkText("filter", value, Query.MAX_IP).toLowerCase(Locale.ROOT);
                return true;
            }
        };
        p.walk(rawQuery, KNOWN);
        return new ProcessQuery(p.n, p.sort, p.ascending, p.direction, p.filter);
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
        StringBuilder b = Query.paramsHead(n, sort, ascending);
        Query.append(b, "direction", direction);
        Query.append(b, "filter", filter);
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
