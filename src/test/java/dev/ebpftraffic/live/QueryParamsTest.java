package dev.ebpftraffic.live;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The query-string walker the three live endpoints share ({@link Query.Params}). */
class QueryParamsTest {
    /** An endpoint with one own parameter, "tag", that records what it was given. */
    private static final class Tagged extends Query.Params {
        final List<String> own = new ArrayList<>();

        @Override
        boolean own(String name, String value) {
            if (!name.equals("tag")) {
                return false;
            }
            own.add(value);
            return true;
        }
    }

    private static Tagged walk(String raw) {
        Tagged p = new Tagged();
        p.walk(raw, "n, sort, order, direction, tag");
        return p;
    }

    private static String error(String raw) {
        String m = assertThrows(Query.BadQuery.class, () -> walk(raw), raw).getMessage();
        assertEquals(1, m.lines().count(), raw);
        return m;
    }

    @Test
    void sharedAndOwnParametersAreTakenDecoded() {
        Tagged p = walk("&n=7&&sort=packets_40s&order=asc&direction=outbound&tag=a%20b+c%E2%82%AC&");
        assertEquals(7, p.n);
        assertEquals(Query.Sort.PACKETS_40S, p.sort);
        assertTrue(p.ascending);
        assertEquals("outbound", p.direction);
        assertEquals(List.of("a b c\u20ac"), p.own);

        Tagged d = walk(null);
        assertEquals(Query.DEFAULT_N, d.n);
        assertEquals(Query.Sort.BITS_10S, d.sort);
        assertFalse(d.ascending);
        assertNull(d.direction);
        assertEquals(List.of(), walk("").own);
        assertEquals(List.of(""), walk("tag").own, "a name without = has the empty value");
    }

    @Test
    void errorsAreOneExactLine() {
        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("tag=a&tag=b", "query parameter \"tag\" is given twice");
        bad.put("n=1&n=1", "query parameter \"n\" is given twice");
        bad.put("tag=1&ta%67=2", "query parameter \"tag\" is given twice");
        bad.put("tag=%zz", "malformed query string: bad percent-encoding in \"%zz\"");
        bad.put("t%g=1", "malformed query string: bad percent-encoding in \"t%g\"");
        bad.put("tag=%4", "malformed query string: bad percent-encoding in \"%4\"");
        bad.put("ip=10.0.0.1", "unknown query parameter \"ip\" (known: n, sort, order, direction, tag)");
        bad.put("%0Aevil%0D=1", "unknown query parameter \"?evil?\" (known: n, sort, order, direction, tag)");
        bad.put("x".repeat(81), "unknown query parameter \"" + "x".repeat(80) + "...\" (known: n, sort, order, direction, tag)");
        bad.put("n=0", "invalid n 0: must be between 1 and 10000");
        bad.put("n=x%0a", "invalid n \"x?\": not a whole number");
        bad.put("sort=rate", "invalid sort \"rate\": use one of bits_2s, bits_10s, bits_40s, packets_2s, packets_10s, packets_40s, bytes, packets");
        bad.put("order=up", "invalid order \"up\": use asc or desc");
        bad.put("direction=in", "invalid direction \"in\": use inbound or outbound");
        // In order: the first bad parameter is the one reported.
        bad.put("n=0&nope=1", "invalid n 0: must be between 1 and 10000");
        bad.put("nope=1&n=0", "unknown query parameter \"nope\" (known: n, sort, order, direction, tag)");
        bad.put("tag=a&tag=%zz", "malformed query string: bad percent-encoding in \"%zz\"");
        bad.forEach((raw, msg) -> assertEquals(msg, error(raw), raw));
    }

    @Test
    void wholeNumbersKeepTheirBoundsAndName() {
        assertEquals(0, Query.whole("peers", "0", 0, 100));
        assertEquals(100, Query.whole("peers", "100", 0, 100));
        assertEquals("invalid peers 101: must be between 0 and 100",
                assertThrows(Query.BadQuery.class, () -> Query.whole("peers", "101", 0, 100)).getMessage());
        assertEquals("invalid peers \"99999999999999999999\": not a whole number",
                assertThrows(Query.BadQuery.class, () -> Query.whole("peers", "99999999999999999999", 0, 100)).getMessage());
    }
}
