package dev.ebpftraffic.live;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.workload.WorkloadAggregator.Key;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The Workloads view's rings: exact rates per series and peer, the peer bound, quiet peers forgotten. */
class WorkloadTrackerTest {
    static final long S = 1_000_000_000L;
    static final Key NGINX_IN = new Key("nginx.service", "systemd", Direction.INBOUND, "public");

    static void refresh(WorkloadTracker t, long now, Runnable deltas) {
        t.begin(now);
        deltas.run();
        t.end(now);
    }

    @Test
    void ratesOfASeriesAndItsPeersOverTheWindows() {
        WorkloadTracker t = new WorkloadTracker(0);
        refresh(t, 0, () -> t.delta(NGINX_IN, 999, 999_999)); // baseline: ignored
        for (int s = 1; s <= 12; s++) {
            refresh(t, s * S, () -> {
                t.delta(NGINX_IN, 30, 3_000);
                t.peer(NGINX_IN, IpAddress.parse("203.0.113.7"), 20, 2_000);
                t.peer(NGINX_IN, IpAddress.parse("2001:db8::1"), 10, 1_000);
            });
        }
        assertEquals(12, t.coveredSeconds());
        RateTracker.Rates r = t.rates(NGINX_IN);
        assertArrayEquals(new double[] {24_000, 24_000, 24_000}, r.bitsPerSecond());
        assertArrayEquals(new double[] {30, 30, 30}, r.packetsPerSecond());
        List<String> peers = new ArrayList<>();
        t.forEachPeer(NGINX_IN, (ip, p) -> peers.add(ip + " " + p.packets() + "/" + p.bytes() + " " + p.rates().bitsPerSecond()[0]));
        peers.sort(null);
        assertEquals(List.of("2001:db8::1 120/12000 8000.0", "203.0.113.7 240/24000 16000.0"), peers);
    }

    @Test
    void peersBeyondTheBoundGoToOtherPeersAndQuietOnesAreForgotten() {
        WorkloadTracker t = new WorkloadTracker(0, 3);
        refresh(t, 0, () -> { });
        refresh(t, S, () -> {
            for (int i = 1; i <= 5; i++) {
                t.peer(NGINX_IN, IpAddress.parse("198.51.100." + i), 1, 100 * i);
            }
        });
        assertEquals(3, t.peerRings());
        WorkloadSnapshot.Peer other = t.otherPeers(NGINX_IN);
        assertEquals(2, other.packets(), "two peers beyond the bound, counted in other peers");
        List<Long> listed = new ArrayList<>();
        t.forEachPeer(NGINX_IN, (ip, p) -> listed.add(p.bytes()));
        assertEquals(1_500, listed.stream().mapToLong(Long::longValue).sum() + other.bytes(), "every byte is somewhere");
        // A minute without traffic: forgotten, and room again.
        refresh(t, 62 * S, () -> t.peer(NGINX_IN, IpAddress.parse("192.0.2.1"), 1, 10));
        assertEquals(1, t.peerRings());
        assertNull(t.otherPeers(NGINX_IN));
        t.peersFull(Direction.OUTBOUND, "private", 3, 300);
        assertArrayEquals(new long[] {3, 300}, t.peersFull(Direction.OUTBOUND));
        t.reset();
        assertEquals(0, t.peerRings());
        assertArrayEquals(new long[] {0, 0}, t.peersFull(Direction.OUTBOUND));
    }
}
