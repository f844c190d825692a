package dev.ebpftraffic.workload;

import java.util.Locale;

/**
 * What a cgroup is, by its path: a systemd unit, a user session, a container, a Kubernetes pod or
 * container, the host (the root cgroup), or, when none of these, the path itself ({@link Kind#OTHER}).
 * {@link WorkloadNames#of} makes one from a path.
 *
 * @param kind        what sort of workload
 * @param name        its short name: the unit, the 12-hex short container id, "&lt;pod uid&gt;[/&lt;short id&gt;]",
 *                    "host", or for OTHER the path
 * @param path        the cgroup path it was made from, as given
 * @param runtime     container runtime (docker, containerd, crio, podman) when the path says; else null
 * @param containerId full container id (64 hex) for containers and their monitors; else null
 * @param podUid      Kubernetes pod UID, dashes restored; else null
 * @param qos         Kubernetes QoS class (guaranteed, burstable, besteffort); else null
 * @param uid         the user of a user session or user service; else null
 */
public record Workload(Kind kind, String name, String path, String runtime, String containerId, String podUid,
                       String qos, Long uid) {

    public enum Kind {
        /** The root cgroup: kernel threads and whatever runs outside any group. */
        HOST,
        /** A system unit: a service, a scope such as init.scope, or a slice. */
        SYSTEMD,
        /** A login session of a user (session-N.scope). */
        USER_SESSION,
        /** A user's service manager (user@UID.service) or a unit it runs. */
        USER_SERVICE,
        /** A container outside Kubernetes (docker, containerd, CRI-O, podman). */
        CONTAINER,
        /** A container runtime's monitor process (conmon) for one container. */
        CONTAINER_MONITOR,
        /** A Kubernetes pod, or one of its containers (containerId set). */
        KUBERNETES,
        /** None of the above: named by its path. */
        OTHER;

        /** Lower case, for labels and JSON. */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
