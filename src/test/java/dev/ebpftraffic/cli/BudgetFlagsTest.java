package dev.ebpftraffic.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** --max-series, --series-ttl, --map-size, --config.file: defaults, forms, and one-line errors. */
class BudgetFlagsTest {

    @Test
    void defaults() {
        Options o = Options.parse(new String[0]);
        assertEquals(10_000, o.maxSeries());
        assertEquals(Duration.ofMinutes(10), o.seriesTtl());
        assertEquals(16_384, o.mapSize());
        assertNull(o.configFile());
        assertEquals("auto", o.workloads());
        assertEquals("off", Options.parse(new String[] {"--workloads=off"}).workloads());
        assertEquals("cgroup", Options.parse(new String[] {"--workloads", "cgroup"}).workloads());
    }

    @Test
    void values() {
        Options o = Options.parse(new String[] {"--max-series=0", "--series-ttl", "1h30m", "--map-size=4096",
                "--config.file", "/etc/x.yml"});
        assertEquals(0, o.maxSeries());
        assertEquals(Duration.ofMinutes(90), o.seriesTtl());
        assertEquals(4096, o.mapSize());
        assertEquals("/etc/x.yml", o.configFile());
        assertEquals(Duration.ofMillis(1500), Options.parse(new String[] {"--series-ttl=1s500ms"}).seriesTtl());
        assertEquals(4, Options.parse(new String[] {"--max-series=4"}).maxSeries());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--max-series=3      | invalid --max-series 3: must be 0 (unlimited) or at least 4, room for the 4 \"other\" series of an interface",
            "--max-series=-1     | invalid --max-series -1: must be between 0 and 2147483647",
            "--max-series=lots   | invalid --max-series \"lots\": not a whole number",
            "--map-size=0        | invalid --map-size 0: must be between 1 and 16777216",
            "--map-size=99999999 | invalid --map-size 99999999: must be between 1 and 16777216",
            "--series-ttl=10     | invalid --series-ttl \"10\": use a duration such as 30s, 10m or 1h30m",
            "--series-ttl=5x     | invalid --series-ttl \"5x\": use a duration such as 30s, 10m or 1h30m",
            "--series-ttl=500ms  | invalid --series-ttl \"500ms\": must be at least 1s",
            "--series-ttl=       | invalid --series-ttl \"\": use a duration such as 30s, 10m or 1h30m",
            "--config.file       | flag --config.file needs a value, see --help",
            "--workloads=on      | invalid --workloads \"on\": use auto, cgroup or off",
            "--workloads         | flag --workloads needs a value, see --help",
    })
    void badValuesAreOneLineErrors(String arg, String message) {
        UsageException e = assertThrows(UsageException.class, () -> Options.parse(new String[] {arg.strip()}));
        assertEquals(message.strip(), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }
}
