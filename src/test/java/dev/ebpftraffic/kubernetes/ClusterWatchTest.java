package dev.ebpftraffic.kubernetes;

import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Peer;
import dev.ebpftraffic.testing.MockApiServer;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.Config;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The informers against fabric8's mock API server in CRUD mode: real HTTP lists and watches, on
 * loopback. Each test changes objects through the API and waits for the names cache to show it.
 */
class ClusterWatchTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    final List<AutoCloseable> open = new ArrayList<>();
    final List<String> warnings = Collections.synchronizedList(new ArrayList<>());

    @AfterEach
    void closeAll() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    MockApiServer server() {
        MockApiServer s = new MockApiServer();
        open.add(s);
        return s;
    }

    ClusterWatch watch(Config c, ClusterNames names) {
        ClusterWatch w = ClusterWatch.start(c, names, warnings::add);
        open.add(w);
        return w;
    }

    static IpAddress ip(String s) {
        return IpAddress.parse(s);
    }

    static <T> void await(Supplier<T> actual, T expected) {
        long end = System.nanoTime() + WAIT.toNanos();
        T last = actual.get();
        while (!java.util.Objects.equals(expected, last)) {
            if (System.nanoTime() > end) {
                assertEquals(expected, last, "not seen within " + WAIT.toSeconds() + " s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            last = actual.get();
        }
    }

    ClusterNames synced(MockApiServer s) {
        ClusterNames names = new ClusterNames();
        watch(s.config(), names);
        await(names::synced, true);
        return names;
    }

    @Test
    void podsCreatedUpdatedAndDeleted() {
        MockApiServer s = server();
        ClusterNames names = synced(s);
        assertEquals(Peer.EXTERNAL, names.peer(ip("10.244.1.5")), "synced: an address nobody has is external");

        Pod p = s.apply(MockApiServer.pod("shop", "cart-0", "10.244.1.5", null, null));
        await(() -> names.peer(ip("10.244.1.5")), new Peer("shop", "cart-0", "pod"));
        String uid = p.getMetadata().getUid();
        await(() -> names.pod(uid), new ClusterNames.PodName("shop", "cart-0", new Peer("shop", "cart-0", "pod")));

        // Updated: a new IP (the old one is free again) and an owner.
        long before = names.version();
        s.apply(new PodBuilder(MockApiServer.pod("shop", "cart-0", "10.244.1.9", "StatefulSet", "cart"))
                .editMetadata().withUid(uid).endMetadata().build());
        await(() -> names.peer(ip("10.244.1.9")), new Peer("shop", "cart", "statefulset"));
        assertEquals(Peer.EXTERNAL, names.peer(ip("10.244.1.5")));
        assertTrue(names.version() > before, "a change that renames an address bumps the version");

        s.delete(p);
        await(() -> names.peer(ip("10.244.1.9")), Peer.EXTERNAL);
        await(() -> names.pod(uid), null);
        assertEquals(0, names.sizes().get(ClusterNames.Kind.POD));
    }

    @Test
    void ownersResolveToTheirWorkloads() {
        MockApiServer s = server();
        s.apply(MockApiServer.replicaSet("shop", "web-7d9f", "web"));
        s.apply(MockApiServer.replicaSet("shop", "bare-rs", null));
        s.apply(MockApiServer.job("ops", "backup-2900", "backup"));
        s.apply(MockApiServer.job("ops", "migrate", null));
        s.apply(MockApiServer.pod("shop", "web-7d9f-abcde", "10.244.0.10", "ReplicaSet", "web-7d9f"));
        s.apply(MockApiServer.pod("shop", "bare-rs-x", "10.244.0.11", "ReplicaSet", "bare-rs"));
        s.apply(MockApiServer.pod("ops", "backup-2900-q", "10.244.0.12", "Job", "backup-2900"));
        s.apply(MockApiServer.pod("ops", "migrate-z", "10.244.0.13", "Job", "migrate"));
        s.apply(MockApiServer.pod("db", "pg-0", "10.244.0.14", "StatefulSet", "pg"));
        s.apply(MockApiServer.pod("kube-system", "proxy-x", "10.244.0.15", "DaemonSet", "proxy"));
        s.apply(MockApiServer.pod("shop", "lonely", "fd00::15", null, null));
        ClusterNames names = synced(s);
        await(() -> names.sizes().get(ClusterNames.Kind.POD), 7);
        assertEquals(new Peer("shop", "web", "deployment"), names.peer(ip("10.244.0.10")));
        assertEquals(new Peer("shop", "bare-rs", "replicaset"), names.peer(ip("10.244.0.11")));
        assertEquals(new Peer("ops", "backup", "cronjob"), names.peer(ip("10.244.0.12")));
        assertEquals(new Peer("ops", "migrate", "job"), names.peer(ip("10.244.0.13")));
        assertEquals(new Peer("db", "pg", "statefulset"), names.peer(ip("10.244.0.14")));
        assertEquals(new Peer("kube-system", "proxy", "daemonset"), names.peer(ip("10.244.0.15")));
        assertEquals(new Peer("shop", "lonely", "pod"), names.peer(ip("fd00::15")));

        // A ReplicaSet that arrives after its pod: the pod resolves to the Deployment from then on.
        s.apply(MockApiServer.pod("shop", "api-55c-x", "10.244.0.20", "ReplicaSet", "api-55c"));
        await(() -> names.peer(ip("10.244.0.20")), new Peer("shop", "api-55c", "replicaset"));
        s.apply(MockApiServer.replicaSet("shop", "api-55c", "api"));
        await(() -> names.peer(ip("10.244.0.20")), new Peer("shop", "api", "deployment"));
    }

    @Test
    void aReusedPodIpNamesTheNewPod() {
        MockApiServer s = server();
        ClusterNames names = synced(s);
        Pod old = s.apply(MockApiServer.pod("a", "old", "10.244.2.7", "StatefulSet", "first"));
        await(() -> names.peer(ip("10.244.2.7")), new Peer("a", "first", "statefulset"));
        // The old pod has finished but is not deleted yet; a new pod gets its IP.
        s.apply(new PodBuilder(old).editStatus().withPhase("Succeeded").endStatus().build());
        Pod fresh = s.apply(MockApiServer.pod("b", "new", "10.244.2.7", "DaemonSet", "second"));
        await(() -> names.peer(ip("10.244.2.7")), new Peer("b", "second", "daemonset"));
        // Deleting the old one leaves the new one's name; deleting the new one leaves nothing.
        s.delete(old);
        await(() -> names.sizes().get(ClusterNames.Kind.POD), 1);
        assertEquals(new Peer("b", "second", "daemonset"), names.peer(ip("10.244.2.7")));
        s.delete(fresh);
        await(() -> names.peer(ip("10.244.2.7")), Peer.EXTERNAL);
    }

    @Test
    void hostNetworkPodsAndNodesAndServices() {
        MockApiServer s = server();
        ClusterNames names = synced(s);
        // A host-network pod on a node the cache does not know (yet): named after its node.
        s.apply(new PodBuilder(MockApiServer.pod("kube-system", "agent-x", "192.168.50.3", "DaemonSet", "agent"))
                .editSpec().withHostNetwork(true).withNodeName("node-b").endSpec().build());
        await(() -> names.peer(ip("192.168.50.3")), new Peer("", "node-b", "node"));
        s.apply(MockApiServer.node("node-b", "192.168.50.3"));
        s.apply(MockApiServer.node("node-c", "192.168.50.4"));
        await(() -> names.peer(ip("192.168.50.4")), new Peer("", "node-c", "node"));
        assertEquals(new Peer("", "node-b", "node"), names.peer(ip("192.168.50.3")));

        s.apply(MockApiServer.service("shop", "web", "10.96.0.10"));
        s.apply(MockApiServer.service("shop", "headless", "None"));
        await(() -> names.peer(ip("10.96.0.10")), new Peer("shop", "web", "service"));
        await(() -> names.sizes().get(ClusterNames.Kind.SERVICE), 2);
        s.delete(MockApiServer.service("shop", "web", "10.96.0.10"));
        s.delete(MockApiServer.node("node-c", "192.168.50.4"));
        await(() -> names.peer(ip("10.96.0.10")), Peer.EXTERNAL);
        await(() -> names.peer(ip("192.168.50.4")), Peer.EXTERNAL);
    }

    @Test
    void aBrokenWatchResyncsWithoutAGap() {
        MockApiServer s = server();
        ClusterNames names = new ClusterNames();
        ClusterWatch w = watch(s.config(), names);
        await(names::synced, true);
        await(() -> w.watching().get(ClusterNames.Kind.POD), true);
        Pod gone = s.apply(MockApiServer.pod("a", "gone", "10.244.3.1", null, null));
        s.apply(MockApiServer.pod("a", "kept", "10.244.3.2", null, null));
        await(() -> names.sizes().get(ClusterNames.Kind.POD), 2);

        // The API server goes away: every watch breaks. What the cache knew stays (no gap).
        s.pause();
        await(() -> w.watching().get(ClusterNames.Kind.POD), false);
        assertEquals(new Peer("a", "gone", "pod"), names.peer(ip("10.244.3.1")), "names stay while the watch is down");
        assertEquals(new Peer("a", "kept", "pod"), names.peer(ip("10.244.3.2")));

        // Changes made while nobody watched (through another port): no watch event carries them to
        // the exporter. After the reconnect it sees them. (A real API server replays what a watch
        // missed from its resourceVersion, or answers 410 Gone and the client lists again and
        // deletes what is gone; the mock replays the objects that changed, but not deletions, so
        // the deletion is made after the reconnect here.)
        s.whilePaused(side -> {
            side.apply(MockApiServer.pod("a", "late", "10.244.3.3", null, null));
            side.apply(new PodBuilder(side.client().pods().inNamespace("a").withName("kept").get())
                    .editMetadata().addNewOwnerReference().withApiVersion("apps/v1").withKind("DaemonSet").withName("kd")
                    .withUid("u").withController(true).endOwnerReference().endMetadata().build());
        });
        assertEquals(Peer.EXTERNAL, names.peer(ip("10.244.3.3")));
        s.resume();
        await(() -> names.peer(ip("10.244.3.3")), new Peer("a", "late", "pod"));
        await(() -> names.peer(ip("10.244.3.2")), new Peer("a", "kd", "daemonset"));
        s.delete(gone);
        await(() -> names.peer(ip("10.244.3.1")), Peer.EXTERNAL);
        assertTrue(names.synced());
        await(() -> w.watching().get(ClusterNames.Kind.POD), true);
    }

    @Test
    void anApiServerDownAtStartUpIsRetriedAndNamesComeLater() throws Exception {
        int port = MockApiServer.freePort();
        Config c = new io.fabric8.kubernetes.client.ConfigBuilder().withMasterUrl("http://127.0.0.1:" + port)
                .withTrustCerts(true).withNamespace("default").build();
        ClusterNames names = new ClusterNames();
        ClusterWatch w = watch(c, names);
        long end = System.nanoTime() + WAIT.toNanos();
        // The count goes up just before the warning is logged, on the informer's thread: wait for both.
        while ((w.errors() == 0 || warnings.isEmpty()) && System.nanoTime() < end) {
            sleep(50);
        }
        assertTrue(w.errors() > 0, "a refused connection counts as an error");
        assertFalse(names.synced());
        assertEquals(Peer.UNKNOWN, names.peer(ip("10.244.9.9")), "not listed yet: unknown, not external");
        assertFalse(warnings.isEmpty());
        assertFalse(warnings.getFirst().contains("\n"), "one line: " + warnings.getFirst());

        MockApiServer s = MockApiServer.startOn(port);
        open.add(s);
        s.apply(MockApiServer.pod("x", "p", "10.244.9.9", null, null));
        await(names::synced, true);
        await(() -> names.peer(ip("10.244.9.9")), new Peer("x", "p", "pod"));
        assertEquals(Peer.EXTERNAL, names.peer(ip("10.244.9.10")));
        assertNull(names.pod("no-such-uid"));
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
