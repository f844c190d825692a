package dev.ebpftraffic.cli;

import dev.ebpftraffic.web.ListenAddress;

import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The exporter-toolkit style flags: --web.*, --log.format. */
class WebFlagsTest {
    @Test
    void defaults() {
        Options o = Options.parse(new String[0]);
        assertEquals(new ListenAddress(null, 9091), o.addr());
        assertEquals("/metrics", o.telemetryPath());
        assertNull(o.webConfigFile());
        assertEquals(Log.Format.LOGFMT, o.logFormat());
    }

    @Test
    void webListenAddressIsTheLongFormOfAddr() {
        assertEquals(new ListenAddress("127.0.0.1", 9100), Options.parse(new String[]{"--web.listen-address", "127.0.0.1:9100"}).addr());
        assertEquals(new ListenAddress("::1", 9100), Options.parse(new String[]{"--web.listen-address=[::1]:9100"}).addr());
        assertEquals(new ListenAddress(null, 9200), Options.parse(new String[]{"--addr", ":9200"}).addr());
        // the last one given wins, whichever spelling
        assertEquals(new ListenAddress(null, 2), Options.parse(new String[]{"--addr", ":1", "--web.listen-address", ":2"}).addr());
        UsageException e = assertThrows(UsageException.class, () -> Options.parse(new String[]{"--web.listen-address", "9100"}));
        assertEquals("invalid --addr \"9100\": missing port; use :PORT, HOST:PORT or [IPV6]:PORT, e.g. :9091", e.getMessage());
    }

    @Test
    void telemetryPath() {
        assertEquals("/x/metrics", Options.parse(new String[]{"--web.telemetry-path", "/x/metrics"}).telemetryPath());
        for (String bad : new String[]{"metrics", "/", "/-/healthy", "/a b", "/m?x", ""}) {
            UsageException e = assertThrows(UsageException.class, () -> Options.parse(new String[]{"--web.telemetry-path=" + bad}));
            assertEquals("invalid --web.telemetry-path \"" + bad + "\": use a path such as /metrics (starting with /, "
                    + "not / itself, not under /-/, no spaces, ? or #)", e.getMessage());
        }
    }

    @Test
    void webConfigFile() {
        assertEquals("/etc/web.yml", Options.parse(new String[]{"--web.config.file", "/etc/web.yml"}).webConfigFile());
        assertNull(Options.parse(new String[]{"--web.config.file="}).webConfigFile());
        UsageException e = assertThrows(UsageException.class, () -> Options.parse(new String[]{"--web.config.file"}));
        assertEquals("flag --web.config.file needs a value, see --help", e.getMessage());
    }

    @Test
    void logFormat() {
        assertEquals(Log.Format.JSON, Options.parse(new String[]{"--log.format", "json"}).logFormat());
        assertEquals(Log.Format.LOGFMT, Options.parse(new String[]{"--log.format=logfmt"}).logFormat());
        UsageException e = assertThrows(UsageException.class, () -> Options.parse(new String[]{"--log.format", "xml"}));
        assertEquals("invalid --log.format \"xml\": use logfmt or json", e.getMessage());
    }

    @Test
    void logLines() {
        Instant t = Instant.parse("2026-01-02T03:04:05.678Z");
        assertEquals("time=2026-01-02T03:04:05.678Z level=warn msg=\"a \\\"b\\\"\\nc\"",
                Log.format(Log.Format.LOGFMT, t, Log.Level.WARN, "a \"b\"\nc"));
        assertEquals("{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"info\",\"msg\":\"a \\\"b\\\"\\\\ \\n\\t\\u0001 é\"}",
                Log.format(Log.Format.JSON, t, Log.Level.INFO, "a \"b\"\\ \n\t\u0001 é"));
    }

    @Test
    void helpListsTheNewFlags() {
        for (String flag : new String[]{"--web.listen-address", "--web.telemetry-path", "--web.config.file", "--log.format"}) {
            assertTrue(Options.USAGE.contains(flag), flag);
        }
    }
}
