package dev.ebpftraffic.live;

import java.util.List;

/**
 * What GET /api/v1/top answers (see the README for the JSON): the top rows after filters and
 * sort, the totals per direction, and what the rates are based on.
 *
 * @param timeMillis      when the snapshot was taken (wall clock, ms since the epoch)
 * @param coveredSeconds  seconds of history the rates are based on, at most 60: the 40 s rate is
 *                        an average over min(40, coveredSeconds) seconds
 * @param sampling        whether the live sampler is running (it starts on the first request)
 * @param matched         rows that pass the filters, before the cut to n
 * @param rows            at most n rows
 * @param totals          inbound and outbound (in that order), over all traffic, filters ignored
 * @param ifaces          every interface with traffic, sorted
 */
public record Snapshot(long timeMillis, int coveredSeconds, boolean sampling, Query query, int matched,
                       List<Row> rows, List<Total> totals, List<String> ifaces) {
    /** Rates over 2, 10 and 40 s (RateTracker.WINDOWS). */
    public record Rates(double[] bitsPerSecond, double[] packetsPerSecond) {
    }

    /**
     * One series, as the metrics show it. other=true for src_ip="other",dst_ip="other".
     *
     * @param history bits per second, one value per complete second, oldest first (at most 60)
     * @param srcName the host name of src from reverse DNS, null when unknown, pending or off (dstName alike)
     */
    public record Row(String src, String dst, String direction, String ipType, String iface, boolean other,
                      Rates rates, long bytes, long packets, float[] history, String srcName, String dstName)
            implements SortableRow {
        /** A row without host names. */
        public Row(String src, String dst, String direction, String ipType, String iface, boolean other,
                   Rates rates, long bytes, long packets, float[] history) {
            this(src, dst, direction, ipType, iface, other, rates, bytes, packets, history, null, null);
        }

        Row withNames(String srcName, String dstName) {
            return new Row(src, dst, direction, ipType, iface, other, rates, bytes, packets, history, srcName, dstName);
        }
    }

    /** Everything in one direction: every series, "other" included. */
    public record Total(String direction, Rates rates, long bytes, long packets) {
    }
}
