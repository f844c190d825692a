package dev.ebpftraffic.persist;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowAggregator;
import dev.ebpftraffic.flow.Labeler;
import dev.ebpftraffic.metrics.BuildInfo;
import dev.ebpftraffic.metrics.TrafficCollector;
import dev.ebpftraffic.testing.FakeFlowReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The state file is written only when the state changed since the last write: a scrape that shows
 * what the previous one showed, over a kernel that counted nothing, leaves the file alone (a write
 * renames a new file over it, so a file stamped with an old mtime by the test keeps that stamp only
 * if it is not rewritten); any new count, or a scrape that shows a value for
 * the first time, writes it before the response, and the file then holds exactly what was shown.
 */
class StateWriteSkipTest {
    private static final long S = 1_000_000_000L;

    private static final java.nio.file.attribute.FileTime STAMP = java.nio.file.attribute.FileTime.fromMillis(1000);

    /** Stamps the file with an old mtime: a rewrite (a new file renamed over it) has the current time. */
    private static void stamp(Path p) throws IOException {
        Files.setLastModifiedTime(p, STAMP);
    }

    private static boolean rewritten(Path p) throws IOException {
        return !Files.getLastModifiedTime(p).equals(STAMP);
    }

    /** A collector over the fake reader: no budget, hour-long TTL and drain, one interface "eth0". */
    private static TrafficCollector collector(FakeFlowReader reader, List<String> errors) {
        return new TrafficCollector(reader,
                new FlowAggregator(new FlowAggregator.Settings(0, 3600 * S, 3600 * S, Integer.MAX_VALUE), Labeler.plain()),
                i -> "eth0", List::of, new BuildInfo("v", "j"), errors::add);
    }

    /** One scrape through the streaming writer: the packets it shows for the one pair. */
    private static String scrape(TrafficCollector c) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        c.writeTrafficText(out, false);
        return out.toString().lines().filter(l -> l.startsWith("network_traffic_packets_total{")).toList().toString();
    }

    /** The packets of the pair as the state file holds what scrapes showed of it. */
    private static long shownInFile(Path state) {
        return new StateFile(state).read().state().flows().series().stream()
                .mapToLong(s -> s.shownPackets()).sum();
    }

    @Test
    void anUnchangedScrapeDoesNotRewriteTheFile(@TempDir Path dir) throws IOException {
        Path state = dir.resolve("state");
        FakeFlowReader reader = new FakeFlowReader(1000);
        reader.flow(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 5, 500);
        List<String> errors = new ArrayList<>();
        TrafficCollector c = collector(reader, errors);
        Persistence p = new Persistence(null, state, x -> { }, errors::add);
        p.restore(c); // no file yet: writes the first one
        stamp(state);

        assertEquals("[network_traffic_packets_total{direction=\"inbound\",dst_ip=\"10.0.0.2\",iface=\"eth0\",ip_type=\"private\",src_ip=\"10.0.0.1\"} 0]",
                scrape(c)); // a new series shows 0 first: what was shown changed
        assertTrue(rewritten(state), "the first scrape changed what was shown: written");
        stamp(state);
        scrape(c); // shows 5 now
        assertTrue(rewritten(state), "a scrape that shows a new value writes first");
        assertEquals(5, shownInFile(state));
        stamp(state);

        for (int i = 0; i < 3; i++) {
            scrape(c);
            c.refresh(); // the timer's refresh too
        }
        assertFalse(rewritten(state), "nothing changed: the file is not rewritten");

        reader.send(FakeFlowReader.key(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2"), 2, 200);
        String shown = scrape(c);
        assertTrue(rewritten(state), "new counts: written before the response");
        assertEquals(7, shownInFile(state), shown);
        stamp(state);
        scrape(c);
        assertFalse(rewritten(state), "unchanged again");
        assertEquals(List.of(), errors);
    }

    /**
     * A graceful exit's state write is the last one: a scrape after it (the server still answers
     * until it closes) neither reads the maps nor writes the file, and shows the totals of the exit's
     * read. A scrape that read could move kernel entries that no later write saves.
     */
    @Test
    void noScrapeReadsOrWritesAfterTheExitWrite(@TempDir Path dir) throws IOException {
        Path state = dir.resolve("state");
        FakeFlowReader reader = new FakeFlowReader(1000);
        reader.flow(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2", 5, 500);
        List<String> errors = new ArrayList<>();
        TrafficCollector c = collector(reader, errors);
        Persistence p = new Persistence(null, state, x -> { }, errors::add);
        p.restore(c);
        scrape(c);
        scrape(c); // shows 5
        reader.send(FakeFlowReader.key(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2"), 2, 200);
        p.exiting(); // reads the 2 (and writes if it must)
        stamp(state);
        int reads = reader.reads;

        reader.send(FakeFlowReader.key(2, Direction.INBOUND, "10.0.0.1", "10.0.0.2"), 3, 300);
        String shown = scrape(c);
        assertTrue(shown.endsWith(" 7]"), "the totals of the exit's read: " + shown);
        assertEquals(reads, reader.reads, "the maps were read after the exit write");
        assertFalse(rewritten(state), "the state file was written after the exit write");
        assertEquals(List.of(), errors);
    }
}
