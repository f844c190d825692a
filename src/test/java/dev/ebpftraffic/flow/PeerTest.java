package dev.ebpftraffic.flow;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the live view shows for an end, and which ends belong to the cluster. */
class PeerTest {
    @Test
    void anAggregatedEndShowsItsWorkload() {
        assertEquals("shop/web", Peer.shown("", new Peer("shop", "web", "deployment")));
        assertEquals("node-a", Peer.shown("", new Peer("", "node-a", "node")));
        assertEquals("10.244.0.5", Peer.shown("10.244.0.5", new Peer("shop", "web", "deployment")), "labels mode keeps the IP");
        assertEquals("192.0.2.1", Peer.shown("192.0.2.1", null), "without --kubernetes");
        assertTrue(new Peer("shop", "web", "deployment").inCluster());
        assertFalse(Peer.EXTERNAL.inCluster());
        assertFalse(Peer.UNKNOWN.inCluster());
        assertFalse(new Peer("", "", "external").inCluster());
    }
}
