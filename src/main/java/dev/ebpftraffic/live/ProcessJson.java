package dev.ebpftraffic.live;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The JSON of /api/v1/processes (the README documents it), written and read back (`top --from URL`). */
public final class ProcessJson {
    private ProcessJson() {
    }

    public static String write(ProcessSnapshot s) {
        StringBuilder b = new StringBuilder(1024 + 900 * s.rows().size());
        ProcessQuery q = s.query();
        LiveJson.head(b, s.timeMillis(), s.coveredSeconds(), s.sampling(), q.n(), q.sort(), q.ascending(), q.direction());
        b.append(",\"filter\":");
        LiveJson.string(b, q.filter());
        b.append("},\"matched\":").append(s.matched());
        b.append(",\"totals\":{");
        LiveJson.totals(b, s.totals(), true);
        b.append("},\"processes\":[");
        for (int i = 0; i < s.rows().size(); i++) {
            ProcessSnapshot.Row r = s.rows().get(i);
            b.append(i > 0 ? ",\n" : "\n").append("{\"pid\":").append(r.pid()).append(",\"comm\":");
            LiveJson.string(b, r.comm());
            b.append(",\"workload\":");
            LiveJson.string(b, r.workload());
            b.append(",\"kind\":");
            LiveJson.string(b, r.kind());
            b.append(",\"direction\":");
            LiveJson.string(b, r.direction());
            b.append(',');
            LiveJson.counters(b, r.rates(), r.bytes(), r.packets());
            LiveJson.history(b, r.history());
            b.append('}');
        }
        b.append("]}\n");
        return b.toString();
    }

    /** Reads what {@link #write} wrote back into a snapshot. */
    public static ProcessSnapshot read(String json) {
        Map<String, Object> o = LiveJson.obj(LiveJson.parse(json));
        Map<String, Object> q = LiveJson.obj(o.get("query"));
        ProcessQuery query = new ProcessQuery(LiveJson.num(q.get("n")).intValue(), LiveJson.sortOf(q.get("sort")),
                "asc".equals(q.get("order")), (String) q.get("direction"), (String) q.get("filter"));
        List<Snapshot.Total> totals = LiveJson.totals(LiveJson.obj(o.get("totals")), true);
        List<ProcessSnapshot.Row> rows = new ArrayList<>();
        for (Object x : LiveJson.list(o.get("processes"))) {
            Map<String, Object> r = LiveJson.obj(x);
            rows.add(new ProcessSnapshot.Row(LiveJson.num(r.get("pid")).intValue(), (String) r.get("comm"),
                    (String) r.get("workload"), (String) r.get("kind"), (String) r.get("direction"), LiveJson.rates(r),
                    LiveJson.num(r.get("bytes")).longValue(), LiveJson.num(r.get("packets")).longValue(), LiveJson.history(r)));
        }
        return new ProcessSnapshot(Instant.parse((String) o.get("time")).toEpochMilli(),
                LiveJson.num(o.get("covered_seconds")).intValue(), Boolean.TRUE.equals(o.get("sampling")), query,
                LiveJson.num(o.get("matched")).intValue(), rows, totals);
    }
}
