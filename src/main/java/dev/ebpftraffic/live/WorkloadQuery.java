package dev.ebpftraffic.live;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * The query of GET /api/v1/workloads, parsed as {@link Query} is (same errors for the shared names).
 *
 * @param n         rows to return (1..10000, default 50)
 * @param sort      what rows and peers are sorted by
 * @param ascending order=asc; default descending
 * @param direction "inbound", "outbound" or null for both
 * @param ipType    "private", "public" or null for both
 * @param workload  a case-insensitive substring of the workload or its kind, or null
 * @param peers     top peers per row (0..100, default 5)
 */
public record WorkloadQuery(int n, Query.Sort sort, boolean ascending, String direction, String ipType,
                            String workload, int peers) {
    public static final int DEFAULT_PEERS = 5;
    public static final int MAX_PEERS = 100;
    public static final int MAX_WORKLOAD = 256;
    static final String KNOWN = "n, sort, order, direction, ip_type, workload, peers";

    public static WorkloadQuery defaults() {
        return new WorkloadQuery(Query.DEFAULT_N, Query.Sort.BITS_10S, false, null, null, null, DEFAULT_PEERS);
    }

    /** Parses a raw (still percent-encoded) query string; null or empty is the defaults. */
    public static WorkloadQuery parse(String rawQuery) {
        WorkloadQuery q = defaults();
        if (rawQuery == null || rawQuery.isEmpty()) {
            return q;
        }
        int n = q.n;
        Query.Sort sort = q.sort;
        boolean asc = false;
        String direction = null;
        String ipType = null;
        String workload = null;
        int peers = q.peers;
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
                case "ip_type" -> ipType = Query.oneOf("ip_type", value, "private", "public");
                case "workload" -> workload = value.isEmpty() ? null : text(value);
                case "peers" -> peers = parsePeers(value);
                default -> throw new Query.BadQuery("unknown query parameter \"" + Query.oneLine(name) + "\" (known: " + KNOWN + ")");
            }
        }
        return new WorkloadQuery(n, sort, asc, direction, ipType, workload, peers);
    }

    private static String text(String value) {
        if (value.length() > MAX_WORKLOAD) {
            throw new Query.BadQuery("invalid workload: longer than " + MAX_WORKLOAD + " characters");
        }
        if (!value.chars().allMatch(c -> c >= 0x20 && c != 0x7f)) {
            throw new Query.BadQuery("invalid workload: control characters");
        }
        return value.toLowerCase(Locale.ROOT);
    }

    private static int parsePeers(String value) {
        long v;
        try {
            v = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new Query.BadQuery("invalid peers \"" + Query.oneLine(value) + "\": not a whole number");
        }
        if (v < 0 || v > MAX_PEERS) {
            throw new Query.BadQuery("invalid peers " + v + ": must be between 0 and " + MAX_PEERS);
        }
        return (int) v;
    }

    /** Whether a row passes the filters. */
    boolean matches(String wl, String kind, String dir, String type) {
        if (direction != null && !direction.equals(dir)) {
            return false;
        }
        if (ipType != null && !ipType.equals(type)) {
            return false;
        }
        return workload == null || wl.toLowerCase(Locale.ROOT).contains(workload)
                || kind.toLowerCase(Locale.ROOT).contains(workload);
    }

    /** This query as URL parameters (for `top --from`), defaults left out. */
    public String toParams() {
        StringBuilder b = new StringBuilder();
        b.append("n=").append(n).append("&sort=").append(sort.param);
        if (ascending) {
            b.append("&order=asc");
        }
        append(b, "direction", direction);
        append(b, "ip_type", ipType);
        append(b, "workload", workload);
        if (peers != DEFAULT_PEERS) {
            b.append("&peers=").append(peers);
        }
        return b.toString();
    }

    private static void append(StringBuilder b, String name, String value) {
        if (value != null) {
            b.append('&').append(name).append('=').append(java.net.URLEncoder.encode(value, StandardCharsets.UTF_8));
        }
    }
}
