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
 * <p>Passwords longer than 72 bytes: bcrypt uses the first 72 bytes, as htpasswd and OpenBSD do.
 */
public final class BasicAuth {
    private static final Pattern HASH = Pattern.compile("\\$2[aby]\\$(0[4-9]|[12][0-9]|3[01])\\$[./A-Za-z0-9]{53}");
    private static final int CACHE_MAX = 256;

    private final Map<String, byte[]> users;
    private final byte[] decoy;
    private final Map<String, Boolean> okCache = new ConcurrentHashMap<>();
    private final ReentrantLock bcryptLock = new ReentrantLock();
    private final BCrypt.Verifyer verifier = BCrypt.verifyer(null, LongPasswordStrategies.none());
    private final java.util.concurrent.atomic.AtomicLong comparisons = new java.util.concurrent.atomic.AtomicLong();

    BasicAuth(Map<String, String> hashes) {
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

    private static int cost(String hash) {
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
        if (authorization == null || authorization.length() < 6
                || !authorization.substring(0, 6).toLowerCase(Locale.ROOT).equals("basic ")) {
            return false;
        }
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(authorization.substring(6).trim());
        } catch (IllegalArgumentException e) {
            return false;
        }
        int colon = -1;
        for (int i = 0; i < decoded.length; i++) {
            if (decoded[i] == ':') {
                colon = i;
                break;
            }
        }
        if (colon < 0) {
            return false;
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
            return true;
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
            return true;
        }
        return false;
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
