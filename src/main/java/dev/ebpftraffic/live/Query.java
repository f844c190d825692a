package dev.ebpftraffic.live;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * The query of GET /api/v1/top: how many rows, sorted how, filtered how. Parsing throws
 * {@link BadQuery} with a one-line reason for anything it does not know.
 *
 * @param n         rows to return (1..10000, default 50)
 * @param sort      what to sort by
 * @param ascending order=asc; default descending
 * @param direction "inbound", "outbound" or null for both
 * @param ipType    "private", "public" or null for both
 * @param iface     an interface name or null for all
 * @param ip        a case-insensitive substring of src_ip or dst_ip, or null
 */
public record Query(int n, Sort sort, boolean ascending, String direction, String ipType, String iface, String ip) {
    public static final int DEFAULT_N = 50;
    public static final int MAX_N = 10_000;
    public static final int MAX_IP = 64;
    static final String KNOWN = "n, sort, order, direction, ip_type, iface, ip";

    /** What the rows can be sorted by: the rates and the cumulative counters. */
    public enum Sort {
        BITS_2S("bits_2s"), BITS_10S("bits_10s"), BITS_40S("bits_40s"),
        PACKETS_2S("packets_2s"), PACKETS_10S("packets_10s"), PACKETS_40S("packets_40s"),
        BYTES("bytes"), PACKETS("packets");

        public final String param;

        Sort(String param) {
            this.param = param;
        }

        public static Sort of(String s) {
            for (Sort v : values()) {
                if (v.param.equals(s)) {
                    return v;
                }
            }
            return null;
        }

        public static String names() {
            StringBuilder b = new StringBuilder();
            for (Sort v : values()) {
                b.append(b.isEmpty() ? "" : ", ").append(v.param);
            }
            return b.toString();
        }
    }

    /** A query parameter the API does not accept; the message is one line. */
    public static final class BadQuery extends RuntimeException {
        public BadQuery(String message) {
            super(message);
        }
    }

    public static Query defaults() {
        return new Query(DEFAULT_N, Sort.BITS_10S, false, null, null, null, null);
    }

    /** Parses a raw (still percent-encoded) query string; null or empty is the defaults. */
    public static Query parse(String rawQuery) {
        var p = new Params() {
            String ipType;
            String iface;
            String ip;

            @Override
            boolean own(String name, String value) {
                switch (name) {
                    case "ip_type" -> ipType = ipType(value);
                    // Any name the menu offers: Linux allows control characters in names, and a name that
                    // is not UTF-8 is labelled with \xHH escapes (up to 4 characters a byte). It is only compared.
                    case "iface" -> iface = value.isEmpty() ? null : checkLength("iface", value, MAX_IP);
                    case "ip" -> ip = value.isEmpty() ? null : checkText("ip", value, MAX_IP).toLowerCase(Locale.ROOT);
                    default -> {
                        return false;
                    }
                }
                return true;
            }
        };
        p.walk(rawQuery, KNOWN);
        return new Query(p.n, p.sort, p.ascending, p.direction, p.ipType, p.iface, p.ip);
    }

    /**
     * The query-string walker of the live API's endpoints: each parameter percent-decoded, a name given
     * twice refused, n, sort, order and direction taken here, the endpoint's own names by {@link #own},
     * anything else refused with the endpoint's list of known names. Parameters are taken in order, so the
     * first bad one is the one reported.
     */
    abstract static class Params {
        int n = DEFAULT_N;
        Sort sort = Sort.BITS_10S;
        boolean ascending;
        String direction;

        /** Takes one of the endpoint's own parameters; false for a name it does not know. */
        abstract boolean own(String name, String value);

        final void walk(String rawQuery, String known) {
            if (rawQuery == null || rawQuery.isEmpty()) {
                return;
            }
            Set<String> seen = new HashSet<>();
            for (String part : rawQuery.split("&", -1)) {
                if (part.isEmpty()) {
                    continue;
                }
                int eq = part.indexOf('=');
                String name = decode(eq < 0 ? part : part.substring(0, eq));
                String value = eq < 0 ? "" : decode(part.substring(eq + 1));
                if (!seen.add(name)) {
                    throw new BadQuery("query parameter \"" + oneLine(name) + "\" is given twice");
                }
                switch (name) {
                    case "n" -> n = whole("n", value, 1, MAX_N);
                    case "sort" -> sort = parseSort(value);
                    case "order" -> ascending = parseAscending(value);
                    case "direction" -> direction = oneOf("direction", value, "inbound", "outbound");
                    default -> {
                        if (!own(name, value)) {
                            throw new BadQuery("unknown query parameter \"" + oneLine(name) + "\" (known: " + known + ")");
                        }
                    }
                }
            }
        }
    }

    static Sort parseSort(String value) {
        Sort sort = Sort.of(value);
        if (sort == null) {
            throw new BadQuery("invalid sort \"" + oneLine(value) + "\": use one of " + Sort.names());
        }
        return sort;
    }

    /** order=asc or order=desc. */
    static boolean parseAscending(String value) {
        return switch (value) {
            case "asc" -> true;
            case "desc" -> false;
            default -> throw new BadQuery("invalid order \"" + oneLine(value) + "\": use asc or desc");
        };
    }

    /** A whole number from min to max, for the parameter called name. */
    static int whole(String name, String value, int min, int max) {
        long v;
        try {
            v = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new BadQuery("invalid " + name + " \"" + oneLine(value) + "\": not a whole number");
        }
        if (v < min || v > max) {
            throw new BadQuery("invalid " + name + " " + v + ": must be between " + min + " and " + max);
        }
        return (int) v;
    }

    /** ip_type=private or ip_type=public; empty means no filter. */
    static String ipType(String value) {
        return oneOf("ip_type", value, "private", "public");
    }

    /** Empty means no filter. */
    static String oneOf(String name, String value, String a, String b) {
        if (value.isEmpty()) {
            return null;
        }
        if (!value.equals(a) && !value.equals(b)) {
            throw new BadQuery("invalid " + name + " \"" + oneLine(value) + "\": use " + a + " or " + b);
        }
        return value;
    }

    static String checkLength(String name, String value, int max) {
        if (value.length() > max) {
            throw new BadQuery("invalid " + name + ": longer than " + max + " characters");
        }
        return value;
    }

    /** At most max characters, none a control character. */
    static String checkText(String name, String value, int max) {
        checkLength(name, value, max);
        if (!value.chars().allMatch(c -> c >= 0x20 && c != 0x7f)) {
            throw new BadQuery("invalid " + name + ": control characters");
        }
        return value;
    }

    static String decode(String s) {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new BadQuery("malformed query string: bad percent-encoding in \"" + oneLine(s) + "\"");
        }
    }

    /** A value quoted in an error message: printable, and not too long. */
    static String oneLine(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(80).forEach(c -> b.append(c < 0x20 || c == 0x7f ? "?" : Character.toString(c)));
        return b + (s.codePointCount(0, s.length()) > 80 ? "..." : "");
    }

    /** This query as URL parameters (for clients such as `top --from`), defaults left out. */
    public String toParams() {
        StringBuilder b = paramsHead(n, sort, ascending);
        append(b, "direction", direction);
        append(b, "ip_type", ipType);
        append(b, "iface", iface);
        append(b, "ip", ip);
        return b.toString();
    }

    /** The start of every endpoint's {@code toParams}: n and sort always, order when ascending. */
    static StringBuilder paramsHead(int n, Sort sort, boolean ascending) {
        StringBuilder b = new StringBuilder();
        b.append("n=").append(n).append("&sort=").append(sort.param);
        if (ascending) {
            b.append("&order=asc");
        }
        return b;
    }

    /** A filter parameter, left out when null. */
    static void append(StringBuilder b, String name, String value) {
        if (value != null) {
            b.append('&').append(name).append('=').append(java.net.URLEncoder.encode(value, StandardCharsets.UTF_8));
        }
    }

    public Query withSort(Sort s) {
        return new Query(n, s, ascending, direction, ipType, iface, ip);
    }

    public Query withN(int rows) {
        return new Query(rows, sort, ascending, direction, ipType, iface, ip);
    }

    public Query withDirection(String d) {
        return new Query(n, sort, ascending, d, ipType, iface, ip);
    }

    public Query withIpType(String t) {
        return new Query(n, sort, ascending, direction, t, iface, ip);
    }

    public Query withIface(String i) {
        return new Query(n, sort, ascending, direction, ipType, i, ip);
    }

    public Query withIp(String text) {
        return new Query(n, sort, ascending, direction, ipType, iface,
                text == null || text.isEmpty() ? null : text.toLowerCase(Locale.ROOT));
    }
}
