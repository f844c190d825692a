package dev.ebpftraffic.flow;

import java.util.Locale;

/**
 * A 16-byte address as the kernel program stores it: IPv6, or IPv4 mapped as ::ffff:a.b.c.d.
 * Formatting follows RFC 5952 for IPv6; IPv4-mapped addresses print as plain IPv4.
 */
public record IpAddress(long hi, long lo) {
    private static final long MAPPED_LO_MASK = 0xFFFF_FFFF_0000_0000L;
    private static final long MAPPED_LO_PREFIX = 0x0000_FFFF_0000_0000L;

    public static IpAddress ofIpv4(int addr) {
        return new IpAddress(0, MAPPED_LO_PREFIX | (addr & 0xFFFF_FFFFL));
    }

    public static IpAddress ofBytes(byte[] b) {
        if (b.length == 4) {
            return ofIpv4(((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff));
        }
        if (b.length != 16) {
            throw new IllegalArgumentException("an IP address has 4 or 16 bytes, not " + b.length);
        }
        long hi = 0;
        long lo = 0;
        for (int i = 0; i < 8; i++) {
            hi = (hi << 8) | (b[i] & 0xff);
            lo = (lo << 8) | (b[i + 8] & 0xff);
        }
        return new IpAddress(hi, lo);
    }

    /** Parses dotted IPv4 or any IPv6 text form; never does a DNS lookup. */
    public static IpAddress parse(String text) {
        if (text.indexOf(':') < 0) {
            return ofIpv4(parseIpv4(text));
        }
        return parseIpv6(text);
    }

    public boolean isIpv4() {
        return hi == 0 && (lo & MAPPED_LO_MASK) == MAPPED_LO_PREFIX;
    }

    /** The IPv4 address as an unsigned 32-bit value in an int; only meaningful when isIpv4(). */
    public int ipv4() {
        return (int) lo;
    }

    /** Group i (0..7) of the IPv6 form. */
    int group(int i) {
        long word = i < 4 ? hi : lo;
        return (int) (word >>> (48 - 16 * (i & 3))) & 0xFFFF;
    }

    @Override
    public String toString() {
        if (isIpv4()) {
            int a = ipv4();
            return ((a >>> 24) & 0xff) + "." + ((a >>> 16) & 0xff) + "." + ((a >>> 8) & 0xff) + "." + (a & 0xff);
        }
        // RFC 5952: the longest run (>= 2) of zero groups becomes "::", the first one on a tie.
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; ) {
            if (group(i) != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && group(j) == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(group(i)));
        }
        return sb.toString();
    }

    private static int parseIpv4(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("not an IP address: " + s);
        }
        int v = 0;
        for (String p : parts) {
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("not an IP address: " + s);
            }
            int n = Integer.parseInt(p);
            if (n > 255) {
                throw new IllegalArgumentException("not an IP address: " + s);
            }
            v = (v << 8) | n;
        }
        return v;
    }

    private static IpAddress parseIpv6(String s) {
        String text = s.toLowerCase(Locale.ROOT);
        int[] groups = new int[8];
        int dbl = text.indexOf("::");
        if (dbl >= 0 && (text.indexOf("::", dbl + 1) >= 0 || text.lastIndexOf('.', dbl) >= 0)) { // dotted IPv4 only last
            throw new IllegalArgumentException("not an IP address: " + s);
        }
        String head = dbl >= 0 ? text.substring(0, dbl) : text;
        String tail = dbl >= 0 ? text.substring(dbl + 2) : "";
        int[] h = parseGroups(head, s);
        int[] t = parseGroups(tail, s);
        if (dbl < 0 && h.length != 8 || dbl >= 0 && h.length + t.length > 7) {
            throw new IllegalArgumentException("not an IP address: " + s);
        }
        System.arraycopy(h, 0, groups, 0, h.length);
        System.arraycopy(t, 0, groups, 8 - t.length, t.length);
        long hi = 0;
        long lo = 0;
        for (int i = 0; i < 4; i++) {
            hi = (hi << 16) | groups[i];
            lo = (lo << 16) | groups[i + 4];
        }
        return new IpAddress(hi, lo);
    }

    private static int[] parseGroups(String part, String original) {
        if (part.isEmpty()) {
            return new int[0];
        }
        String[] items = part.split(":", -1);
        boolean dottedTail = items[items.length - 1].indexOf('.') >= 0;
        int[] out = new int[items.length + (dottedTail ? 1 : 0)];
        for (int i = 0; i < items.length; i++) {
            String g = items[i];
            if (dottedTail && i == items.length - 1) {
                int v4;
                try {
                    v4 = parseIpv4(g);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("not an IP address: " + original);
                }
                out[i] = v4 >>> 16;
                out[i + 1] = v4 & 0xFFFF;
                break;
            }
            // Only ASCII hex digits: Integer.parseInt alone would take a sign and non-ASCII digits.
            if (g.isEmpty() || g.length() > 4
                    || !g.chars().allMatch(c -> c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                throw new IllegalArgumentException("not an IP address: " + original);
            }
            out[i] = Integer.parseInt(g, 16);
        }
        return out;
    }
}
