package dev.ebpftraffic.testing;

import java.util.HashMap;
import java.util.Map;

/**
 * Prometheus' increase() over a window that holds every sample, without the extrapolation at the
 * window's edges: per series, the sum of the growth between consecutive samples. A sample lower
 * than the one before is a counter reset, counted from 0. A series that disappears (stale) and
 * comes back is, for range functions, the same series: its next sample is compared with its last
 * one (so coming back lower is a reset, and its value counts whole). A series' first sample
 * counts nothing: Prometheus cannot know what it held before.
 */
public final class IncreaseOracle {
    private final Map<String, Long> last = new HashMap<>();
    private long increase;
    private int samples;

    /** One scrape: series (name and labels) to value. */
    public void scrape(Map<String, Long> values) {
        values.forEach((series, v) -> {
            Long before = last.put(series, v);
            if (before != null) {
                increase += v >= before ? v - before : v;
            }
            samples++;
        });
    }

    /** sum(increase(...)) over everything scraped so far. */
    public long increase() {
        return increase;
    }

    public int samples() {
        return samples;
    }
}
