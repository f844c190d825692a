package dev.ebpftraffic.flow;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class FlowTableTest {

    /** key -> {packets, bytes}, sorted for stable assertions. */
    private static Map<String, String> totals(FlowTable<String> t) {
        Map<String, String> m = new TreeMap<>();
        for (FlowTable.Entry<String> e : t.entries()) {
            m.put(e.key(), e.packets() + "/" + e.bytes());
        }
        return m;
    }

    @Test
    void emptyTable() {
        FlowTable<String> t = new FlowTable<>();
        assertEquals(0, t.size());
        assertEquals(0, t.lastReadCount());
        t.beginRead();
        t.endRead();
        assertEquals(0, t.size());
        assertEquals(0, t.lastReadCount());
    }

    @Test
    void totalsFollowReads() {
        FlowTable<String> t = new FlowTable<>();
        t.beginRead();
        t.observe("a", 1, 100);
        t.observe("b", 2, 200);
        t.endRead();
        assertEquals(Map.of("a", "1/100", "b", "2/200"), totals(t));
        assertEquals(2, t.lastReadCount());
        assertEquals(2, t.size());

        t.beginRead();
        t.observe("a", 5, 500);
        t.observe("b", 2, 200);
        t.observe("c", 1, 64);
        t.endRead();
        assertEquals(Map.of("a", "5/500", "b", "2/200", "c", "1/64"), totals(t));
        assertEquals(3, t.lastReadCount());
        assertEquals(3, t.size());
    }

    @Test
    void droppedKernelValueIsCountedAsNew() {
        FlowTable<String> t = new FlowTable<>();
        t.beginRead();
        t.observe("a", 10, 1000);
        t.endRead();
        t.beginRead();
        t.observe("a", 3, 300); // the kernel entry was deleted and recreated between the reads
        t.endRead();
        assertEquals(Map.of("a", "13/1300"), totals(t));
    }

    @Test
    void entryMissingFromReadRestartsFromZero() {
        FlowTable<String> t = new FlowTable<>();
        t.beginRead();
        t.observe("a", 10, 1000);
        t.observe("b", 1, 100);
        t.endRead();

        t.beginRead();
        t.observe("b", 2, 200); // "a" is gone from the kernel map
        t.endRead();
        assertEquals(Map.of("a", "10/1000", "b", "2/200"), totals(t)); // its series stays, unchanged
        assertEquals(1, t.lastReadCount());
        assertEquals(2, t.size());

        t.beginRead();
        t.observe("a", 15, 1500); // back, bigger than before: all 15 are new
        t.observe("b", 2, 200);
        t.endRead();
        assertEquals(Map.of("a", "25/2500", "b", "2/200"), totals(t));
        assertEquals(2, t.lastReadCount());

        t.beginRead();
        t.observe("a", 16, 1600); // still there: only the difference
        t.observe("b", 2, 200);
        t.endRead();
        assertEquals(Map.of("a", "26/2600", "b", "2/200"), totals(t));
    }

    @Test
    void entryPresentInEveryReadIsNotReset() {
        FlowTable<String> t = new FlowTable<>();
        for (int i = 1; i <= 5; i++) {
            t.beginRead();
            t.observe("a", 10L * i, 1000L * i);
            t.endRead();
        }
        assertEquals(Map.of("a", "50/5000"), totals(t));
    }

    @Test
    void lastReadCountIsPerRead() {
        FlowTable<String> t = new FlowTable<>();
        t.beginRead();
        t.observe("a", 1, 1);
        t.observe("b", 1, 1);
        t.observe("c", 1, 1);
        t.endRead();
        assertEquals(3, t.lastReadCount());
        t.beginRead();
        t.observe("c", 1, 1);
        t.endRead();
        assertEquals(1, t.lastReadCount());
        assertEquals(3, t.size());
        t.beginRead();
        t.endRead();
        assertEquals(0, t.lastReadCount());
        assertEquals(3, t.size());
    }

    /** A read that throws half-way never reaches endRead: nothing is reset, the last count stays. */
    @Test
    void failedReadChangesNothingButWhatItSaw() {
        FlowTable<String> t = new FlowTable<>();
        t.beginRead();
        t.observe("a", 1, 100);
        t.observe("b", 2, 200);
        t.endRead();
        assertEquals(2, t.lastReadCount());

        t.beginRead();
        t.observe("a", 3, 300); // then the reader throws
        assertEquals(2, t.lastReadCount()); // still the last complete read
        assertEquals(Map.of("a", "3/300", "b", "2/200"), totals(t));

        t.beginRead();
        t.observe("a", 3, 300);
        t.observe("b", 4, 400); // b was not marked gone by the failed read: only the difference counts
        t.endRead();
        assertEquals(2, t.lastReadCount());
        assertEquals(Map.of("a", "3/300", "b", "4/400"), totals(t));
    }
}
