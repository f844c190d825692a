package dev.ebpftraffic.iface;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which interfaces to watch: --iface (names and shell-style globs, comma lists, the flag repeated;
 * "all" = every interface except loopback) minus --iface-exclude (globs). Loopback is watched only
 * when a pattern other than "all" matches it (e.g. "lo"). Exclusions win.
 *
 * <p>Globs: {@code *} any run of characters, {@code ?} one character, {@code [abc]}, {@code [a-z]},
 * {@code [!a-z]} (or {@code [^a-z]}), and {@code \} to take the next character literally.
 */
public final class IfacePatterns {
    public static final String ALL = "all";
    /** IFNAMSIZ - 1: the longest interface name Linux allows. */
    public static final int MAX_NAME = 15;

    private record Glob(String text, Pattern regex, boolean literal) {
    }

    private final List<Glob> include;
    private final List<Glob> exclude;
    private final boolean all;

    private IfacePatterns(List<Glob> include, List<Glob> exclude, boolean all) {
        this.include = include;
        this.exclude = exclude;
        this.all = all;
    }

    /**
     * Parses the values of every --iface and --iface-exclude flag (each may be a comma list).
     *
     * @throws IllegalArgumentException with a one-line message naming the flag and the bad pattern
     */
    public static IfacePatterns parse(List<String> ifaceValues, List<String> excludeValues) {
        List<Glob> inc = new ArrayList<>();
        boolean all = false;
        for (String v : ifaceValues) {
            for (String p : split("--iface", v)) {
                if (p.equals(ALL)) {
                    all = true;
                } else {
                    inc.add(glob("--iface", p));
                }
            }
        }
        if (inc.isEmpty() && !all) {
            throw new IllegalArgumentException("--iface is empty: name an interface, e.g. --iface eth0");
        }
        List<Glob> exc = new ArrayList<>();
        for (String v : excludeValues) {
            for (String p : split("--iface-exclude", v)) {
                if (p.equals(ALL)) {
                    throw new IllegalArgumentException("--iface-exclude all would exclude every interface: name the ones to leave out");
                }
                exc.add(glob("--iface-exclude", p));
            }
        }
        return new IfacePatterns(List.copyOf(inc), List.copyOf(exc), all);
    }

    private static List<String> split(String flag, String value) {
        List<String> out = new ArrayList<>();
        for (String p : value.split(",", -1)) {
            String t = p.strip();
            if (t.isEmpty()) {
                throw new IllegalArgumentException(flag + " \"" + value + "\" has an empty entry: separate names with single commas, e.g. eth0,ens*");
            }
            out.add(t);
        }
        return out;
    }

    private static Glob glob(String flag, String p) {
        StringBuilder re = new StringBuilder();
        boolean literal = true;
        int minLength = 0;
        for (int i = 0; i < p.length(); i++) {
            char c = p.charAt(i);
            if (c == '/' || c == ':' || Character.isWhitespace(c) || c < 0x20) {
                throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": interface names cannot contain '"
                        + (Character.isWhitespace(c) ? "whitespace" : String.valueOf(c)) + "'");
            }
            switch (c) {
                case '*' -> {
                    re.append(".*");
                    literal = false;
                }
                case '?' -> {
                    re.append('.');
                    literal = false;
                    minLength++;
                }
                case '[' -> {
                    int close = p.indexOf(']', i + 2); // a ']' right after '[' (or '[!') is a member
                    int start = i + 1;
                    if (start < p.length() && (p.charAt(start) == '!' || p.charAt(start) == '^')) {
                        close = p.indexOf(']', start + 2);
                    }
                    if (close < 0) {
                        throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": '[' at position " + (i + 1)
                                + " is not closed with ']'");
                    }
                    String body = p.substring(i + 1, close);
                    boolean negate = body.startsWith("!") || body.startsWith("^");
                    if (negate) {
                        body = body.substring(1);
                    }
                    re.append(negate ? "[^" : "[");
                    for (int j = 0; j < body.length(); j++) {
                        char b = body.charAt(j);
                        if (b == '-' && j > 0 && j < body.length() - 1) {
                            if (body.charAt(j - 1) > body.charAt(j + 1)) {
                                throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": range "
                                        + body.charAt(j - 1) + "-" + body.charAt(j + 1) + " is backwards");
                            }
                            re.append('-');
                        } else {
                            re.append(escapeClassChar(b));
                        }
                    }
                    re.append(']');
                    literal = false;
                    minLength++;
                    i = close;
                }
                case '\\' -> {
                    if (i + 1 >= p.length()) {
                        throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": it ends with a lone '\\'");
                    }
                    re.append(Pattern.quote(String.valueOf(p.charAt(++i))));
                    minLength++;
                    literal = false; // kept simple: an escaped pattern is matched, not required to exist
                }
                case ']' -> throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": ']' without '['");
                default -> {
                    re.append(Pattern.quote(String.valueOf(c)));
                    minLength++;
                }
            }
        }
        if (minLength > MAX_NAME) {
            throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": longer than " + MAX_NAME
                    + " characters, the longest interface name Linux allows");
        }
        if (literal && (p.equals(".") || p.equals(".."))) {
            throw new IllegalArgumentException("invalid " + flag + " \"" + p + "\": not an interface name");
        }
        return new Glob(p, Pattern.compile(re.toString()), literal);
    }

    private static String escapeClassChar(char b) {
        return (b == '\\' || b == '[' || b == ']' || b == '^' || b == '-' || b == '&') ? "\\" + b : String.valueOf(b);
    }

    /** Whether the interface is watched. */
    public boolean matches(String name, boolean loopback) {
        for (Glob g : exclude) {
            if (g.regex().matcher(name).matches()) {
                return false;
            }
        }
        if (all && !loopback) {
            return true;
        }
        for (Glob g : include) {
            if (g.regex().matcher(name).matches()) {
                return true;
            }
        }
        return false;
    }

    public boolean matches(Link l) {
        return matches(l.name(), l.loopback());
    }

    /** The plain names (no glob characters) given to --iface: each must exist at start-up. */
    public List<String> literals() {
        return include.stream().filter(Glob::literal).map(Glob::text).toList();
    }

    /**
     * Throws when a plain name given to --iface is not an interface that exists (a typo): the
     * check at start-up, wherever it is made.
     */
    public void requireLiterals(java.util.function.Predicate<String> exists) {
        for (String name : literals()) {
            if (!exists.test(name)) {
                throw new IllegalStateException("interface \"" + name + "\" does not exist: pick one from `ip link` with --iface");
            }
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof IfacePatterns p && p.all == all && texts(p.include).equals(texts(include))
                && texts(p.exclude).equals(texts(exclude));
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(all, texts(include), texts(exclude));
    }

    private static List<String> texts(List<Glob> globs) {
        return globs.stream().map(Glob::text).toList();
    }

    /** For the log: "eth0,ens* excluding veth*". */
    @Override
    public String toString() {
        List<String> inc = new ArrayList<>();
        if (all) {
            inc.add(ALL);
        }
        include.forEach(g -> inc.add(g.text()));
        String s = String.join(",", inc);
        if (!exclude.isEmpty()) {
            s += " excluding " + String.join(",", exclude.stream().map(Glob::text).toList());
        }
        return s;
    }
}
