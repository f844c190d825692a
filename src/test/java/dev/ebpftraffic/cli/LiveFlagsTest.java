package dev.ebpftraffic.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The live view's paths are not available for the metrics. */
class LiveFlagsTest {
    @Test
    void telemetryPathMayNotTakeTheLiveViewsPaths() {
        for (String p : new String[] {"/api/v1/top", "/api/metrics", "/static/live.js"}) {
            UsageException e = assertThrows(UsageException.class, () -> Options.parse(new String[] {"--web.telemetry-path", p}));
            assertEquals("invalid --web.telemetry-path \"" + p + "\": /api/ and /static/ belong to the live view; use a path such as /metrics",
                    e.getMessage());
        }
        assertEquals("/apis", Options.parse(new String[] {"--web.telemetry-path", "/apis"}).telemetryPath());
    }
}
