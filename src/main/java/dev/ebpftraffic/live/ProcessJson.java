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
        b.append("{\"time\":");
        LiveJson.string(b, Instant.ofEpochMilli(s.timeMillis()).toString());
        b.append(",\"covered_seconds\":").append(s.coveredSeconds());
        b.append(",\"sampling\":").append(s.sampling());
        b.append(",\"windows\":[\"2s\",\"10s\",\"40s\"]");
        ProcessQuery q = s.query();
        b.append(",\"query\":{\"n\":").append(q.n()).append(",\"sort\":");
        LiveJson.string(b, q.sort().param);
        b.append(",\"order\":\"").append(q.ascending() ? "asc" : "desc").append('"');
        b.append(",\"direction\":");
        LiveJson.string(b, q.direction());
        b.append(",\"filter\":");
        LiveJson.string(b, q.filter());
        b.append("},\"matched\":").append(s.matched());
        b.append(",\"totals\":{");
        for (int i = 0; i < s.totals().size(); i++) {
            Snapshot.Total t = s.totals().get(i);
            if (i > 0) {
                b.append(',');
            }
            LiveJson.string(b, t.direction());
            b.append(":{");
            LiveJson.rates(b, t.rates());
            b.append(",\"bytes\":").append(t.bytes()).append(",\"packets\":").append(t.packets()).append('}');
        }
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
            LiveJson.rates(b, r.rates());
            b.append(",\"bytes\":").append(r.bytes()).append(",\"packets\":").append(r.packets());
            b.append(",\"last_minute_bits_per_second\":[");
            for (int h = 0; h < r.history().length; h++) {
                if (h > 0) {
                    b.append(',');
                }
                b.append(Math.round(r.history()[h]));
            }
            b.append("]}");
        }
        b.append("]}\n");
        return b.toString();
    }

    /** Reads what {@link #write} wrote back into a snapshot. */
    public static ProcessSnapshot read(String json) {
        Map<String, Object> o = LiveJson.obj(LiveJson.parse(json));
        Map<String, Object> q = LiveJson.obj(o.get("query"));
        Query.Sort sort = Query.Sort.of((String) q.get("sort"));
        ProcessQuery query = new ProcessQuery(LiveJson.num(q.get("n")).intValue(), sort == null ? Query.Sort.BITS_10S : sort,
                "asc".equals(q.get("order")), (String) q.get("direction"), (String) q.get("filter"));
        List<Snapshot.Total> totals = new ArrayList<>();
        LiveJson.obj(o.get("totals")).forEach((dir, v) -> {
            Map<String, Object> t = LiveJson.obj(v);
            totals.add(new Snapshot.Total(dir, LiveJson.rates(t), LiveJson.num(t.get("bytes")).longValue(),
                    LiveJson.num(t.get("packets")).longValue()));
        });
        List<ProcessSnapshot.Row> rows = new ArrayList<>();
        for (Object x : LiveJson.list(o.get("processes"))) {
            Map<String, Object> r = LiveJson.obj(x);
            List<Object> h = LiveJson.list(r.get("last_minute_bits_per_second"));
            float[] history = new float[h.size()];
            for (int i = 0; i < history.length; i++) {
                history[i] = LiveJson.num(h.get(i)).floatValue();
            }
            rows.add(new ProcessSnapshot.Row(LiveJson.num(r.get("pid")).intValue(), (String) r.get("comm"),
                    (String) r.get("workload"), (String) r.get("kind"), (String) r.get("direction"), LiveJson.rates(r),
                    LiveJson.num(r.get("bytes")).longValue(), LiveJson.num(r.get("packets")).longValue(), history));
        }
        return new ProcessSnapshot(Instant.parse((String) o.get("time")).toEpochMilli(),
                LiveJson.num(o.get("covered_seconds")).intValue(), Boolean.TRUE.equals(o.get("sampling")), query,
                LiveJson.num(o.get("matched")).intValue(), rows, totals);
    }
}
