package dev.ebpftraffic.cli;

/**
 * Text from outside (interface names, a server's answer, a config value) made safe to print on a
 * terminal or in a log line: every control character (C0, DEL and C1) becomes {@code \xHH}, so an
 * ESC, BEL or backspace in a name shows as text instead of moving the cursor, setting the window
 * title or recolouring the screen. Everything else is kept as it is.
 */
public final class ControlChars {
    private ControlChars() {
    }

    public static boolean isControl(char c) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
    }

    /** s with each control character as \xHH; s itself when it has none. Null stays null. */
    public static String escape(String s) {
        if (s == null) {
            return null;
        }
        int i = 0;
        while (i < s.length() && !isControl(s.charAt(i))) {
            i++;
        }
        if (i == s.length()) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length() + 8).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (isControl(c)) {
                hex(b, c);
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** Appends \xHH for a character below U+0100. */
    public static void hex(StringBuilder b, char c) {
        b.append("\\x").append(Character.forDigit(c >> 4 & 0xf, 16)).append(Character.forDigit(c & 0xf, 16));
    }
}
