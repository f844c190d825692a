package dev.ebpftraffic.kubernetes;

import dev.ebpftraffic.flow.IpAddress;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.Informable;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.ReducedStateItemStore;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The informers (list, then watch; on a broken watch the client lists again and hands the
 * differences in as adds, updates and deletes) that feed {@link ClusterNames}. Their own stores
 * keep only the fields naming needs (ReducedStateItemStore), not whole objects. The only class
 * that touches the client library: nothing loads it unless --kubernetes is on.
 */
public final class ClusterWatch implements AutoCloseable {
    private final KubernetesClient client;
    private final java.util.Map<ClusterNames.Kind, SharedIndexInformer<?>> informers = new java.util.EnumMap<>(ClusterNames.Kind.class);
    private final AtomicLong errors = new AtomicLong();
    private final Consumer<String> warn;
    private volatile boolean closed;

    private ClusterWatch(KubernetesClient client, Consumer<String> warn) {
        this.client = client;
        this.warn = warn;
    }

    /** kubeconfig null: in-cluster (the pod's service account). Starts the informers and returns at once. */
    public static ClusterWatch start(String kubeconfig, ClusterNames names, Consumer<String> warn) {
        Config config;
        if (kubeconfig == null) {
            if (System.getenv("KUBERNETES_SERVICE_HOST") == null) {
                throw new IllegalStateException("--kubernetes: not in a pod (KUBERNETES_SERVICE_HOST is not set);"
                        + " outside a cluster use --kubernetes.kubeconfig PATH");
            }
            config = Config.autoConfigure(null);
        } else {
            try {
                config = Config.fromKubeconfig(new File(kubeconfig));
            } catch (RuntimeException e) {
                throw new IllegalStateException("--kubernetes.kubeconfig " + kubeconfig + ": " + oneLine(e));
            }
        }
        return start(config, names, warn);
    }

    /** With a given client configuration (tests: the mock API server's). */
    public static ClusterWatch start(Config config, ClusterNames names, Consumer<String> warn) {
        // A request is retried twice (0.25 s, 0.5 s) before the informer sees the failure (counted,
        // logged) and tries again itself, with backoff, for ever.
        config.setRequestRetryBackoffInterval(250);
        config.setRequestRetryBackoffLimit(2);
        config.setWatchReconnectInterval(1000);
        config.setWatchReconnectLimit(-1);
        KubernetesClient client = new KubernetesClientBuilder().withConfig(config)
                .withHttpClientFactory(new JdkHttpClientFactory()).build();
        ClusterWatch w = new ClusterWatch(client, warn);
        try {
            w.inform(client.pods().inAnyNamespace(), Pod.class, names, ClusterNames.Kind.POD,
                    p -> names.putPod(pod(p)), p -> names.removePod(p.getMetadata().getNamespace(), p.getMetadata().getName()),
                    "metadata.uid", "metadata.creationTimestamp", "metadata.deletionTimestamp", "metadata.ownerReferences",
                    "spec.hostNetwork", "spec.nodeName", "status.podIP", "status.podIPs", "status.phase");
            w.inform(client.services().inAnyNamespace(), Service.class, names, ClusterNames.Kind.SERVICE,
                    s -> names.putService(s.getMetadata().getNamespace(), s.getMetadata().getName(), clusterIps(s)),
                    s -> names.removeService(s.getMetadata().getNamespace(), s.getMetadata().getName()),
                    "spec.clusterIP", "spec.clusterIPs");
            w.inform(client.nodes(), Node.class, names, ClusterNames.Kind.NODE,
                    n -> names.putNode(n.getMetadata().getName(), nodeIps(n)),
                    n -> names.removeNode(n.getMetadata().getName()),
                    "status.addresses");
            w.inform(client.apps().replicaSets().inAnyNamespace(), ReplicaSet.class, names, ClusterNames.Kind.REPLICASET,
                    r -> names.putReplicaSet(r.getMetadata().getNamespace(), r.getMetadata().getName(), owner(r, "Deployment")),
                    r -> names.removeReplicaSet(r.getMetadata().getNamespace(), r.getMetadata().getName()),
                    "metadata.ownerReferences");
            w.inform(client.batch().v1().jobs().inAnyNamespace(), Job.class, names, ClusterNames.Kind.JOB,
                    j -> names.putJob(j.getMetadata().getNamespace(), j.getMetadata().getName(), owner(j, "CronJob")),
                    j -> names.removeJob(j.getMetadata().getNamespace(), j.getMetadata().getName()),
                    "metadata.ownerReferences");
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    private <T extends HasMetadata> void inform(Informable<T> source, Class<T> type, ClusterNames names,
                                                ClusterNames.Kind kind, Consumer<T> put, Consumer<T> remove,
                                                String... fields) {
        SharedIndexInformer<T> informer = source.runnableInformer(0);
        informer.itemStore(new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE, type,
                client.getKubernetesSerialization(), fields));
        informer.addEventHandler(new ResourceEventHandler<T>() {
            @Override
            public void onAdd(T obj) {
                put.accept(obj);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                put.accept(newObj);
            }

            @Override
            public void onDelete(T obj, boolean finalStateUnknown) {
                remove.accept(obj);
            }
        });
        // Retry every failure (API server down at start-up, a broken watch): the counting goes on
        // without names, and the names come when the server answers.
        String what = kind.label() + "s";
        informer.exceptionHandler((started, t) -> {
            if (!closed) {
                long n = errors.incrementAndGet();
                if (n == 1 || Long.bitCount(n) == 1) { // 1st, 2nd, 4th, 8th, ...: a down server does not flood the log
                    warn.accept("kubernetes: listing or watching " + what + " failed (" + n + " so far), retrying: " + oneLine(t));
                }
            }
            return true;
        });
        informers.put(kind, informer);
        informer.start().thenRun(() -> names.synced(kind));
    }

    /** Whether each informer's watch is open now (false while it reconnects). */
    public java.util.Map<ClusterNames.Kind, Boolean> watching() {
        java.util.Map<ClusterNames.Kind, Boolean> m = new java.util.EnumMap<>(ClusterNames.Kind.class);
        informers.forEach((k, i) -> m.put(k, i.isWatching()));
        return m;
    }

    /** Failed lists so far (a broken watch that reconnects shows in {@link #watching} instead). */
    public long errors() {
        return errors.get();
    }

    // ---- API objects -> the fields naming needs ----------------------------------------------------

    static ClusterNames.Pod pod(Pod p) {
        List<IpAddress> ips = new ArrayList<>(2);
        if (p.getStatus() != null) {
            if (p.getStatus().getPodIPs() != null) {
                for (PodIP ip : p.getStatus().getPodIPs()) {
                    addIp(ips, ip.getIp());
                }
            }
            if (ips.isEmpty()) {
                addIp(ips, p.getStatus().getPodIP());
            }
        }
        OwnerReference owner = controller(p);
        String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
        boolean active = p.getMetadata().getDeletionTimestamp() == null && !"Succeeded".equals(phase) && !"Failed".equals(phase);
        boolean hostNetwork = p.getSpec() != null && Boolean.TRUE.equals(p.getSpec().getHostNetwork());
        return new ClusterNames.Pod(p.getMetadata().getUid(), p.getMetadata().getNamespace(), p.getMetadata().getName(), ips,
                owner == null ? null : owner.getKind(), owner == null ? null : owner.getName(), hostNetwork,
                p.getSpec() == null ? null : p.getSpec().getNodeName(), active, p.getMetadata().getCreationTimestamp());
    }

    static List<IpAddress> clusterIps(Service s) {
        List<IpAddress> ips = new ArrayList<>(2);
        if (s.getSpec() != null) {
            if (s.getSpec().getClusterIPs() != null) {
                s.getSpec().getClusterIPs().forEach(ip -> addIp(ips, ip));
            }
            if (ips.isEmpty()) {
                addIp(ips, s.getSpec().getClusterIP()); // "None" for a headless service: skipped
            }
        }
        return ips;
    }

    static List<IpAddress> nodeIps(Node n) {
        List<IpAddress> ips = new ArrayList<>(2);
        if (n.getStatus() != null && n.getStatus().getAddresses() != null) {
            for (NodeAddress a : n.getStatus().getAddresses()) {
                if ("InternalIP".equals(a.getType()) || "ExternalIP".equals(a.getType())) {
                    addIp(ips, a.getAddress());
                }
            }
        }
        return ips;
    }

    /** The controller owner's name when it is of this kind, else null. */
    static String owner(HasMetadata o, String kind) {
        OwnerReference r = controller(o);
        return r != null && kind.equals(r.getKind()) ? r.getName() : null;
    }

    /** The owner reference with controller: true (else the first one), or null. */
    private static OwnerReference controller(HasMetadata o) {
        List<OwnerReference> refs = o.getMetadata().getOwnerReferences();
        if (refs == null || refs.isEmpty()) {
            return null;
        }
        for (OwnerReference r : refs) {
            if (Boolean.TRUE.equals(r.getController())) {
                return r;
            }
        }
        return refs.getFirst();
    }

    private static void addIp(List<IpAddress> ips, String text) {
        if (text == null || text.isEmpty() || text.equals("None")) {
            return;
        }
        try {
            IpAddress ip = IpAddress.parse(text);
            if (!ips.contains(ip)) {
                ips.add(ip);
            }
        } catch (IllegalArgumentException e) {
            // not an address (a headless service's "None" is handled above): nothing to name
        }
    }

    private static String oneLine(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        if (root != t && root.getMessage() != null && !m.contains(root.getMessage())) {
            m += ": " + root.getMessage();
        }
        return m.replace('\n', ' ');
    }

    @Override
    public void close() {
        closed = true;
        for (SharedIndexInformer<?> i : informers.values()) {
            try {
                i.stop();
            } catch (RuntimeException e) {
                // stopping: nothing to do
            }
        }
        client.close();
    }
}
