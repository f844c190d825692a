package dev.ebpftraffic.cli;

import java.io.PrintStream;
import java.time.Instant;
import java.util.Locale;

/**
 * One line per event on stderr, as logfmt ({@code time=... level=info msg="..."}) or, with
 * --log.format json, as a JSON object ({@code {"time":"...","level":"info","msg":"..."}}).
 */
public final class Log {
    public enum Level { DEBUG, INFO, WARN, ERROR }

    /** --log.format */
    public enum Format { LOGFMT, JSON }

    private static volatile Level threshold = Level.INFO;
    private static volatile Format format = Format.LOGFMT;
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

    public static void setFormat(Format f) {
        format = f;
    }

    public static Format parseFormat(String s) {
        try {
            return Format.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new UsageException("invalid --log.format \"" + s + "\": use logfmt or json");
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
        String line = format(format, Instant.now(), level, msg);
        synchronized (OUT) {
            OUT.println(line);
        }
    }

    static String format(Format f, Instant time, Level level, String msg) {
        String lvl = level.name().toLowerCase(Locale.ROOT);
        if (f == Format.JSON) {
            return "{\"time\":" + json(time.toString()) + ",\"level\":" + json(lvl) + ",\"msg\":" + json(msg) + "}";
        }
        return "time=" + time + " level=" + lvl + " msg=" + quote(msg);
    }

    /** A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped. */
    static String json(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (ControlChars.isControl(c)) { // C0, and DEL and C1 too: a terminal may act on them
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (ControlChars.isControl(c)) {
                        ControlChars.hex(sb, c); // ESC, BEL, backspace...: text, never a terminal command
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
