package dev.ebpftraffic.testing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Scrapes whichever exporter is current every 200 ms, like Prometheus, and keeps every sample of
 * the series it follows, so that increase() over a whole run across restarts can be computed the
 * way Prometheus does it (a value lower than the previous one is a reset, counted from 0).
 */
public final class SeriesScraper implements AutoCloseable {
    private volatile ExporterProcess current;
    private final Function<Metrics, Map<String, long[]>> sample;
    private volatile boolean stop;
    private final Map<String, List<long[]>> series = new LinkedHashMap<>(); // labels -> {bytes, packets} per scrape
    private int scrapes;
    private final Thread thread = new Thread(this::run, "scraper");

    /** sample: the series to follow in one scrape, labels to {bytes, packets}. */
    public SeriesScraper(ExporterProcess first, Function<Metrics, Map<String, long[]>> sample) {
        this.sample = sample;
        current = first;
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * The series of two families (bytes, packets) whose samples pass the filter, for {@link #SeriesScraper}:
     * labels to {bytes, packets}.
     */
    public static Function<Metrics, Map<String, long[]>> families(String bytes, String packets, Predicate<Metrics.Sample> filter) {
        return m -> {
            Map<String, long[]> now = new LinkedHashMap<>();
            for (Metrics.Sample s : m.samples(bytes)) {
                if (filter.test(s)) {
                    now.computeIfAbsent(s.labels().toString(), k -> new long[2])[0] = (long) s.value();
                }
            }
            for (Metrics.Sample s : m.samples(packets)) {
                if (filter.test(s)) {
                    now.computeIfAbsent(s.labels().toString(), k -> new long[2])[1] = (long) s.value();
                }
            }
            return now;
        };
    }

    private void run() {
        while (!stop) {
            scrapeOnce();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    public synchronized void scrapeOnce() {
        ExporterProcess e = current;
        if (e == null || !e.isAlive()) {
            return;
        }
        Metrics m;
        try {
            m = e.scrapeOnce(); // one request per sample, as Prometheus does (a new series shows 0 first)
        } catch (Throwable t) {
            return; // down between stop and start: Prometheus' scrape fails too
        }
        scrapes++;
        sample.apply(m).forEach((k, v) -> series.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
    }

    public synchronized int scrapes() {
        return scrapes;
    }

    public synchronized Set<String> seriesNames() {
        return series.keySet();
    }

    /** Per series, its packets in every scrape: for failure messages. */
    public synchronized List<String> packets() {
        List<String> out = new ArrayList<>();
        series.values().forEach(l -> out.add(l.stream().map(v -> Long.toString(v[1])).toList().toString()));
        return out;
    }

    public void switchTo(ExporterProcess e) {
        current = e;
    }

    /** sum over series of increase() over all samples: [bytes, packets, resets]. */
    public synchronized long[] increase() {
        return increase(k -> true);
    }

    /** The same over the series whose labels pass the filter. */
    public synchronized long[] increase(Predicate<String> labels) {
        long[] total = new long[3];
        for (Map.Entry<String, List<long[]>> e : series.entrySet()) {
            if (!labels.test(e.getKey())) {
                continue;
            }
            List<long[]> samples = e.getValue();
            for (int i = 1; i < samples.size(); i++) {
                for (int f = 0; f < 2; f++) {
                    long prev = samples.get(i - 1)[f];
                    long cur = samples.get(i)[f];
                    total[f] += cur >= prev ? cur - prev : cur; // a drop is a counter reset
                    if (f == 0 && cur < prev) {
                        total[2]++;
                    }
                }
            }
        }
        return total;
    }

    @Override
    public void close() {
        stop = true;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
