package dev.ebpftraffic.cli;

import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Control characters from outside never reach a terminal or a log line raw. */
class ControlCharsTest {
    static final String OSC_TITLE = "\033]0;PWN\007";
    static final Instant T = Instant.parse("2026-01-02T03:04:05Z");

    @Test
    void everyControlCharacterIsEscaped() {
        assertEquals("\\x1b]0;PWN\\x07", ControlChars.escape(OSC_TITLE));
        assertEquals("a\\x08b\\x7fc\\x9bd\\x00e\\x0a\\x0d", ControlChars.escape("a\bb\u007fc\u009bd\u0000e\n\r"));
        StringBuilder all = new StringBuilder();
        for (char c = 0; c < 0x100; c++) {
            all.append(c);
        }
        String e = ControlChars.escape(all.toString());
        for (char c : e.toCharArray()) {
            assertEquals(false, ControlChars.isControl(c), "left raw: " + (int) c);
        }
        // 32 C0 + DEL + 32 C1 become 4 characters each; the other 191 stay.
        assertEquals(65 * 4 + 191, e.length());
        String plain = "eth0 · veth-ünïcode";
        assertSame(plain, ControlChars.escape(plain));
        assertEquals(null, ControlChars.escape(null));
    }

    @Test
    void logfmtEscapesControlCharacters() {
        assertEquals("time=2026-01-02T03:04:05Z level=warn msg=\"interface \\\"\\x1b]0;PWN\\x07\\\" gone\\r\\n\\x08\\x9b\"",
                Log.format(Log.Format.LOGFMT, T, Log.Level.WARN, "interface \"" + OSC_TITLE + "\" gone\r\n\b\u009b"));
    }

    @Test
    void jsonEscapesControlCharactersIncludingDelAndC1() {
        assertEquals("{\"time\":\"2026-01-02T03:04:05Z\",\"level\":\"info\",\"msg\":\"\\u001b]0;PWN\\u0007 \\u007f\\u009b\"}",
                Log.format(Log.Format.JSON, T, Log.Level.INFO, OSC_TITLE + " \u007f\u009b"));
    }
}
