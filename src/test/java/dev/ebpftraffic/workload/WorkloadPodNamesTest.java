package dev.ebpftraffic.workload;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.WorkloadKey;
import dev.ebpftraffic.kubernetes.ClusterNames;
import dev.ebpftraffic.testing.IncreaseOracle;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * --kubernetes and the per-workload family: a pod's container (named by its cgroup path as
 * "pod uid/short id") is named after the pod's namespace and owning workload once the names cache
 * knows the pod; deltas before that keep the UID name, and every byte is counted once.
 */
class WorkloadPodNamesTest {
    static final String UID = "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6";
    static final String PATH = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID.replace('-', '_')
            + ".slice/cri-containerd-" + "ab".repeat(32) + ".scope";

    @Test
    void aPodsContainerTakesItsWorkloadsNameFromTheCache() {
        ClusterNames names = new ClusterNames();
        WorkloadAggregator w = new WorkloadAggregator(0, Long.MAX_VALUE / 2, id -> id == 7 ? Optional.of(PATH) : Optional.empty());
        w.podNames(uid -> {
            ClusterNames.PodName p = names.pod(uid);
            return p == null ? null : new String[] {p.namespace() + "/" + p.workload().workload(), p.workload().kind()};
        });
        IncreaseOracle all = new IncreaseOracle();
        Map<String, IncreaseOracle> per = new HashMap<>();
        long[] now = {1};
        Runnable scrape = () -> {
            Map<String, Long> values = new HashMap<>();
            Map<String, Map<String, Long>> by = new HashMap<>();
            w.scrape((k, p, b) -> {
                values.put(k.toString(), b);
                by.computeIfAbsent(k.workload() + " " + k.kind(), x -> new HashMap<>()).put(k.toString(), b);
            });
            all.scrape(values);
            by.forEach((name, v) -> per.computeIfAbsent(name, x -> new IncreaseOracle()).scrape(v));
            per.forEach((name, o) -> {
                if (!by.containsKey(name)) {
                    o.scrape(Map.of());
                }
            });
        };
        WorkloadKey key = new WorkloadKey(7, Direction.OUTBOUND, true);
        w.add(key, 1, 100, now[0]++);
        scrape.run();
        w.add(key, 2, 200, now[0]++);
        scrape.run();
        // The cache learns of the pod (a Deployment's, through its ReplicaSet): the next deltas are the workload's.
        names.putReplicaSet("shop", "web-7d9f", "web");
        names.putPod(new ClusterNames.Pod(UID, "shop", "web-7d9f-x", List.of(IpAddress.parse("10.244.0.5")), "ReplicaSet",
                "web-7d9f", false, "node-a", true, "2026-12-01T00:00:00Z"));
        w.add(key, 4, 400, now[0]++);
        scrape.run();
        w.add(key, 8, 800, now[0]++);
        scrape.run();
        scrape.run();
        assertEquals(1500, all.increase());
        assertEquals(300, per.get(UID + "/" + "ab".repeat(6) + " kubernetes").increase(), per.keySet().toString());
        assertEquals(1200, per.get("shop/web deployment").increase(), per.keySet().toString());
    }
}
