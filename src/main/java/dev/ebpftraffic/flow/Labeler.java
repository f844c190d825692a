package dev.ebpftraffic.flow;

import java.util.HashMap;
import java.util.Map;

/** Maps a kernel key to the series it is exported in (address labels, ip_type). */
public interface Labeler {
    /** The series of key, on the interface named iface (the name the key's ifindex had). */
    SeriesKey seriesKey(FlowKey key, String iface);

    /**
     * Changes whenever an answer of {@link #seriesKey} may have changed (the Kubernetes names of an
     * address); the aggregator then asks again for each kernel entry at its next delta. A labeler
     * whose answers never change keeps 0.
     */
    default long version() {
        return 0;
    }

    /** One series per address pair, ip_type from dst_ip with the built-in private ranges. */
    static Labeler plain() {
        return new Labeler() {
            // The host's own addresses appear in nearly every pair: share their label strings.
            private final Map<IpAddress, String> recent = new HashMap<>();

            private String text(IpAddress a) {
                String s = recent.get(a);
                if (s == null) {
                    if (recent.size() >= 1024) {
                        recent.clear();
                    }
                    s = a.toString();
                    recent.put(a, s);
                }
                return s;
            }

            @Override
            public SeriesKey seriesKey(FlowKey k, String iface) {
                IpAddress dst = k.dst();
                return new SeriesKey(iface, k.direction(), text(k.src()), text(dst), IpClass.of(dst));
            }
        };
    }
}
