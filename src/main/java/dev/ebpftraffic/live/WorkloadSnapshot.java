package dev.ebpftraffic.live;

import java.util.List;

/**
 * What GET /api/v1/workloads answers (the README documents the JSON): one row per workload series
 * (workload, kind, direction, ip_type) as the Prometheus family has it, with rates, the series'
 * counters, the last minute, and its top remote peers.
 *
 * @param timeMillis     when the snapshot was taken (ms since the epoch)
 * @param coveredSeconds seconds of history the rates are based on, at most 60
 * @param sampling       whether the sampler is running
 * @param matched        rows that pass the filters, before the cut to n
 * @param rows           at most n rows
 * @param totals         inbound and outbound (in that order), over every series, filters ignored
 * @param peersFull      inbound and outbound: what the kernel's full peers map could not give a peer
 *                       since sampling began (bits/packets rates left at 0)
 */
public record WorkloadSnapshot(long timeMillis, int coveredSeconds, boolean sampling, WorkloadQuery query, int matched,
                               List<Row> rows, List<Snapshot.Total> totals, List<Snapshot.Total> peersFull) {

    /**
     * One series of network_workload_traffic_*_total. other=true for workload="other".
     *
     * @param peers      the top peers by the query's sort, at most query.peers()
     * @param otherPeers everything else the series' peers counted since sampling began, or null when nothing
     */
    public record Row(String workload, String kind, String direction, String ipType, boolean other,
                      Snapshot.Rates rates, long bytes, long packets, float[] history,
                      List<Peer> peers, Peer otherPeers) implements SortableRow {
    }

    /** A remote address of a series: rates, and bytes and packets since sampling began. */
    public record Peer(String ip, Snapshot.Rates rates, long bytes, long packets) implements SortableRow {
    }
}
