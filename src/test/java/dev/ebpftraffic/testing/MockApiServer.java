package dev.ebpftraffic.testing;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.UUID;

/**
 * fabric8's mock API server in CRUD mode (real HTTP list and watch over an in-memory store) on
 * loopback, with builders for the objects the exporter reads. The store (the dispatcher) can
 * outlive a server: {@link #restart} stops serving (every watch breaks) and serves the same
 * objects again on the same port.
 */
public final class MockApiServer implements AutoCloseable {
    private final KubernetesCrudDispatcher store;
    private KubernetesMockServer server;
    private NamespacedKubernetesClient client;
    private final int port;

    public MockApiServer() {
        this(new KubernetesCrudDispatcher(), 0);
    }

    private MockApiServer(KubernetesCrudDispatcher store, int port) {
        this.store = store;
        this.server = serve(store, port);
        this.port = server.getPort();
        this.client = server.createClient();
    }

    /** A server on a port nothing listens on yet: {@link #startOn} starts one there. */
    public static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public static MockApiServer startOn(int port) {
        return new MockApiServer(new KubernetesCrudDispatcher(), port);
    }

    private static KubernetesMockServer serve(KubernetesCrudDispatcher store, int port) {
        KubernetesMockServer s = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), store, false);
        s.init(InetAddress.getLoopbackAddress(), port);
        return s;
    }

    /** What the exporter's client is given: this server, plain HTTP, no credentials. */
    public Config config() {
        Config c = new io.fabric8.kubernetes.client.ConfigBuilder(client.getConfiguration()).build();
        return c;
    }

    public NamespacedKubernetesClient client() {
        return client;
    }

    /** Stops serving: every list and watch fails until {@link #resume}. */
    public void pause() {
        client.close();
        server.destroy();
    }

    /**
     * While paused: changes the store through a second server on another port, so the exporter's
     * informers (which know only the first port) miss them as watch events.
     */
    public void whilePaused(java.util.function.Consumer<MockApiServer> change) {
        MockApiServer side = new MockApiServer(store, 0);
        try {
            change.accept(side);
        } finally {
            side.close();
        }
    }

    /** Serves the same store again on the same port. */
    public void resume() {
        server = serve(store, port);
        client = server.createClient();
    }

    public int port() {
        return port;
    }

    // ---- objects ----------------------------------------------------------------------------------

    public static Pod pod(String ns, String name, String ip, String ownerKind, String ownerName) {
        PodBuilder b = new PodBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withUid(UUID.randomUUID().toString()).withCreationTimestamp(java.time.Instant.now().toString()).endMetadata()
                .withNewSpec().withNodeName("node-a").addNewContainer().withName("c").withImage("x").endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).addNewPodIP().withIp(ip).endPodIP().endStatus();
        if (ownerKind != null) {
            b.editMetadata().addNewOwnerReference().withApiVersion("v1").withKind(ownerKind).withName(ownerName)
                    .withUid(UUID.randomUUID().toString()).withController(true).endOwnerReference().endMetadata();
        }
        return b.build();
    }

    public static ReplicaSet replicaSet(String ns, String name, String deployment) {
        ReplicaSetBuilder b = new ReplicaSetBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata();
        if (deployment != null) {
            b.editMetadata().addNewOwnerReference().withApiVersion("apps/v1").withKind("Deployment").withName(deployment)
                    .withUid(UUID.randomUUID().toString()).withController(true).endOwnerReference().endMetadata();
        }
        return b.build();
    }

    public static Job job(String ns, String name, String cronJob) {
        JobBuilder b = new JobBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata();
        if (cronJob != null) {
            b.editMetadata().addNewOwnerReference().withApiVersion("batch/v1").withKind("CronJob").withName(cronJob)
                    .withUid(UUID.randomUUID().toString()).withController(true).endOwnerReference().endMetadata();
        }
        return b.build();
    }

    public static Service service(String ns, String name, String clusterIp) {
        return new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withNewSpec().withClusterIP(clusterIp).endSpec().build();
    }

    public static Node node(String name, String ip) {
        return new NodeBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewStatus().addNewAddress().withType("InternalIP").withAddress(ip).endAddress()
                .addNewAddress().withType("Hostname").withAddress(name).endAddress().endStatus().build();
    }

    /** Creates or replaces the object, status included (the store keeps what it is given). */
    public <T extends HasMetadata> T apply(T o) {
        T created = client.resource(o).createOr(io.fabric8.kubernetes.client.dsl.NonDeletingOperation::update);
        if (o instanceof Pod || o instanceof Node) { // status is a subresource: written on its own
            created = client.resource(o).updateStatus();
        }
        return created;
    }

    public <T extends HasMetadata> void delete(T o) {
        client.resource(o).withGracePeriod(0).delete();
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
