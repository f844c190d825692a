package dev.ebpftraffic.cli;

import java.io.PrintStream;
import java.time.Instant;
import java.util.Locale;

/** logfmt lines on stderr: time=... level=info msg="...". */
public final class Log {
    public enum Level { DEBUG, INFO, WARN, ERROR }

    private static volatile Level threshold = Level.INFO;
    private static final PrintStream OUT = System.err;

    private Log() {
    }

    public static void setLevel(Level level) {
        threshold = level;
    }

    public static Level parseLevel(String s) {
        try {
            return Level.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new UsageException("invalid --log.level \"" + s + "\": use debug, info, warn or error");
        }
    }

    public static boolean enabled(Level level) {
        return level.compareTo(threshold) >= 0;
    }

    public static void debug(String msg) {
        log(Level.DEBUG, msg);
    }

    public static void info(String msg) {
        log(Level.INFO, msg);
    }

    public static void warn(String msg) {
        log(Level.WARN, msg);
    }

    public static void error(String msg) {
        log(Level.ERROR, msg);
    }

    public static void log(Level level, String msg) {
        if (!enabled(level)) {
            return;
        }
        String line = "time=" + Instant.now() + " level=" + level.name().toLowerCase(Locale.ROOT)
                + " msg=" + quote(msg);
        synchronized (OUT) {
            OUT.println(line);
        }
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                default -> sb.append(c);
            }
        }
        return sb.append('"').toString();
    }
}
