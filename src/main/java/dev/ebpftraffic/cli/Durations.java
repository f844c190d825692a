package dev.ebpftraffic.cli;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Prometheus-style durations: 500ms, 30s, 10m, 1h30m, 1d. */
public final class Durations {
    /** The longest duration accepted: 100 years, far below what nanoseconds in a long can hold (292 years). */
    public static final Duration MAX = Duration.ofDays(36500);
    private static final Pattern PART = Pattern.compile("(\\d+)(ms|s|m|h|d)");

    private Durations() {
    }

    public static Duration parse(String flag, String s) {
        String hint = "invalid " + flag + " \"" + s + "\": use a duration such as 30s, 10m or 1h30m";
        if (s.isEmpty()) {
            throw new UsageException(hint);
        }
        Matcher m = PART.matcher(s);
        Duration d = Duration.ZERO;
        int pos = 0;
        while (pos < s.length()) {
            if (!m.find(pos) || m.start() != pos) {
                throw new UsageException(hint);
            }
            long n;
            try {
                n = Long.parseLong(m.group(1));
            } catch (NumberFormatException e) {
                throw new UsageException(hint);
            }
            try {
                d = d.plus(switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    case "h" -> Duration.ofHours(n);
                    default -> Duration.ofDays(n);
                });
            } catch (ArithmeticException e) {
                d = MAX.plusDays(1);
            }
            pos = m.end();
        }
        if (d.compareTo(MAX) > 0) { // later arithmetic in nanoseconds must not overflow
            throw new UsageException("invalid " + flag + " \"" + s + "\": too long; use at most " + MAX.toDays() + "d");
        }
        return d;
    }
}
