package dev.ebpftraffic.web;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ListenAddressTest {

    @ParameterizedTest
    @CsvSource(nullValues = "NULL", value = {
            // input, host, port, toString
            ":9091, NULL, 9091, :9091",
            ":1, NULL, 1, :1",
            ":65535, NULL, 65535, :65535",
            "127.0.0.1:9091, 127.0.0.1, 9091, 127.0.0.1:9091",
            "localhost:80, localhost, 80, localhost:80",
            "0.0.0.0:9100, 0.0.0.0, 9100, 0.0.0.0:9100",
            "[::1]:9091, ::1, 9091, [::1]:9091",
            "[fd00::1]:1, fd00::1, 1, [fd00::1]:1",
            "[::]:9091, ::, 9091, [::]:9091",
            ":09091, NULL, 9091, :9091",
    })
    void parses(String input, String host, int port, String text) {
        ListenAddress a = ListenAddress.parse(input);
        assertEquals(host, a.host());
        assertEquals(port, a.port());
        assertEquals(new ListenAddress(host, port), a);
        assertEquals(text, a.toString());
        assertEquals(a, ListenAddress.parse(a.toString())); // toString is valid --addr input
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            // input | words the message must contain (what to fix)
            "9091 | missing port",
            "localhost | missing port",
            ": | not a number",
            "127.0.0.1: | not a number",
            ":0 | out of range 1-65535",
            ":65536 | out of range 1-65535",
            ":99999 | out of range 1-65535",
            ":abc | not a number",
            ":-1 | not a number",
            ":+80 | not a number",
            ":123456 | not a number",
            "::1:9091 | need brackets",
            "fd00::1:80 | need brackets",
            "[::1] | missing port",
            "[fd00::1] | missing port",
            "[127.0.0.1]:80 | brackets are for IPv6",
            "[localhost]:80 | brackets are for IPv6",
            "[::1:80 | unbalanced brackets",
            "::1]:80 | need brackets",
            "[]:80 | unbalanced brackets",
            "host]:80 | unbalanced brackets",
            "[::1]x:80 | unbalanced brackets",
    })
    void rejects(String input, String mustMention) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse(input),
                () -> "accepted \"" + input + "\"");
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertFalse(m.contains("\r"), m);
        assertTrue(m.startsWith("invalid --addr \"" + input + "\": "), m);
        assertTrue(m.contains(mustMention), () -> "\"" + m + "\" does not mention " + mustMention);
        // Every message says what a valid value looks like: the forms, or the port range.
        assertTrue(m.contains(":9091") || m.contains("1-65535"), m);
    }
}
