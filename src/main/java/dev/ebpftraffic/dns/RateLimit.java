package dev.ebpftraffic.dns;

/**
 * A token bucket: at most {@code perSecond} on average, and at most {@code perSecond} at once
 * after a quiet while. Not thread-safe: the caller holds its lock.
 */
final class RateLimit {
    private final double perNano;
    private final double burst;
    private double tokens;
    private long last;

    RateLimit(int perSecond, long now) {
        if (perSecond < 1) {
            throw new IllegalArgumentException("rate must be at least 1 per second");
        }
        this.perNano = perSecond / 1e9;
        this.burst = perSecond;
        this.tokens = perSecond;
        this.last = now;
    }

    /** Takes one token if there is one. */
    boolean tryAcquire(long now) {
        if (now > last) {
            tokens = Math.min(burst, tokens + (now - last) * perNano);
            last = now;
        }
        if (tokens >= 1) {
            tokens -= 1;
            return true;
        }
        return false;
    }
}
