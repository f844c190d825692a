package dev.ebpftraffic.metrics;

import dev.ebpftraffic.dns.ReverseDns;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.util.List;
import java.util.function.Supplier;

/**
 * The live view's reverse DNS: queries sent, their results, lookups the rate held back, and the
 * cache size. Host names themselves are never labels.
 */
public final class ReverseDnsCollector implements MultiCollector {
    public static final String QUERIES = SelfMetrics.SELF + "reverse_dns_queries";
    public static final String RESULTS = SelfMetrics.SELF + "reverse_dns_results";
    public static final String RATE_LIMITED = SelfMetrics.SELF + "reverse_dns_rate_limited";
    public static final String CACHE = SelfMetrics.SELF + "reverse_dns_cache_entries";

    private final Supplier<ReverseDns.Stats> stats;

    public ReverseDnsCollector(Supplier<ReverseDns.Stats> stats) {
        this.stats = stats;
    }

    @Override
    public MetricSnapshots collect() {
        ReverseDns.Stats s = stats.get();
        CounterSnapshot queries = CounterSnapshot.builder().name(QUERIES)
                .help("PTR queries sent for the live view's host names")
                .dataPoint(CounterDataPointSnapshot.builder().value(s.queries()).build()).build();
        CounterSnapshot.Builder r = CounterSnapshot.builder().name(RESULTS)
                .help("Results of the PTR queries: name, no_name (NXDOMAIN or no PTR), timeout, "
                        + "error (SERVFAIL, REFUSED, a send that failed)");
        long[] values = {s.names(), s.noName(), s.timeouts(), s.errors()};
        String[] results = {"name", "no_name", "timeout", "error"};
        for (int i = 0; i < results.length; i++) {
            r.dataPoint(CounterDataPointSnapshot.builder().labels(Labels.of("result", results[i])).value(values[i]).build());
        }
        CounterSnapshot limited = CounterSnapshot.builder().name(RATE_LIMITED)
                .help("Host name lookups put off because the query rate was reached (asked again on a later refresh)")
                .dataPoint(CounterDataPointSnapshot.builder().value(s.rateLimited()).build()).build();
        GaugeSnapshot cache = GaugeSnapshot.builder().name(CACHE)
                .help("Addresses in the host name cache (names, no names and pending lookups)")
                .dataPoint(GaugeDataPointSnapshot.builder().value(s.cacheEntries()).build()).build();
        return new MetricSnapshots(queries, r.build(), limited, cache);
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of(QUERIES, RESULTS, RATE_LIMITED, CACHE);
    }
}
