package dev.ebpftraffic.live;

import java.util.List;

/**
 * What GET /api/v1/processes answers (the README documents the JSON): the top process rows after
 * filter and sort, and the totals per direction.
 *
 * @param coveredSeconds seconds of history the rates are based on (as in {@link Snapshot})
 * @param matched        rows that pass the filters, before the cut to n
 * @param rows           at most n rows
 * @param totals         inbound and outbound (in that order), over every process, filters ignored
 */
public record ProcessSnapshot(long timeMillis, int coveredSeconds, boolean sampling, ProcessQuery query, int matched,
                              List<Row> rows, List<Snapshot.Total> totals) {
    /**
     * One process in one cgroup and direction. pid 0: sockets whose process is not known (comm
     * "unknown"), or, with workload "other", what did not fit in the kernel's full per-process map.
     *
     * @param history bits per second, one value per complete second, oldest first (at most 60)
     */
    public record Row(int pid, String comm, String workload, String kind, String direction, Snapshot.Rates rates,
                      long bytes, long packets, float[] history) implements SortableRow {
    }
}
