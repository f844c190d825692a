package dev.ebpftraffic.live;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON of /api/v1/top (the README documents it), written by hand, and a small JSON reader
 * for clients (`top --from URL`). No dependency: the format is tiny.
 */
public final class LiveJson {
    static final String[] WINDOW_NAMES = {"2s", "10s", "40s"};

    private LiveJson() {
    }

    // ---- writing ------------------------------------------------------------------------------

    public static String write(Snapshot s) {
        StringBuilder b = new StringBuilder(1024 + 900 * s.rows().size());
        Query q = s.query();
        head(b, s.timeMillis(), s.coveredSeconds(), s.sampling(), q.n(), q.sort(), q.ascending(), q.direction());
        b.append(",\"ip_type\":");
        string(b, q.ipType());
        b.append(",\"iface\":");
        string(b, q.iface());
        b.append(",\"ip\":");
        string(b, q.ip());
        b.append("},\"matched\":").append(s.matched());
        b.append(",\"totals\":{");
        totals(b, s.totals(), true);
        b.append("},\"ifaces\":[");
        for (int i = 0; i < s.ifaces().size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            string(b, s.ifaces().get(i));
        }
        b.append("],\"series\":[");
        for (int i = 0; i < s.rows().size(); i++) {
            Snapshot.Row r = s.rows().get(i);
            b.append(i > 0 ? ",\n" : "\n").append("{\"src_ip\":");
            string(b, r.src());
            b.append(",\"dst_ip\":");
            string(b, r.dst());
            b.append(",\"src_name\":");
            string(b, r.srcName());
            b.append(",\"dst_name\":");
            string(b, r.dstName());
            b.append(",\"direction\":");
            string(b, r.direction());
            b.append(",\"ip_type\":");
            string(b, r.ipType());
            b.append(",\"iface\":");
            string(b, r.iface());
            b.append(",\"other\":").append(r.other()).append(',');
            counters(b, r.rates(), r.bytes(), r.packets());
            history(b, r.history());
            b.append('}');
        }
        b.append("]}\n");
        return b.toString();
    }

    /**
     * What every endpoint's answer starts with: time, coverage, windows, and the query's shared fields
     * up to direction (the query object is left open for the endpoint's own).
     */
    static void head(StringBuilder b, long timeMillis, int coveredSeconds, boolean sampling, int n, Query.Sort sort,
                     boolean ascending, String direction) {
        b.append("{\"time\":");
        string(b, Instant.ofEpochMilli(timeMillis).toString());
        b.append(",\"covered_seconds\":").append(coveredSeconds);
        b.append(",\"sampling\":").append(sampling);
        b.append(",\"windows\":[\"2s\",\"10s\",\"40s\"]");
        b.append(",\"query\":{\"n\":").append(n).append(",\"sort\":");
        string(b, sort.param);
        b.append(",\"order\":\"").append(ascending ? "asc" : "desc").append('"');
        b.append(",\"direction\":");
        string(b, direction);
    }

    /** The members of a totals object, by direction; without rates where the counts have none (peers_map_full). */
    static void totals(StringBuilder b, List<Snapshot.Total> totals, boolean rates) {
        for (int i = 0; i < totals.size(); i++) {
            Snapshot.Total t = totals.get(i);
            if (i > 0) {
                b.append(',');
            }
            string(b, t.direction());
            b.append(":{");
            if (rates) {
                rates(b, t.rates());
                b.append(',');
            }
            b.append("\"bytes\":").append(t.bytes()).append(",\"packets\":").append(t.packets()).append('}');
        }
    }

    /** A row's rates and cumulative counters. */
    static void counters(StringBuilder b, Snapshot.Rates r, long bytes, long packets) {
        rates(b, r);
        b.append(",\"bytes\":").append(bytes).append(",\"packets\":").append(packets);
    }

    /** A row's last minute, whole bits per second. */
    static void history(StringBuilder b, float[] history) {
        b.append(",\"last_minute_bits_per_second\":[");
        for (int h = 0; h < history.length; h++) {
            if (h > 0) {
                b.append(',');
            }
            b.append(Math.round(history[h]));
        }
        b.append(']');
    }

    /** A 400 answer: one line. */
    public static String error(String message) {
        StringBuilder b = new StringBuilder("{\"error\":");
        string(b, message);
        return b.append("}\n").toString();
    }

    static void rates(StringBuilder b, Snapshot.Rates r) {
        b.append("\"bits_per_second\":");
        windows(b, r.bitsPerSecond());
        b.append(",\"packets_per_second\":");
        windows(b, r.packetsPerSecond());
    }

    private static void windows(StringBuilder b, double[] v) {
        b.append('{');
        for (int i = 0; i < WINDOW_NAMES.length; i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append('"').append(WINDOW_NAMES[i]).append("\":").append(number(v[i]));
        }
        b.append('}');
    }

    /** Three decimals at most, never an exponent. */
    static String number(double v) {
        if (!Double.isFinite(v)) {
            return "0";
        }
        double r = Math.round(v * 1000) / 1000.0;
        if (r == Math.rint(r) && Math.abs(r) < 1e15) {
            return Long.toString((long) r);
        }
        return BigDecimal.valueOf(r).stripTrailingZeros().toPlainString();
    }

    static void string(StringBuilder b, String s) {
        if (s == null) {
            b.append("null");
            return;
        }
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029 || c == '<' || c == '>') {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }

    // ---- reading ------------------------------------------------------------------------------

    /** Reads what {@link #write} wrote (or a compatible server's answer) back into a Snapshot. */
    public static Snapshot read(String json) {
        Map<String, Object> o = obj(parse(json));
        Map<String, Object> q = obj(o.get("query"));
        Query query = new Query(num(q.get("n")).intValue(), sortOf(q.get("sort")), "asc".equals(q.get("order")),
                (String) q.get("direction"), (String) q.get("ip_type"), (String) q.get("iface"), (String) q.get("ip"));
        List<Snapshot.Total> totals = totals(obj(o.get("totals")), true);
        List<String> ifaces = new ArrayList<>();
        for (Object i : list(o.get("ifaces"))) {
            ifaces.add((String) i);
        }
        List<Snapshot.Row> rows = new ArrayList<>();
        for (Object x : list(o.get("series"))) {
            Map<String, Object> r = obj(x);
            rows.add(new Snapshot.Row((String) r.get("src_ip"), (String) r.get("dst_ip"), (String) r.get("direction"),
                    (String) r.get("ip_type"), (String) r.get("iface"), Boolean.TRUE.equals(r.get("other")), rates(r),
                    num(r.get("bytes")).longValue(), num(r.get("packets")).longValue(), history(r),
                    name(r.get("src_name")), name(r.get("dst_name"))));
        }
        long time = Instant.parse((String) o.get("time")).toEpochMilli();
        return new Snapshot(time, num(o.get("covered_seconds")).intValue(), Boolean.TRUE.equals(o.get("sampling")),
                query, num(o.get("matched")).intValue(), rows, totals, ifaces);
    }

    /** A host name field: absent (an older server) or null is no name. */
    private static String name(Object o) {
        if (o != null && !(o instanceof String)) {
            throw new IllegalArgumentException("expected a JSON string or null as a host name, got " + o);
        }
        return (String) o;
    }

    /** A query's sort; one this client does not know reads as the default. */
    static Query.Sort sortOf(Object s) {
        Query.Sort v = Query.Sort.of((String) s);
        return v == null ? Query.Sort.BITS_10S : v;
    }

    /** A totals object back into totals, by direction; zero rates where it has none (peers_map_full). */
    static List<Snapshot.Total> totals(Map<String, Object> m, boolean rates) {
        List<Snapshot.Total> out = new ArrayList<>();
        m.forEach((dir, v) -> {
            Map<String, Object> t = obj(v);
            Snapshot.Rates r = rates ? rates(t) : new Snapshot.Rates(new double[3], new double[3]);
            out.add(new Snapshot.Total(dir, r, num(t.get("bytes")).longValue(), num(t.get("packets")).longValue()));
        });
        return out;
    }

    /** A row's last_minute_bits_per_second. */
    static float[] history(Map<String, Object> row) {
        List<Object> h = list(row.get("last_minute_bits_per_second"));
        float[] history = new float[h.size()];
        for (int i = 0; i < history.length; i++) {
            history[i] = num(h.get(i)).floatValue();
        }
        return history;
    }

    static Snapshot.Rates rates(Map<String, Object> m) {
        Map<String, Object> bits = obj(m.get("bits_per_second"));
        Map<String, Object> packets = obj(m.get("packets_per_second"));
        double[] b = new double[WINDOW_NAMES.length];
        double[] p = new double[WINDOW_NAMES.length];
        for (int i = 0; i < WINDOW_NAMES.length; i++) {
            b[i] = num(bits.get(WINDOW_NAMES[i])).doubleValue();
            p[i] = num(packets.get(WINDOW_NAMES[i])).doubleValue();
        }
        return new Snapshot.Rates(b, p);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> obj(Object o) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException("expected a JSON object, got " + o);
        }
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        if (!(o instanceof List)) {
            throw new IllegalArgumentException("expected a JSON array, got " + o);
        }
        return (List<Object>) o;
    }

    static Number num(Object o) {
        if (!(o instanceof Number n)) {
            throw new IllegalArgumentException("expected a JSON number, got " + o);
        }
        return n;
    }

    /** Parses JSON: objects as LinkedHashMap, arrays as List, integers as Long, other numbers as Double. */
    public static Object parse(String s) {
        Reader r = new Reader(s);
        r.ws();
        Object v = r.value();
        r.ws();
        if (r.i != s.length()) {
            throw r.fail("trailing characters");
        }
        return v;
    }

    /** Nesting deeper than this is refused: the live view's JSON is 4 levels deep; recursion must not overflow the stack. */
    static final int MAX_DEPTH = 32;

    private static final class Reader {
        final String s;
        int i;
        int depth;

        Reader(String s) {
            this.s = s;
        }

        IllegalArgumentException fail(String why) {
            return new IllegalArgumentException("bad JSON at offset " + i + ": " + why);
        }

        void ws() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
        }

        char peek() {
            if (i >= s.length()) {
                throw fail("unexpected end");
            }
            return s.charAt(i);
        }

        void expect(char c) {
            if (peek() != c) {
                throw fail("expected '" + c + "'");
            }
            i++;
        }

        Object value() {
            char c = peek();
            if ((c == '{' || c == '[') && depth >= MAX_DEPTH) {
                throw fail("nested deeper than " + MAX_DEPTH + " levels");
            }
            if (c == '{' || c == '[') {
                depth++;
                try {
                    return any(c);
                } finally {
                    depth--;
                }
            }
            return any(c);
        }

        private Object any(char c) {
            switch (c) {
                case '{' -> {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (peek() == '}') {
                        i++;
                        return m;
                    }
                    while (true) {
                        ws();
                        String k = str();
                        ws();
                        expect(':');
                        ws();
                        m.put(k, value());
                        ws();
                        if (peek() == ',') {
                            i++;
                            continue;
                        }
                        expect('}');
                        return m;
                    }
                }
                case '[' -> {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (peek() == ']') {
                        i++;
                        return l;
                    }
                    while (true) {
                        ws();
                        l.add(value());
                        ws();
                        if (peek() == ',') {
                            i++;
                            continue;
                        }
                        expect(']');
                        return l;
                    }
                }
                case '"' -> {
                    return str();
                }
                case 't' -> {
                    word("true");
                    return Boolean.TRUE;
                }
                case 'f' -> {
                    word("false");
                    return Boolean.FALSE;
                }
                case 'n' -> {
                    word("null");
                    return null;
                }
                default -> {
                    return number();
                }
            }
        }

        void word(String w) {
            if (!s.startsWith(w, i)) {
                throw fail("expected " + w);
            }
            i += w.length();
        }

        Number number() {
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            String t = s.substring(start, i);
            if (t.isEmpty()) {
                throw fail("unexpected '" + peek() + "'");
            }
            try {
                if (t.indexOf('.') < 0 && t.indexOf('e') < 0 && t.indexOf('E') < 0) {
                    return Long.parseLong(t);
                }
                return Double.parseDouble(t);
            } catch (NumberFormatException e) {
                throw fail("bad number " + t);
            }
        }

        String str() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = peek();
                i++;
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = peek();
                i++;
                switch (e) {
                    case '"', '\\', '/' -> b.append(e);
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        if (i + 4 > s.length()) {
                            throw fail("short \\u escape");
                        }
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> throw fail("bad escape \\" + e);
                }
            }
        }
    }
}
