package dev.ebpftraffic.workload;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo. Unified hosts mount it at
 * /sys/fs/cgroup, hybrid ones at /sys/fs/cgroup/unified; a host with only cgroup v1 has none, and
 * then the workload feature is off with the one-line {@link Missing#message()}.
 */
public sealed interface Cgroup2Mount {

    Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    /**
     * The cgroup2 mount. root is the mountinfo root field: the cgroup the mount shows as its top
     * ("/" on the host; another path inside a cgroup namespace or for a bind mount of a subtree).
     */
    record Found(Path mountPoint, String root) implements Cgroup2Mount {
    }

    /** No usable cgroup2 mount; message says why in one line. */
    record Missing(String message) implements Cgroup2Mount {
    }

    /**
     * This process's cgroup2 mount. Besides parsing, checks that the mount point really shows a
     * cgroup2 root (cgroup.controllers): `ip netns exec` remounts /sys and so hides it.
     */
    static Cgroup2Mount find() {
        String text;
        try {
            text = new String(Files.readAllBytes(MOUNTINFO), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return new Missing("cgroup v2 not found: cannot read " + MOUNTINFO + ": " + e.getMessage()
                    + "; per-workload traffic is off");
        }
        Cgroup2Mount m = parse(text);
        if (m instanceof Found f && !Files.isRegularFile(f.mountPoint().resolve("cgroup.controllers"))) {
            return new Missing("cgroup v2 is mounted at " + f.mountPoint() + " but not visible there (no cgroup.controllers;"
                    + " is /sys remounted, as by `ip netns exec`? use `nsenter --net=...` instead); per-workload traffic is off");
        }
        return m;
    }

    /**
     * The cgroup2 mount in a mountinfo text (proc(5)): the first visible one whose root is "/", else
     * the first visible one. A mount is hidden when a later one is mounted on its mount point or on a
     * directory above it, outside its own chain of parents (the kernel lists mounts in mount order).
     */
    static Cgroup2Mount parse(String mountinfo) {
        List<Entry> entries = new ArrayList<>();
        for (String line : mountinfo.split("\n")) {
            Entry e = Entry.parse(line);
            if (e != null) {
                entries.add(e);
            }
        }
        Map<Integer, Entry> byId = new HashMap<>();
        for (Entry e : entries) {
            byId.putIfAbsent(e.id, e);
        }
        Entry best = null;
        Entry hidden = null;
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            if (!e.fsType.equals("cgroup2")) {
                continue;
            }
            if (isHidden(entries, i, byId)) {
                hidden = hidden == null ? e : hidden;
                continue;
            }
            if (best == null || (!best.root.equals("/") && e.root.equals("/"))) {
                best = e;
            }
        }
        if (best != null) {
            try {
                return new Found(Path.of(best.mountPoint), best.root);
            } catch (InvalidPathException ex) {
                return new Missing("cgroup v2 mount point " + best.mountPoint + " is not a valid path here (" + ex.getReason()
                        + "); per-workload traffic is off");
            }
        }
        if (hidden != null) {
            return new Missing("cgroup v2 is mounted at " + hidden.mountPoint + " but hidden by a later mount (is /sys remounted,"
                    + " as by `ip netns exec`? use `nsenter --net=...` instead); per-workload traffic is off");
        }
        return new Missing("no cgroup v2 (cgroup2) mount in " + MOUNTINFO + " (a cgroup v1 only host, or /sys remounted as by"
                + " `ip netns exec`: use `nsenter --net=...` instead); per-workload traffic is off");
    }

    private static boolean isHidden(List<Entry> entries, int index, Map<Integer, Entry> byId) {
        Entry e = entries.get(index);
        for (int j = index + 1; j < entries.size(); j++) {
            Entry later = entries.get(j);
            if (isAtOrAbove(later.mountPoint, e.mountPoint) && !isParentOf(later, e, byId)) {
                return true;
            }
        }
        return false;
    }

    /** True when a (a mount point) is p itself or a directory above it. */
    private static boolean isAtOrAbove(String a, String p) {
        return a.equals(p) || a.equals("/") || p.startsWith(a.endsWith("/") ? a : a + "/");
    }

    private static boolean isParentOf(Entry candidate, Entry e, Map<Integer, Entry> byId) {
        Entry p = byId.get(e.parent);
        for (int depth = 0; p != null && depth < 4096; depth++) {
            if (p == candidate) {
                return true;
            }
            if (p.parent == p.id) {
                break;
            }
            p = byId.get(p.parent);
        }
        return false;
    }

    /** One mountinfo line: the fields this needs, unescaped. */
    record Entry(int id, int parent, String root, String mountPoint, String fsType) {
        /**
         * Parses "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue":
         * six fixed fields, zero or more optional fields, "-", then fs type, source and super options.
         * Returns null for a line that does not have that shape.
         */
        static Entry parse(String line) {
            String[] f = line.split(" ");
            int sep = -1;
            for (int i = 6; i < f.length; i++) {
                if (f[i].equals("-")) {
                    sep = i;
                    break;
                }
            }
            if (sep < 0 || sep + 1 >= f.length) {
                return null;
            }
            try {
                return new Entry(Integer.parseInt(f[0]), Integer.parseInt(f[1]), unescape(f[3]), unescape(f[4]), unescape(f[sep + 1]));
            } catch (NumberFormatException e) {
                return null;
            }
        }
    }

    /**
     * Undoes the kernel's escaping of space, tab, newline and backslash (\040, \011, \012, \134) in
     * mountinfo fields. The input holds one char per byte (read as ISO-8859-1); other bytes are
     * raw, so the result is decoded as UTF-8 at the end.
     */
    static String unescape(String field) {
        if (field.indexOf('\\') < 0 && isAscii(field)) {
            return field;
        }
        byte[] out = new byte[field.length()];
        int n = 0;
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && isOctal(field.charAt(i + 1)) && isOctal(field.charAt(i + 2))
                    && isOctal(field.charAt(i + 3))) {
                int v = (field.charAt(i + 1) - '0') * 64 + (field.charAt(i + 2) - '0') * 8 + (field.charAt(i + 3) - '0');
                if (v <= 0xff) {
                    out[n++] = (byte) v;
                    i += 3;
                    continue;
                }
            }
            out[n++] = (byte) c;
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }

    private static boolean isOctal(char c) {
        return c >= '0' && c <= '7';
    }

    private static boolean isAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) >= 0x80) {
                return false;
            }
        }
        return true;
    }
}
