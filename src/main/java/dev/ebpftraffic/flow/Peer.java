package dev.ebpftraffic.flow;

/**
 * What an address is in a Kubernetes cluster: the src_/dst_ namespace, workload and kind labels
 * of a series (--kubernetes). Kinds: a pod's owning workload (deployment, statefulset, daemonset,
 * cronjob, job, replicaset, or another controller's kind in lower case), pod (no owner), service
 * (a cluster IP), node (a node IP, and host-network pods), external (an address the cluster does
 * not have) and unknown (the cache has not synced yet).
 */
public record Peer(String namespace, String workload, String kind) {
    public static final String EXTERNAL_KIND = "external";
    public static final String UNKNOWN_KIND = "unknown";
    public static final Peer EXTERNAL = new Peer("", "", EXTERNAL_KIND);
    public static final Peer UNKNOWN = new Peer("", "", UNKNOWN_KIND);

    /**
     * What the live view shows for an end: its address label, or, where --kubernetes aggregate left
     * that empty, "namespace/workload" (a node: its name).
     */
    public static String shown(String address, Peer peer) {
        if (!address.isEmpty() || peer == null) {
            return address;
        }
        return peer.namespace().isEmpty() ? peer.workload() : peer.namespace() + "/" + peer.workload();
    }

    /** Whether the address belongs to the cluster (a pod, service or node). */
    public boolean inCluster() {
        return this != EXTERNAL && this != UNKNOWN && !kind.equals(EXTERNAL_KIND) && !kind.equals(UNKNOWN_KIND);
    }
}
