package dev.ebpftraffic.app;

import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What `top` draws and what its keys do, without a terminal. */
class TopScreenTest {
    static Snapshot.Row row(String src, String dst, String dir, double bits, double packets, long bytes, float... history) {
        return new Snapshot.Row(src, dst, dir, "private", "eth0", src.equals("other"),
                new Snapshot.Rates(new double[] {bits, bits, bits}, new double[] {packets, packets, packets}),
                bytes, 10, history);
    }

    static Snapshot snapshot(List<Snapshot.Row> rows) {
        Snapshot.Rates r = new Snapshot.Rates(new double[] {1e6, 2e6, 3e6}, new double[] {10, 20, 30});
        return new Snapshot(0, 12, true, Query.defaults(), rows.size(), rows,
                List.of(new Snapshot.Total("inbound", r, 1234, 5), new Snapshot.Total("outbound", r, 0, 0)), List.of("eth0"));
    }

    static String plain(String line) {
        return line.replaceAll("\033\\[[0-9;]*m", "");
    }

    @Test
    void hostNamesStandNextToTheAddressesAndAreCutFirst() {
        Snapshot.Row named = new Snapshot.Row("10.77.0.1", "fd00:77::2", "inbound", "private", "eth0", false,
                new Snapshot.Rates(new double[] {1, 1, 1}, new double[] {1, 1, 1}), 10, 1, new float[0],
                "alpha.test", "a-rather-long-host-name-in-a-deep.subdomain.example.test\u001b");
        Snapshot s = snapshot(List.of(named, row("10.0.0.9", "10.0.0.5", "inbound", 0, 0, 1)));
        List<String> lines = TopScreen.render(s, new TopScreen.View(Query.defaults(), "from x", null, null), 200, 20);
        String first = plain(lines.get(5));
        // the columns are 48 wide: a name is cut with "…", the address never
        assertTrue(first.startsWith("10.77.0.1 alpha.test" + " ".repeat(48 - 20) + " fd00:77::2 a-rather-long-host-name-in-a-deep.su… in "),
                first);
        assertTrue(plain(lines.get(6)).startsWith("10.0.0.9" + " ".repeat(40) + " 10.0.0.5 "), plain(lines.get(6)));
        assertEquals("10.77.0.1", TopScreen.host("10.77.0.1", "alpha.test", 10), "no room: the address alone");
        assertEquals("fd00:77::2 x\\x1b", TopScreen.host("fd00:77::2", "x\u001b"), "control characters escaped");
        for (int width : new int[] {200, 120, 80, 40}) {
            for (String l : TopScreen.render(s, new TopScreen.View(Query.defaults(), "from x", null, null), width, 20)) {
                assertTrue(plain(l).length() <= width, width + ": " + plain(l));
            }
        }
    }

    @Test
    void everyLineFitsAndColumnsGoWhenNarrow() {
        Snapshot s = snapshot(List.of(
                row("fd12:3456:789a:bcde:f012:3456:789a:bcde", "fd00::1", "inbound", 1.5e6, 120, 5_000_000, 1, 2, 3),
                row("other", "other", "outbound", 0, 0, 42)));
        // With a full IPv6 address: 157 columns hold every rate column, 168 a 10-character sparkline too;
        // below 157 the packets/s columns go first, and the sparkline fits again from 141 to 156.
        for (int width : new int[] {200, 178, 168, 167, 157, 156, 120, 100, 80, 60, 40}) {
            List<String> lines = TopScreen.render(s, new TopScreen.View(Query.defaults(), "from x", null, null), width, 20);
            assertEquals(20, lines.size());
            for (String l : lines) {
                assertTrue(plain(l).length() <= width, width + ": " + plain(l));
            }
            String header = plain(lines.get(4));
            assertTrue(header.startsWith("SOURCE"), header);
            assertEquals(width >= 168 || width >= 141 && width <= 156, header.contains("LAST MIN"), width + ": " + header);
            assertEquals(width >= 157, header.contains("p/s 10s"), width + ": " + header);
            assertEquals(width >= 130, header.contains("IFACE"), width + ": " + header);
        }
        List<String> wide = TopScreen.render(s, new TopScreen.View(Query.defaults(), "from x", null, null), 200, 20);
        String first = plain(wide.get(5));
        assertTrue(first.startsWith("fd12:3456:789a:bcde:f012:3456:789a:bcde fd00::1"), first);
        assertTrue(first.contains(" 1.50Mb ") && first.contains(" 120 ") && first.contains(" 5.00MB "), first);
        assertTrue(plain(wide.get(1)).startsWith("IN   2s  1.00Mb/s  10s  2.00Mb/s  40s  3.00Mb/s"), plain(wide.get(1)));
        assertTrue(plain(wide.get(6)).startsWith("other"), "other is a row like any other");
    }

    @Test
    void sparklineCoversTheLastMinuteNewestRight() {
        float[] ramp = new float[60];
        for (int i = 0; i < 60; i++) {
            ramp[i] = i;
        }
        String r = TopScreen.sparkline(ramp, 20); // 3 s a character: means 1, 4, 7, ... 58 of a peak of 58
        assertEquals(20, r.length());
        assertEquals('▁', r.charAt(0));
        assertEquals('█', r.charAt(19));
        for (int i = 1; i < 20; i++) {
            assertTrue(TopScreen.SPARKS.indexOf(r.charAt(i)) >= TopScreen.SPARKS.indexOf(r.charAt(i - 1)), r);
        }
        // 24 s of history: the first 36 s of the minute are blank (12 of 20 characters).
        assertEquals("            ▁▁▁████▁", TopScreen.sparkline(sixty(0, 9, 9, 12, 0, 3), 20));
        assertEquals("   ", TopScreen.sparkline(new float[0], 3));
        assertEquals("  ▁", TopScreen.sparkline(new float[] {0}, 3));
        assertEquals("▁▁█", TopScreen.sparkline(sixty(0, 40, 5, 20), 3));
    }

    /** Runs of values: value, count, value, count, ... */
    static float[] sixty(float... runs) {
        int n = 0;
        for (int i = 1; i < runs.length; i += 2) {
            n += (int) runs[i];
        }
        float[] h = new float[n];
        int at = 0;
        for (int i = 0; i < runs.length; i += 2) {
            java.util.Arrays.fill(h, at, at + (int) runs[i + 1], runs[i]);
            at += (int) runs[i + 1];
        }
        return h;
    }

    @Test
    void keysSortFilterAndQuit() {
        Top.Keys k = new Top.Keys(Query.defaults());
        k.ifaces = List.of("eth0", "wg0");
        assertTrue(k.key('1'));
        assertEquals(Query.Sort.BITS_2S, k.query.sort());
        k.key('p');
        assertEquals(Query.Sort.PACKETS_2S, k.query.sort());
        k.key('3');
        assertEquals(Query.Sort.PACKETS_40S, k.query.sort(), "the digit keeps the unit");
        k.key('b');
        assertEquals(Query.Sort.BYTES, k.query.sort());
        k.key('r');
        assertTrue(k.query.ascending());
        k.key('d');
        assertEquals("inbound", k.query.direction());
        k.key('d');
        assertEquals("outbound", k.query.direction());
        k.key('d');
        assertNull(k.query.direction());
        k.key('t');
        assertEquals("private", k.query.ipType());
        k.key('i');
        k.key('i');
        assertEquals("wg0", k.query.iface());
        k.key('/');
        assertEquals("", k.editing);
        for (char c : "10.0.X".toCharArray()) {
            k.key(c);
        }
        k.key(127);
        assertEquals("10.0.", k.editing);
        assertTrue(k.key('q'), "q is text while typing a filter");
        k.key(127);
        k.key('\r');
        assertNull(k.editing);
        assertEquals("10.0.", k.query.ip());
        k.key('/');
        k.key('9');
        k.key(27);
        assertEquals("10.0.", k.query.ip(), "Esc cancels");
        k.key('c');
        assertEquals(new Query(Query.DEFAULT_N, Query.Sort.BYTES, true, null, null, null, null), k.query);
        assertFalse(k.key('q'));
        assertFalse(new Top.Keys(Query.defaults()).key(3), "Ctrl-C as a byte quits too");
    }

    @Test
    void vCyclesTheViewsAndEachViewKeepsItsOwnFilter() {
        Top.Keys k = new Top.Keys(Query.defaults());
        assertEquals(Top.TopView.PAIRS, k.view);
        assertTrue(k.key('v'));
        assertEquals(Top.TopView.WORKLOADS, k.view);
        k.key('/');
        for (char c : "NGINX".toCharArray()) {
            k.key(c);
        }
        k.key('\r');
        assertEquals("nginx", k.workloadFilter, "/ filters by workload in the Workloads view");
        assertNull(k.query.ip(), "the pairs' IP filter is untouched");
        k.key('d');
        k.key('2');
        assertEquals(new dev.ebpftraffic.live.WorkloadQuery(7, Query.Sort.BITS_10S, false, "inbound", null, "nginx",
                Top.Keys.PEERS), k.workloadQuery(7), "sort, order, direction and ip_type are shared");
        k.ifaces = List.of("eth0");
        k.key('i');
        assertNull(k.query.iface(), "no interface in the Workloads view");
        k.key('c');
        assertNull(k.workloadFilter);
        k.key('v');
        assertEquals(Top.TopView.values()[(Top.TopView.WORKLOADS.ordinal() + 1) % Top.TopView.values().length], k.view,
                "v goes on around the cycle");
        for (int i = 0; i < Top.TopView.values().length && k.view != Top.TopView.PAIRS; i++) {
            k.key('v');
        }
        assertEquals(Top.TopView.PAIRS, k.view, "and comes back to the pairs");
        assertTrue(TopScreen.help(new TopScreen.View(Query.defaults(), "x", null, null)).contains("v view"));
    }

    @Test
    void workloadsViewLinesFitAndShowThePeers() {
        Snapshot.Rates r = new Snapshot.Rates(new double[] {1e6, 2e6, 3e6}, new double[] {10, 20, 30});
        Snapshot.Rates pr = new Snapshot.Rates(new double[] {5e5, 4e5, 3e5}, new double[] {1, 2, 3});
        List<dev.ebpftraffic.live.WorkloadSnapshot.Row> rows = List.of(
                new dev.ebpftraffic.live.WorkloadSnapshot.Row("nginx.service", "systemd", "inbound", "public", false, r,
                        5_000_000, 4000, new float[] {1, 2, 3},
                        List.of(new dev.ebpftraffic.live.WorkloadSnapshot.Peer("203.0.113.7", pr, 100, 1),
                                new dev.ebpftraffic.live.WorkloadSnapshot.Peer("2001:db8::1", pr, 90, 1)),
                        new dev.ebpftraffic.live.WorkloadSnapshot.Peer("other", pr, 10, 1)),
                new dev.ebpftraffic.live.WorkloadSnapshot.Row("4f3a9c2e-0000-4000-8000-4f3a9c2e0000/4f3a9c2e8b1d", "kubernetes",
                        "outbound", "private", false, r, 42, 1, new float[0], List.of(), null));
        dev.ebpftraffic.live.WorkloadSnapshot s = new dev.ebpftraffic.live.WorkloadSnapshot(0, 12, true,
                dev.ebpftraffic.live.WorkloadQuery.defaults(), 2, rows,
                List.of(new Snapshot.Total("inbound", r, 1234, 5), new Snapshot.Total("outbound", r, 0, 0)),
                List.of(new Snapshot.Total("inbound", r, 0, 0), new Snapshot.Total("outbound", r, 0, 0)));
        for (int width : new int[] {220, 160, 120, 80, 40}) {
            TopScreen.View v = new TopScreen.View(Query.defaults(), "from x", null, null, "workloads", "ngi");
            List<String> lines = TopWorkloads.render(s, v, width, 20);
            assertEquals(20, lines.size());
            for (String l : lines) {
                assertTrue(plain(l).length() <= width, width + ": " + plain(l));
            }
            assertTrue(plain(lines.get(0)).contains("workloads"), plain(lines.get(0)));
            assertTrue(plain(lines.get(4)).startsWith("WORKLOAD"), plain(lines.get(4)));
            assertTrue(plain(lines.get(5)).startsWith(width >= 120 ? "nginx.service " : "nginx.s"), plain(lines.get(5)));
        }
        List<String> wide = TopWorkloads.render(s, new TopScreen.View(Query.defaults(), "from x", null, null, "workloads",
                "ngi"), 220, 20);
        String nginx = plain(wide.get(5));
        assertTrue(nginx.contains(" systemd ") && nginx.contains(" in ") && nginx.contains(" pub ") && nginx.contains(" 5.00MB "),
                nginx);
        assertTrue(nginx.endsWith("203.0.113.7 400kb, 2001:db8::1 400kb, +other 400kb"), nginx);
        assertTrue(plain(wide.get(6)).startsWith("4f3a9c2e-0000-4000-8000-4f3a9c2e0000/4f3a9c2e8b1d kubernetes out priv"),
                plain(wide.get(6)));
        assertTrue(plain(wide.get(6)).endsWith(" -"), "no peers: " + plain(wide.get(6)));
        assertTrue(plain(wide.get(3)).contains("workload ~ ngi"), plain(wide.get(3)));
        assertTrue(plain(wide.get(4)).contains("TOP PEERS"));
        assertTrue(plain(wide.getLast()).contains("v view") && plain(wide.getLast()).contains("/ workload filter"));
    }
}
