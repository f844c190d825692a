package dev.ebpftraffic.live;

import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.HttpGet;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.SteadyUdp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * /api/v1/top of the real exporter in a namespace, under steady UDP streams of known rates:
 * rates while they run, exact cumulative counters, and after they stop the last minute and the
 * 40 s average account for every byte sent.
 */
@KernelTest
@Timeout(120)
class LiveApiKernelTest {
    record Stream(boolean fromA, String src, String dst, int payload, int perSecond) {
    }

    static final List<Stream> STREAMS = List.of(
            new Stream(true, "10.77.0.1", "10.77.0.2", 1000, 40),     // inbound at b, private
            new Stream(false, "192.0.2.2", "192.0.2.1", 100, 100),    // outbound at b, public
            new Stream(true, "fd00:77::1", "fd00:77::2", 500, 20));   // inbound, IPv6

    static Snapshot top(String ns, String query) {
        HttpGet.Response r = HttpGet.get(ns, "127.0.0.1", ExporterProcess.PORT, "/api/v1/top?" + query);
        assertEquals(200, r.status(), r.head() + "\n" + r.body());
        assertTrue(r.head().toLowerCase(java.util.Locale.ROOT).contains("content-type: application/json; charset=utf-8"), r.head());
        return LiveJson.read(r.body());
    }

    static Snapshot.Row row(Snapshot s, Stream st) {
        String dir = st.fromA() ? "inbound" : "outbound";
        List<Snapshot.Row> rows = s.rows().stream()
                .filter(r -> r.src().equals(st.src()) && r.dst().equals(st.dst()) && r.direction().equals(dir)).toList();
        assertEquals(1, rows.size(), "one row for " + st + " in " + LiveJson.write(s));
        return rows.getFirst();
    }

    static Map<String, Long> pairs(Snapshot s) {
        return s.rows().stream().filter(r -> !r.src().equals("::")) // MLD reports the stack sends on its own
                .collect(Collectors.toMap(r -> r.src() + ">" + r.dst(), Snapshot.Row::packets));
    }

    @Test
    void ratesWhileStreamsRunAndExactTotalsAfter() throws Exception {
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            net.addPair("192.0.2.1", "192.0.2.2", 24);
            net.addPair("fd00:77::1", "fd00:77::2", 64);
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "live-api",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
            exporter.awaitAttached(Duration.ofSeconds(30));

            Snapshot first = top(net.b, "");
            assertTrue(first.sampling(), "the first request starts the 1 s sampler");
            assertEquals(0, first.coveredSeconds());
            Thread.sleep(2100); // two sampler refreshes: the streams start inside covered seconds

            List<SteadyUdp> udp = new java.util.ArrayList<>();
            int port = 41000;
            try {
                for (Stream s : STREAMS) {
                    udp.add(net.own(SteadyUdp.start(s.fromA() ? net.a : net.b, s.src(), s.fromA() ? net.b : net.a,
                            s.dst(), port++, s.payload(), s.perSecond())));
                }
                Thread.sleep(4500);
                Snapshot mid = top(net.b, "n=100");
                HttpGet.Response example = HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT,
                        "/api/v1/top?n=2&direction=inbound&sort=bits_2s");
                java.nio.file.Path out = ExporterProcess.projectRoot().resolve("target/live-view");
                java.nio.file.Files.createDirectories(out);
                java.nio.file.Files.writeString(out.resolve("api-top.json"), example.body()); // an example for people
                for (Stream s : STREAMS) {
                    Snapshot.Row r = row(mid, s);
                    double pps = r.rates().packetsPerSecond()[0];
                    assertTrue(Math.abs(pps - s.perSecond()) <= 0.2 * s.perSecond(),
                            "2 s packet rate of " + s + ": " + pps);
                    double frameBits = 8.0 * dev.ebpftraffic.testing.Traffic.udpFrame(s.dst(), s.payload());
                    double bps = r.rates().bitsPerSecond()[0];
                    assertTrue(Math.abs(bps - s.perSecond() * frameBits) <= 0.2 * s.perSecond() * frameBits,
                            "2 s bit rate of " + s + ": " + bps);
                    assertEquals(s.fromA() ? "private" : "public", r.ipType());
                    assertEquals(net.ifB, r.iface());
                    assertTrue(r.history().length >= 4, "history of " + s);
                }
            } finally {
                udp.forEach(SteadyUdp::stop);
            }
            Thread.sleep(3300); // the last second with traffic is complete and sampled
            Snapshot end = top(net.b, "n=100");
            // Under load the 1 s sampler can run late: wait (bounded) until two complete quiet seconds
            // are sampled; the assertions below still require the 2 s rates to reach exactly 0.
            for (long until = System.nanoTime() + 10_000_000_000L; System.nanoTime() < until; ) {
                Snapshot e = end;
                if (STREAMS.stream().allMatch(st -> row(e, st).rates().bitsPerSecond()[0] == 0.0)) {
                    break;
                }
                Thread.sleep(250);
                end = top(net.b, "n=100");
            }
            assertTrue(end.coveredSeconds() >= 8 && end.coveredSeconds() < 40, "covered " + end.coveredSeconds());
            long[] dirBytes = new long[2];
            for (int i = 0; i < STREAMS.size(); i++) {
                Stream s = STREAMS.get(i);
                SteadyUdp u = udp.get(i);
                Snapshot.Row r = row(end, s);
                assertEquals(u.sent(), r.packets(), "packets of " + s);
                assertEquals(u.frameBytes(), r.bytes(), "bytes of " + s);
                assertEquals(0.0, r.rates().bitsPerSecond()[0], "2 s rate after the stream stopped: " + s);
                double historyBytes = 0;
                for (float h : r.history()) {
                    historyBytes += h / 8.0;
                }
                assertEquals(u.frameBytes(), historyBytes, 1 + end.coveredSeconds() / 16.0,
                        "the last minute holds every byte of " + s);
                double avgBytes = r.rates().bitsPerSecond()[2] * end.coveredSeconds() / 8;
                assertEquals(u.frameBytes(), avgBytes, 0.01 * end.coveredSeconds(), "40 s average of " + s);
                double avgPackets = r.rates().packetsPerSecond()[2] * end.coveredSeconds();
                assertEquals(u.sent(), avgPackets, 0.001 * end.coveredSeconds(), "40 s packet average of " + s);
                dirBytes[s.fromA() ? 0 : 1] += u.frameBytes();
            }
            // Totals: every series, "other" included, exactly; rates at least the streams'.
            for (int d = 0; d < 2; d++) {
                Snapshot.Total t = end.totals().get(d);
                assertEquals(d == 0 ? "inbound" : "outbound", t.direction());
                String dir = t.direction();
                long sum = end.rows().stream().filter(r -> r.direction().equals(dir)).mapToLong(Snapshot.Row::bytes).sum();
                assertEquals(sum, t.bytes(), "total " + dir + " = sum of its series");
                assertTrue(t.rates().bitsPerSecond()[2] * end.coveredSeconds() / 8 >= dirBytes[d] - 1,
                        "40 s total rate " + dir + " covers the streams");
            }

            // Filters and sort.
            assertEquals(Map.of("192.0.2.2>192.0.2.1", STREAMS.get(1).perSecond() > 0 ? udp.get(1).sent() : 0),
                    pairs(top(net.b, "direction=outbound&ip=192.0.2")));
            assertEquals(Map.of("fd00:77::1>fd00:77::2", udp.get(2).sent()), pairs(top(net.b, "ip=FD00%3A77")));
            assertEquals(Map.of("192.0.2.2>192.0.2.1", udp.get(1).sent()), pairs(top(net.b, "ip_type=public&ip=192.0")));
            Snapshot byPackets = top(net.b, "sort=packets&n=1&ip=.");
            assertEquals("192.0.2.2", byPackets.rows().getFirst().src(), "most packets: the 100/s stream");
            Snapshot byBytes = top(net.b, "sort=bytes&n=1&ip=.");
            assertEquals("10.77.0.1", byBytes.rows().getFirst().src(), "most bytes: the 1000-byte stream");

            HttpGet.Response bad = HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT, "/api/v1/top?sort=fastest");
            assertEquals(400, bad.status());
            assertEquals("{\"error\":\"invalid sort \\\"fastest\\\": use one of bits_2s, bits_10s, bits_40s, packets_2s, "
                    + "packets_10s, packets_40s, bytes, packets\"}\n", bad.body());
        }
    }
}
