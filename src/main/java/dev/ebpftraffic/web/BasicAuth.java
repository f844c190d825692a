package dev.ebpftraffic.web;

import at.favre.lib.crypto.bcrypt.BCrypt;
import at.favre.lib.crypto.bcrypt.LongPasswordStrategies;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * basic_auth_users: HTTP basic auth against bcrypt hashes, as the exporter-toolkit does it.
 *
 * <p>No timing shortcut: every request with credentials runs one bcrypt comparison, also for an
 * unknown user (against a hash made at start-up with the highest cost configured), so neither the
 * user names nor the hashes can be told apart by response time. Only successful checks are cached
 * (by user and a SHA-256 of hash and password), so a scrape every second does not cost a bcrypt
 * run each time; a wrong password always pays the full price. Comparisons run one at a time, as in
 * the toolkit, so a flood of bad passwords costs one core at most.
 *
 * <p>Limits: a hash may cost at most {@link #MAX_COST} (each bad password costs one run of it, and
 * start-up one more); and each client (IP address) may fail {@link #FAILURE_BURST} checks in a row,
 * then one more per {@link #FAILURE_REFILL_MILLIS} ms. Over that it gets 429 without a bcrypt run,
 * so a login flood burns little CPU, and scrapes with the right password (cached) still pass.
 *
 * <p>Passwords longer than 72 bytes: bcrypt uses the first 72 bytes, as htpasswd and OpenBSD do.
 */
public final class BasicAuth {
    private static final Pattern HASH = Pattern.compile("\\$2[aby]\\$(0[4-9]|[12][0-9]|3[01])\\$[./A-Za-z0-9]{53}");
    private static final int CACHE_MAX = 256;
    /** The highest bcrypt cost accepted: about 0.3 s of CPU per check on a 2020s core; 13 and up are refused. */
    public static final int MAX_COST = 12;
    /** Failed checks a client may make at once before it is limited. */
    public static final int FAILURE_BURST = 5;
    /** Then one more failed check per this many milliseconds. */
    public static final long FAILURE_REFILL_MILLIS = 1000;
    /** Clients tracked at most; beyond that the ones with a full budget are forgotten first. */
    private static final int CLIENTS_MAX = 4096;

    /** What a request's credentials amount to. */
    public enum Result { OK, DENIED, LIMITED }

    private final Map<String, byte[]> users;
    private final byte[] decoy;
    private final Map<String, Boolean> okCache = new ConcurrentHashMap<>();
    private final ReentrantLock bcryptLock = new ReentrantLock();
    private final BCrypt.Verifyer verifier = BCrypt.verifyer(null, LongPasswordStrategies.none());
    private final java.util.concurrent.atomic.AtomicLong comparisons = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.function.LongSupplier clock;
    /** Per client: the time (clock ms) at which its failure budget is full again; see {@link #take}. */
    private final Map<String, Long> budgets = new java.util.HashMap<>();

    BasicAuth(Map<String, String> hashes) {
        this(hashes, () -> System.nanoTime() / 1_000_000);
    }

    /** @param clock milliseconds, monotonic (tests pass their own) */
    BasicAuth(Map<String, String> hashes, java.util.function.LongSupplier clock) {
        this.clock = clock;
        Map<String, byte[]> u = new ConcurrentHashMap<>();
        int maxCost = 4;
        for (Map.Entry<String, String> e : hashes.entrySet()) {
            u.put(e.getKey(), e.getValue().getBytes(StandardCharsets.US_ASCII));
            maxCost = Math.max(maxCost, cost(e.getValue()));
        }
        this.users = Map.copyOf(u);
        byte[] random = new byte[16];
        new SecureRandom().nextBytes(random);
        this.decoy = BCrypt.with(BCrypt.Version.VERSION_2Y).hash(maxCost, HexFormat.of().formatHex(random).toCharArray());
    }

    /** A bcrypt hash as htpasswd -B makes it ($2y$), or $2a$/$2b$, cost 4-31. */
    static boolean isBcryptHash(String s) {
        return HASH.matcher(s).matches();
    }

    static int cost(String hash) {
        return Integer.parseInt(hash.substring(4, 6));
    }

    /** bcrypt comparisons run so far (for tests: one per request that is not a cached success). */
    long comparisons() {
        return comparisons.get();
    }

    int userCount() {
        return users.size();
    }

    /**
     * True when the Authorization header carries a configured user and the right password.
     *
     * @param authorization the header value, or null
     */
    public boolean check(String authorization) {
        return check(authorization, null) == Result.OK;
    }

    /**
     * As {@link #check(String)}, with the failure limit of the client (its IP address; null for none).
     * A cached success passes even when the client is limited.
     */
    public Result check(String authorization, String client) {
        if (authorization == null || authorization.length() < 6
                || !authorization.substring(0, 6).toLowerCase(Locale.ROOT).equals("basic ")) {
            return Result.DENIED;
        }
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(authorization.substring(6).trim());
        } catch (IllegalArgumentException e) {
            return Result.DENIED;
        }
        int colon = -1;
        for (int i = 0; i < decoded.length; i++) {
            if (decoded[i] == ':') {
                colon = i;
                break;
            }
        }
        if (colon < 0) {
            return Result.DENIED;
        }
        String user = new String(decoded, 0, colon, StandardCharsets.UTF_8);
        byte[] password = Arrays.copyOfRange(decoded, colon + 1, decoded.length);
        byte[] hash = users.get(user);
        boolean known = hash != null;
        if (!known) {
            hash = decoy; // unknown user: same work as a known one
        }
        String cacheKey = user + '\u0000' + sha256(hash, password);
        if (known && okCache.containsKey(cacheKey)) {
            return Result.OK;
        }
        if (client != null && !take(client)) {
            return Result.LIMITED;
        }
        boolean ok;
        bcryptLock.lock();
        try {
            comparisons.incrementAndGet();
            ok = verifier.verify(password, hash).verified;
        } catch (RuntimeException e) {
            ok = false;
        } finally {
            bcryptLock.unlock();
        }
        if (ok && known) {
            if (okCache.size() >= CACHE_MAX) {
                okCache.clear();
            }
            okCache.put(cacheKey, Boolean.TRUE);
            if (client != null) {
                refund(client);
            }
            return Result.OK;
        }
        return Result.DENIED;
    }

    /*
     * The failure budget as one number per client: the time its budget is full again. Taking one
     * check moves it on by the refill interval (from now, if it was full); the client is over the
     * limit when that time would be more than BURST intervals ahead. Taken before the bcrypt run,
     * so parallel requests cannot all slip through before the first failure is counted.
     */
    private synchronized boolean take(String client) {
        long now = clock.getAsLong();
        long full = Math.max(now, budgets.getOrDefault(client, now));
        long next = full + FAILURE_REFILL_MILLIS;
        if (next - now > FAILURE_BURST * FAILURE_REFILL_MILLIS) {
            return false;
        }
        if (budgets.size() >= CLIENTS_MAX && !budgets.containsKey(client)) {
            budgets.values().removeIf(t -> t <= now);
            if (budgets.size() >= CLIENTS_MAX) {
                budgets.clear(); // under a flood from this many addresses the bcrypt lock is the bound
            }
        }
        budgets.put(client, next);
        return true;
    }

    private synchronized void refund(String client) {
        Long t = budgets.get(client);
        if (t != null) {
            budgets.put(client, t - FAILURE_REFILL_MILLIS);
        }
    }

    private static String sha256(byte[] hash, byte[] password) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(hash);
            md.update((byte) 0);
            md.update(password);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
