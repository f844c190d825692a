package dev.ebpftraffic.live;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.ebpftraffic.live.LiveJson.list;
import static dev.ebpftraffic.live.LiveJson.num;
import static dev.ebpftraffic.live.LiveJson.obj;
import static dev.ebpftraffic.live.LiveJson.string;
import static dev.ebpftraffic.live.LiveJson.totals;

/** The JSON of /api/v1/workloads (the README documents it), and its reader for `top --from URL`. */
public final class WorkloadJson {
    private WorkloadJson() {
    }

    public static String write(WorkloadSnapshot s) {
        StringBuilder b = new StringBuilder(1024 + 1500 * s.rows().size());
        WorkloadQuery q = s.query();
        LiveJson.head(b, s.timeMillis(), s.coveredSeconds(), s.sampling(), q.n(), q.sort(), q.ascending(), q.direction());
        b.append(",\"ip_type\":");
        string(b, q.ipType());
        b.append(",\"workload\":");
        string(b, q.workload());
        b.append(",\"peers\":").append(q.peers());
        b.append("},\"matched\":").append(s.matched());
        b.append(",\"totals\":{");
        totals(b, s.totals(), true);
        b.append("},\"peers_map_full\":{");
        totals(b, s.peersFull(), false);
        b.append("},\"workloads\":[");
        for (int i = 0; i < s.rows().size(); i++) {
            WorkloadSnapshot.Row r = s.rows().get(i);
            b.append(i > 0 ? ",\n" : "\n").append("{\"workload\":");
            string(b, r.workload());
            b.append(",\"kind\":");
            string(b, r.kind());
            b.append(",\"direction\":");
            string(b, r.direction());
            b.append(",\"ip_type\":");
            string(b, r.ipType());
            b.append(",\"other\":").append(r.other()).append(',');
            LiveJson.counters(b, r.rates(), r.bytes(), r.packets());
            LiveJson.history(b, r.history());
            b.append(",\"peers\":[");
            for (int p = 0; p < r.peers().size(); p++) {
                if (p > 0) {
                    b.append(',');
                }
                peer(b, r.peers().get(p));
            }
            b.append("],\"other_peers\":");
            if (r.otherPeers() == null) {
                b.append("null");
            } else {
                peer(b, r.otherPeers());
            }
            b.append('}');
        }
        b.append("]}\n");
        return b.toString();
    }

    private static void peer(StringBuilder b, WorkloadSnapshot.Peer p) {
        b.append("{\"ip\":");
        string(b, p.ip());
        b.append(',');
        LiveJson.counters(b, p.rates(), p.bytes(), p.packets());
        b.append('}');
    }

    /** Reads what {@link #write} wrote (or a compatible server's answer). */
    public static WorkloadSnapshot read(String json) {
        Map<String, Object> o = obj(LiveJson.parse(json));
        Map<String, Object> q = obj(o.get("query"));
        WorkloadQuery query = new WorkloadQuery(num(q.get("n")).intValue(), LiveJson.sortOf(q.get("sort")),
                "asc".equals(q.get("order")), (String) q.get("direction"), (String) q.get("ip_type"),
                (String) q.get("workload"), num(q.get("peers")).intValue());
        List<Snapshot.Total> totals = totals(obj(o.get("totals")), true);
        List<Snapshot.Total> full = totals(obj(o.get("peers_map_full")), false);
        List<WorkloadSnapshot.Row> rows = new ArrayList<>();
        for (Object x : list(o.get("workloads"))) {
            Map<String, Object> r = obj(x);
            List<WorkloadSnapshot.Peer> peers = new ArrayList<>();
            for (Object p : list(r.get("peers"))) {
                peers.add(peer(obj(p)));
            }
            Object other = r.get("other_peers");
            rows.add(new WorkloadSnapshot.Row((String) r.get("workload"), (String) r.get("kind"),
                    (String) r.get("direction"), (String) r.get("ip_type"), Boolean.TRUE.equals(r.get("other")),
                    LiveJson.rates(r), num(r.get("bytes")).longValue(), num(r.get("packets")).longValue(), LiveJson.history(r),
                    peers, other == null ? null : peer(obj(other))));
        }
        return new WorkloadSnapshot(Instant.parse((String) o.get("time")).toEpochMilli(),
                num(o.get("covered_seconds")).intValue(), Boolean.TRUE.equals(o.get("sampling")), query,
                num(o.get("matched")).intValue(), rows, totals, full);
    }

    private static WorkloadSnapshot.Peer peer(Map<String, Object> p) {
        return new WorkloadSnapshot.Peer((String) p.get("ip"), LiveJson.rates(p), num(p.get("bytes")).longValue(),
                num(p.get("packets")).longValue());
    }
}
