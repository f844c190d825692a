package dev.ebpftraffic.testing;

import java.time.Duration;

/**
 * A scrape and an interface's counters taken together while the interface is quiet: the counters
 * did not move while the scrape ran, so both describe the same traffic.
 */
public record Snapshot(Metrics metrics, LinkStats link) {

    /** Retries until the link counters are equal before and after the scrape. */
    public static Snapshot take(ExporterProcess exporter, String ns, String dev, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            LinkStats before = LinkStats.read(ns, dev);
            Metrics m = exporter.scrape();
            LinkStats after = LinkStats.read(ns, dev);
            if (before.equals(after)) {
                return new Snapshot(m, after);
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(dev + " in " + ns + " kept changing during scrapes: " + before + " -> " + after);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /**
     * Sum of a counter family over every series of iface and direction: for network_traffic_*_total
     * that includes src_ip="other"; for ebpf_traffic_exporter_skipped_*_total every reason.
     */
    public long sum(String family, String iface, String direction) {
        return metrics.sum(family, s -> iface.equals(s.label("iface")) && direction.equals(s.label("direction")));
    }
}
