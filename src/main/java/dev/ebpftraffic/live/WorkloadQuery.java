package dev.ebpftraffic.live;

import java.util.Locale;

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
        var p = new Query.Params() {
            String ipType;
            String workload;
            int peers = DEFAULT_PEERS;

            @Override
            boolean own(String name, String value) {
                switch (name) {
                    case "ip_type" -> ipType = Query.ipType(value);
                    case "workload" -> workload = value.isEmpty() ? null
                            : Query.checkText("workload", value, MAX_WORKLOAD).toLowerCase(Locale.ROOT);
                    case "peers" -> peers = Query.whole("peers", value, 0, MAX_PEERS);
                    default -> {
                        return false;
                    }
                }
                return true;
            }
        };
        p.walk(rawQuery, KNOWN);
        return new WorkloadQuery(p.n, p.sort, p.ascending, p.direction, p.ipType, p.workload, p.peers);
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
        StringBuilder b = Query.paramsHead(n, sort, ascending);
        Query.append(b, "direction", direction);
        Query.append(b, "ip_type", ipType);
        Query.append(b, "workload", workload);
        if (peers != DEFAULT_PEERS) {
            b.append("&peers=").append(peers);
        }
        return b.toString();
    }
}
