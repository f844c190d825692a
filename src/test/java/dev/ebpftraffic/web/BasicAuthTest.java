package dev.ebpftraffic.web;

import dev.ebpftraffic.deploy.Htpasswd;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** basic_auth_users against hashes made by the real htpasswd (apache2-utils). */
class BasicAuthTest {
    static final String LONG = "0123456789".repeat(10); // 100 bytes: bcrypt uses the first 72
    static String promHash;
    static String longHash;

    @BeforeAll
    static void hashes() {
        promHash = Htpasswd.hash("prometheus", "s3cret:with colon", 5);
        longHash = Htpasswd.hash("long", LONG, 4);
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    static BasicAuth auth(String... userHash) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < userHash.length; i += 2) {
            m.put(userHash[i], userHash[i + 1]);
        }
        return new BasicAuth(m);
    }

    @Test
    void htpasswdHashesAreAcceptedAndChecked() {
        assertTrue(promHash.startsWith("$2y$05$"), promHash);
        assertTrue(BasicAuth.isBcryptHash(promHash));
        BasicAuth a = auth("prometheus", promHash);
        assertTrue(a.check(basic("prometheus", "s3cret:with colon")));
        assertFalse(a.check(basic("prometheus", "s3cret:with colo")));
        assertFalse(a.check(basic("prometheus", "s3cret:with colonx")));
        assertFalse(a.check(basic("Prometheus", "s3cret:with colon")));
        assertFalse(a.check(basic("nobody", "s3cret:with colon")));
    }

    @Test
    void theSameHashUnder2a2band2yPrefixes() {
        // For passwords under 255 bytes, $2a$, $2b$ and $2y$ are the same function.
        for (String prefix : new String[]{"$2a$", "$2b$", "$2y$"}) {
            String h = prefix + promHash.substring(4);
            assertTrue(BasicAuth.isBcryptHash(h), h);
            assertTrue(auth("prometheus", h).check(basic("prometheus", "s3cret:with colon")), prefix);
            assertFalse(auth("prometheus", h).check(basic("prometheus", "wrong")), prefix);
        }
    }

    @Test
    void longPasswordsUseTheirFirst72BytesLikeHtpasswd() {
        BasicAuth a = auth("long", longHash);
        assertTrue(a.check(basic("long", LONG)));
        assertTrue(a.check(basic("long", LONG.substring(0, 72))));
        assertTrue(a.check(basic("long", LONG.substring(0, 72) + "anything")));
        assertFalse(a.check(basic("long", LONG.substring(0, 71))));
    }

    @Test
    void malformedHeadersAreRejectedWithoutAComparison() {
        BasicAuth a = auth("prometheus", promHash);
        for (String h : new String[]{null, "", "Bearer abc", "Basic", "Basic !!!",
                "Basic " + Base64.getEncoder().encodeToString("no-colon".getBytes(StandardCharsets.UTF_8))}) {
            assertFalse(a.check(h), String.valueOf(h));
        }
        assertEquals(0, a.comparisons());
        assertTrue(a.check("bAsIc " + basic("prometheus", "s3cret:with colon").substring(6)), "scheme is case-insensitive");
    }

    @Test
    void everyFailureRunsOneBcryptComparisonAndOnlySuccessIsCached() {
        BasicAuth a = auth("prometheus", promHash);
        assertFalse(a.check(basic("unknown-user", "x")));
        assertEquals(1, a.comparisons(), "an unknown user costs a comparison too");
        assertFalse(a.check(basic("unknown-user", "x")));
        assertEquals(2, a.comparisons());
        assertFalse(a.check(basic("prometheus", "wrong")));
        assertFalse(a.check(basic("prometheus", "wrong")));
        assertEquals(4, a.comparisons(), "failures are never cached");
        assertTrue(a.check(basic("prometheus", "s3cret:with colon")));
        assertEquals(5, a.comparisons());
        assertTrue(a.check(basic("prometheus", "s3cret:with colon")));
        assertEquals(5, a.comparisons(), "a success is cached");
        assertFalse(a.check(basic("prometheus", "wrong")));
        assertEquals(6, a.comparisons());
    }

    @Test
    void unknownUsersTakeAsLongAsWrongPasswords() {
        String costly = Htpasswd.hash("alice", "pw", 11);
        BasicAuth a = auth("alice", costly);
        a.check(basic("alice", "warm-up"));
        long wrong = Long.MAX_VALUE;
        long unknown = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            assertFalse(a.check(basic("alice", "wrong" + i)));
            long t1 = System.nanoTime();
            assertFalse(a.check(basic("mallory" + i, "wrong")));
            long t2 = System.nanoTime();
            wrong = Math.min(wrong, t1 - t0);
            unknown = Math.min(unknown, t2 - t1);
        }
        // A cost-11 bcrypt takes tens of milliseconds; a shortcut would take microseconds.
        assertTrue(wrong > 10_000_000, "wrong password took " + wrong + " ns");
        assertTrue(unknown > wrong / 2, "unknown user took " + unknown + " ns, wrong password " + wrong + " ns");
    }

    @Test
    void hashSyntax() {
        String body = promHash.substring(7);
        assertTrue(BasicAuth.isBcryptHash("$2y$10$" + body));
        assertTrue(BasicAuth.isBcryptHash("$2b$31$" + body));
        assertFalse(BasicAuth.isBcryptHash("$2x$10$" + body));
        assertFalse(BasicAuth.isBcryptHash("$2y$03$" + body));
        assertFalse(BasicAuth.isBcryptHash("$2y$32$" + body));
        assertFalse(BasicAuth.isBcryptHash("$2y$10$" + body.substring(1)));
        assertFalse(BasicAuth.isBcryptHash("s3cret"));
        assertFalse(BasicAuth.isBcryptHash("$apr1$abc$def"));
    }

    @Test
    void failedChecksPerClientAreLimitedWithoutABcryptRun() {
        long[] now = {1_000_000};
        BasicAuth a = new BasicAuth(Map.of("prometheus", promHash), () -> now[0]);
        String good = basic("prometheus", "s3cret:with colon");
        String bad = basic("prometheus", "wrong");
        assertEquals(BasicAuth.Result.OK, a.check(good, "192.0.2.1")); // cached from now on
        long before = a.comparisons();
        for (int i = 0; i < BasicAuth.FAILURE_BURST; i++) {
            assertEquals(BasicAuth.Result.DENIED, a.check(bad, "192.0.2.1"), "failure " + i);
        }
        for (int i = 0; i < 100; i++) {
            assertEquals(BasicAuth.Result.LIMITED, a.check(bad, "192.0.2.1"));
            assertEquals(BasicAuth.Result.LIMITED, a.check(basic("nobody", "x"), "192.0.2.1"));
        }
        assertEquals(before + BasicAuth.FAILURE_BURST, a.comparisons(), "no bcrypt run once limited");
        // A cached success still passes; another client is not limited.
        assertEquals(BasicAuth.Result.OK, a.check(good, "192.0.2.1"));
        assertEquals(BasicAuth.Result.DENIED, a.check(bad, "198.51.100.7"));
        // One more failure per refill interval.
        now[0] += BasicAuth.FAILURE_REFILL_MILLIS - 1;
        assertEquals(BasicAuth.Result.LIMITED, a.check(bad, "192.0.2.1"));
        now[0] += 1;
        assertEquals(BasicAuth.Result.DENIED, a.check(bad, "192.0.2.1"));
        assertEquals(BasicAuth.Result.LIMITED, a.check(bad, "192.0.2.1"));
        // After a long pause, the whole burst again.
        now[0] += 3600_000;
        for (int i = 0; i < BasicAuth.FAILURE_BURST; i++) {
            assertEquals(BasicAuth.Result.DENIED, a.check(bad, "192.0.2.1"), "failure " + i + " after a pause");
        }
        assertEquals(BasicAuth.Result.LIMITED, a.check(bad, "192.0.2.1"));
        assertEquals(before + 2L * BasicAuth.FAILURE_BURST + 2, a.comparisons());
    }

    @Test
    void aSuccessDoesNotUseUpTheBudget() {
        long[] now = {0};
        String hash = Htpasswd.hash("p", "pw", 4);
        BasicAuth a = new BasicAuth(Map.of("p", hash, "q", hash), () -> now[0]);
        // Distinct passwords are not cached together: each success runs bcrypt, and gives its token back.
        for (int i = 0; i < 3 * BasicAuth.FAILURE_BURST; i++) {
            assertEquals(BasicAuth.Result.OK, a.check(basic(i % 2 == 0 ? "p" : "q", "pw"), "192.0.2.1"));
        }
        for (int i = 0; i < BasicAuth.FAILURE_BURST; i++) {
            assertEquals(BasicAuth.Result.DENIED, a.check(basic("p", "no"), "192.0.2.1"));
        }
        assertEquals(BasicAuth.Result.LIMITED, a.check(basic("p", "no"), "192.0.2.1"));
    }
}
