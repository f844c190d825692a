package dev.ebpftraffic.kubernetes;

import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.Peer;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * What the cluster's addresses are: pod IPs (their namespace, pod and owning workload), service
 * cluster IPs and node IPs, from small records (not the API objects) that the informers hand in.
 * Owners are resolved when asked, so a pod whose ReplicaSet arrives after it still resolves to the
 * Deployment. Every change that can change an answer bumps {@link #version()}, which makes the
 * aggregator ask again. Thread-safe: informer threads write, the refresh thread reads.
 */
public final class ClusterNames {
    /** What the informers read, by kind (for the cached-objects metric and the sync state). */
    public enum Kind {
        POD, SERVICE, NODE, REPLICASET, JOB;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The fields of a pod that naming needs.
     *
     * @param ips         status.podIPs (status.podIP when that is empty)
     * @param ownerKind   the controller owner reference's kind, null for a bare pod
     * @param active      neither Succeeded nor Failed, and not being deleted: it holds its IP
     * @param created     metadata.creationTimestamp (RFC 3339, so text order is time order)
     */
    public record Pod(String uid, String namespace, String name, List<IpAddress> ips, String ownerKind,
                      String ownerName, boolean hostNetwork, String nodeName, boolean active, String created) {
        public Pod {
            ips = List.copyOf(ips);
            created = created == null ? "" : created;
        }
    }

    /** A pod by its UID, for the workloads family: namespace, pod name and owning workload. */
    public record PodName(String namespace, String pod, Peer workload) {
    }

    private final Map<String, Pod> pods = new HashMap<>(); // namespace/name
    private final Map<IpAddress, List<Pod>> podsByIp = new HashMap<>();
    private final Map<IpAddress, List<Pod>> hostNetworkByIp = new HashMap<>(); // when the node is not (yet) known
    private final Map<String, Pod> podsByUid = new HashMap<>();
    private final Map<String, List<IpAddress>> services = new HashMap<>(); // namespace/name
    private final Map<IpAddress, Peer> serviceByIp = new HashMap<>();
    private final Map<String, List<IpAddress>> nodes = new HashMap<>();
    private final Map<IpAddress, Peer> nodeByIp = new HashMap<>();
    private final Map<String, String> deploymentOf = new HashMap<>(); // replica set namespace/name -> deployment
    private final Map<String, String> cronJobOf = new HashMap<>(); // job namespace/name -> cron job
    private final Map<String, String> strings = new HashMap<>(); // namespaces, kinds, node names: shared
    private final EnumMap<Kind, Boolean> synced = new EnumMap<>(Kind.class);
    private volatile long version;

    public ClusterNames() {
        for (Kind k : Kind.values()) {
            synced.put(k, false);
        }
    }

    /** Changes whenever an answer of {@link #peer} or {@link #pod} may have changed. */
    public long version() {
        return version;
    }

    // ---- what the informers hand in ------------------------------------------------------------

    public synchronized void putPod(Pod p) {
        p = new Pod(p.uid(), intern(p.namespace()), p.name(), p.ips(), intern(p.ownerKind()), p.ownerName(),
                p.hostNetwork(), intern(p.nodeName()), p.active(), p.created());
        String key = p.namespace() + "/" + p.name();
        Pod old = pods.put(key, p);
        if (p.equals(old)) {
            return;
        }
        if (old != null) {
            unindex(old);
        }
        index(p);
        version++;
    }

    public synchronized void removePod(String namespace, String name) {
        Pod old = pods.remove(namespace + "/" + name);
        if (old != null) {
            unindex(old);
            version++;
        }
    }

    private void index(Pod p) {
        // A host-network pod's IP is its node's: the node names it.
        Map<IpAddress, List<Pod>> byIp = p.hostNetwork() ? hostNetworkByIp : podsByIp;
        for (IpAddress ip : p.ips()) {
            byIp.computeIfAbsent(ip, x -> new ArrayList<>(1)).add(p);
        }
        if (p.uid() != null) {
            podsByUid.put(p.uid(), p);
        }
    }

    private void unindex(Pod p) {
        Map<IpAddress, List<Pod>> byIp = p.hostNetwork() ? hostNetworkByIp : podsByIp;
        for (IpAddress ip : p.ips()) {
            List<Pod> l = byIp.get(ip);
            if (l != null && l.remove(p) && l.isEmpty()) {
                byIp.remove(ip);
            }
        }
        if (p.uid() != null) {
            podsByUid.remove(p.uid(), p);
        }
    }

    public synchronized void putService(String namespace, String name, List<IpAddress> clusterIps) {
        String key = namespace + "/" + name;
        List<IpAddress> old = services.put(key, List.copyOf(clusterIps));
        if (clusterIps.equals(old)) {
            return;
        }
        if (old != null) {
            old.forEach(serviceByIp::remove);
        }
        Peer peer = new Peer(intern(namespace), name, "service");
        clusterIps.forEach(ip -> serviceByIp.put(ip, peer));
        version++;
    }

    public synchronized void removeService(String namespace, String name) {
        List<IpAddress> old = services.remove(namespace + "/" + name);
        if (old != null) {
            old.forEach(serviceByIp::remove);
            version++;
        }
    }

    public synchronized void putNode(String name, List<IpAddress> addresses) {
        List<IpAddress> old = nodes.put(name, List.copyOf(addresses));
        if (addresses.equals(old)) {
            return;
        }
        if (old != null) {
            old.forEach(nodeByIp::remove);
        }
        Peer peer = new Peer("", intern(name), "node");
        addresses.forEach(ip -> nodeByIp.put(ip, peer));
        version++;
    }

    public synchronized void removeNode(String name) {
        List<IpAddress> old = nodes.remove(name);
        if (old != null) {
            old.forEach(nodeByIp::remove);
            version++;
        }
    }

    /** A ReplicaSet and the Deployment that owns it (null: none). */
    public synchronized void putReplicaSet(String namespace, String name, String deployment) {
        putOwner(deploymentOf, namespace + "/" + name, deployment);
    }

    public synchronized void removeReplicaSet(String namespace, String name) {
        putOwner(deploymentOf, namespace + "/" + name, null);
    }

    /** A Job and the CronJob that owns it (null: none). */
    public synchronized void putJob(String namespace, String name, String cronJob) {
        putOwner(cronJobOf, namespace + "/" + name, cronJob);
    }

    public synchronized void removeJob(String namespace, String name) {
        putOwner(cronJobOf, namespace + "/" + name, null);
    }

    private void putOwner(Map<String, String> owners, String key, String owner) {
        String old = owner == null ? owners.remove(key) : owners.put(key, owner);
        if (!Objects.equals(old, owner)) {
            version++;
        }
    }

    /** The informer of this kind has listed everything once. */
    public synchronized void synced(Kind kind) {
        if (!synced.put(kind, true)) {
            version++; // "unknown" answers become "external"
        }
    }

    /** Every informer has listed once: an address the cache does not have is outside the cluster. */
    public synchronized boolean synced() {
        return !synced.containsValue(false);
    }

    /** Objects held, by kind. */
    public synchronized Map<Kind, Integer> sizes() {
        Map<Kind, Integer> m = new EnumMap<>(Kind.class);
        m.put(Kind.POD, pods.size());
        m.put(Kind.SERVICE, services.size());
        m.put(Kind.NODE, nodes.size());
        m.put(Kind.REPLICASET, deploymentOf.size());
        m.put(Kind.JOB, cronJobOf.size());
        return m;
    }

    // ---- what the aggregator asks --------------------------------------------------------------

    /**
     * What ip is: a pod's workload, a service, a node (host-network pods included), else external,
     * or unknown while the informers have not listed everything once. When two pods hold the same
     * IP (the old one terminated but not yet deleted), the one still active wins, then the newer.
     */
    public synchronized Peer peer(IpAddress ip) {
        List<Pod> candidates = podsByIp.get(ip);
        if (candidates != null) {
            Pod best = null;
            for (Pod p : candidates) {
                if (best == null || p.active() && !best.active()
                        || p.active() == best.active() && p.created().compareTo(best.created()) > 0) {
                    best = p;
                }
            }
            return workload(best);
        }
        Peer s = serviceByIp.get(ip);
        if (s != null) {
            return s;
        }
        Peer n = nodeByIp.get(ip);
        if (n != null) {
            return n;
        }
        List<Pod> host = hostNetworkByIp.get(ip);
        if (host != null && host.getFirst().nodeName() != null) {
            return new Peer("", host.getFirst().nodeName(), "node");
        }
        return synced.containsValue(false) ? Peer.UNKNOWN : Peer.EXTERNAL;
    }

    /** A pod by UID (from the cgroup path), or null. */
    public synchronized PodName pod(String uid) {
        Pod p = podsByUid.get(uid);
        return p == null ? null : new PodName(p.namespace(), p.name(), workload(p));
    }

    /** The owning workload: ReplicaSet -> Deployment, Job -> CronJob, else the owner or the pod itself. */
    private Peer workload(Pod p) {
        if (p.ownerKind() == null) {
            return new Peer(p.namespace(), p.name(), "pod");
        }
        String key = p.namespace() + "/" + p.ownerName();
        switch (p.ownerKind()) {
            case "ReplicaSet" -> {
                String d = deploymentOf.get(key);
                return d != null ? new Peer(p.namespace(), d, "deployment") : new Peer(p.namespace(), p.ownerName(), "replicaset");
            }
            case "Job" -> {
                String c = cronJobOf.get(key);
                return c != null ? new Peer(p.namespace(), c, "cronjob") : new Peer(p.namespace(), p.ownerName(), "job");
            }
            default -> {
                return new Peer(p.namespace(), p.ownerName(), p.ownerKind().toLowerCase(Locale.ROOT));
            }
        }
    }

    private String intern(String s) {
        if (s == null) {
            return null;
        }
        String x = strings.putIfAbsent(s, s);
        return x == null ? s : x;
    }
}
